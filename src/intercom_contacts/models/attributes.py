"""`/contacts/attributes`: the workspace's custom contact attributes (`GET`, for the importer's dry run to
check a file's `custom_attributes.<name>` columns), and one created with the type it is asked for
(`POST`, for the importer's `--create-attributes`, which infers a column's type from its values)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from intercom_contacts.models.contact import ATTRIBUTE_NAME_PATTERN

DataType = Literal["string", "integer", "float", "boolean", "date"]


class WorkspaceAttribute(BaseModel):
    name: str
    data_type: str = Field(description="string, integer, float, boolean or date (Unix seconds)")
    api_writable: bool = Field(description="false: Intercom's API cannot write it")
    options: list[str] | None = Field(default=None, description="a list attribute's only values")


class AttributesResponse(BaseModel):
    attributes: list[WorkspaceAttribute]


class AttributeRequest(BaseModel):
    """A custom attribute to create unless the workspace has it with this type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(
        pattern=ATTRIBUTE_NAME_PATTERN.pattern,
        description="1-190 characters without '.' or '$' (Intercom refuses some more: "
        "ATTRIBUTE_NAME_INVALID)",
        examples=["renewal_date"],
    )
    data_type: DataType = Field(description="date: values are Unix seconds", examples=["date"])
