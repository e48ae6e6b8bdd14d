"""Create a contact at most once per idempotency key, with Powertools' idempotency utility on DynamoDB.

The key is the caller's (`Idempotency-Key` header, `IdempotencyKey` attribute) or a hash of the
normalised body; the stored result is the first answer, returned again to every repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_contacts.errors import (
    IdempotencyKeyReused,
    IdempotencyStoreUnavailable,
    OutcomeUnknown,
    RequestInProgress,
)
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.logic.create_contact import ContactResult, create_contact
from intercom_contacts.models.contact import Outcome
from intercom_contacts.models.messages import ContactMessage


class IdempotentCreator:
    def __init__(self, store: BasePersistenceLayer, *, ttl_seconds: int) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="idempotency_key",
            payload_validation_jmespath="[request, on_conflict]",
            expires_after_seconds=ttl_seconds,
            response_hook=_mark_replayed,
        )
        self._create: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="payload", config=self.config, persistence_store=store
        )(_create_and_record)

    def register(self, context: LambdaContext) -> None:
        """Lets an in-progress record expire with the invocation, so a crash does not block retries."""
        self.config.register_lambda_context(context)

    def create(self, message: ContactMessage, client: IntercomClient, *, deadline: float) -> ContactResult:
        try:
            stored = self._create(
                payload=message.as_idempotent_payload(), message=message, client=client, deadline=deadline
            )
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                "This idempotency key was already used for a different contact; use a new key per contact."
            ) from None
        except (IdempotencyAlreadyInProgressError, IdempotencyItemAlreadyExistsError):
            raise RequestInProgress(
                "The same request is being processed right now; retry in a few seconds."
            ) from None
        except IdempotencyPersistenceLayerError:
            raise IdempotencyStoreUnavailable(
                "The idempotency store is unavailable; nothing was sent to Intercom. Retry later."
            ) from None
        if "unknown" in stored:
            raise OutcomeUnknown(stored["unknown"])
        return ContactResult(
            stored["contact"], Outcome(stored["outcome"]), replayed=stored.get("replayed", False)
        )


def _create_and_record(
    payload: dict[str, Any], message: ContactMessage, client: IntercomClient, deadline: float
) -> dict[str, Any]:
    try:
        result = create_contact(message.request, message.on_conflict, client, deadline=deadline)
    except OutcomeUnknown as unknown:
        # Kept as this key's answer: a retry with the same key must not send the lead again.
        return {"unknown": unknown.message}
    return {"contact": result.contact, "outcome": result.outcome.value}


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}
