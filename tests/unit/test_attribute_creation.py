"""WorkspaceAttributes.ensure when Intercom answers that it has the name but does not list it."""

from __future__ import annotations

import pytest

from intercom_contacts.errors import AttributeNameInvalid
from intercom_contacts.intercom.data_attributes import DataAttribute, DataAttributesApi
from intercom_contacts.logic.custom_attributes import WorkspaceAttributes


class ArchivedNameApi(DataAttributesApi):
    """Intercom with an archived `tier`: not listed, and its creation answered as a duplicate."""

    def __init__(self) -> None:
        pass

    def custom_attributes(self, *, deadline: float) -> dict[str, DataAttribute]:
        return {}

    def create(self, name: str, data_type: str, *, deadline: float) -> DataAttribute | None:
        return None


def test_a_name_intercom_has_but_does_not_list_is_a_clear_error_not_a_crash() -> None:
    with pytest.raises(AttributeNameInvalid) as refused:
        WorkspaceAttributes(ArchivedNameApi()).ensure("tier", "string", deadline=1e12)
    [(field, problem)] = refused.value.fields
    assert field == "custom_attributes.tier"
    assert "Unarchive it in Intercom, or use another name" in problem
