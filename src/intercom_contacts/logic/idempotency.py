"""The one way to create a contact, with or without an idempotency key.

With a key (the caller's `Idempotency-Key` header or `IdempotencyKey` attribute, or the worker's hash
of the normalised body) the contact is created at most once, with Powertools' idempotency utility on
DynamoDB: the stored result is the first answer, returned again to every repeat. The send journal
(`sends.py`) covers what Powertools cannot see: an attempt that died after Intercom created the
contact but before the result was stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
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

from intercom_contacts.config import ConfigurationError
from intercom_contacts.errors import (
    ContactError,
    IdempotencyKeyReused,
    IdempotencyStoreUnavailable,
    OutcomeUnknown,
    RequestInProgress,
)
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.logic.batches import Batches
from intercom_contacts.logic.create_contact import ContactResult, create_contact
from intercom_contacts.logic.custom_attributes import Screen
from intercom_contacts.models.batch import BatchResponse
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome
from intercom_contacts.observability import logger
from intercom_contacts.sends import SendJournal


class ContactCreator:
    def __init__(
        self,
        client: IntercomClient,
        store: BasePersistenceLayer | None,
        journal: SendJournal | None,
        *,
        ttl_seconds: int,
    ) -> None:
        self._client = client
        self._journal = journal
        self.config = IdempotencyConfig(
            event_key_jmespath="idempotency_key",
            payload_validation_jmespath="[request, on_conflict]",
            expires_after_seconds=ttl_seconds,
            response_hook=_mark_replayed,
        )
        self._create_once: Callable[..., dict[str, Any]] | None = (
            None
            if store is None
            else idempotent_function(
                data_keyword_argument="payload", config=self.config, persistence_store=store
            )(_create_and_record)
        )

    def register(self, context: LambdaContext) -> None:
        """Lets an in-progress record expire with the invocation, so a crash does not block retries."""
        self.config.register_lambda_context(context)

    def create(
        self,
        request: ContactRequest,
        on_conflict: OnConflict,
        *,
        idempotency_key: str | None,
        deadline: float,
    ) -> ContactResult:
        if idempotency_key is None:
            return create_contact(request, on_conflict, self._client, deadline=deadline)
        if self._create_once is None:
            raise ConfigurationError("IDEMPOTENCY_TABLE_NAME is not set")
        payload = {
            "idempotency_key": idempotency_key,
            "request": request.to_intercom(),
            "on_conflict": on_conflict.value,
        }
        with _idempotency_errors("contact"):
            stored = self._create_once(
                payload=payload,
                request=request,
                on_conflict=on_conflict,
                client=self._client,
                journal=self._journal,
                deadline=deadline,
            )
        if "unknown" in stored:  # stored by the release before the send journal: a lead never resent
            raise OutcomeUnknown(stored["unknown"], sent_at=0.0)
        return ContactResult(
            stored["contact"], Outcome(stored["outcome"]), replayed=stored.get("replayed", False)
        )


# Module-level, under this name: Powertools keys its records by the function's qualified name, and
# records written by earlier releases must keep matching.
def _create_and_record(
    *,
    payload: dict[str, Any],
    request: ContactRequest,
    on_conflict: OnConflict,
    client: IntercomClient,
    journal: SendJournal | None,
    deadline: float,
) -> dict[str, Any]:
    key = payload["idempotency_key"]
    sent_before = journal.claim(key) if journal else None
    try:
        result = create_contact(request, on_conflict, client, deadline=deadline, sent_before=sent_before)
    except ContactError as error:
        # A lead that Intercom answered without creating may be sent again by a later attempt; one that
        # may exist must only be looked up. Users are safe either way (Intercom's 409).
        if (
            journal
            and request.role == "lead"
            and sent_before is None
            and not isinstance(error, OutcomeUnknown)
        ):
            journal.release(key)
        raise
    return {"contact": result.contact, "outcome": result.outcome.value}


class IdempotentBatches:
    """`POST /contacts/batch` with an Idempotency-Key: the first complete answer is stored and returned
    to every repeat. An answer with items SQS refused is not stored, so a resend queues them."""

    def __init__(self, batches: Batches, store: BasePersistenceLayer, *, ttl_seconds: int) -> None:
        self.batches = batches
        self.config = IdempotencyConfig(
            event_key_jmespath="idempotency_key",
            payload_validation_jmespath="[contacts, on_conflict]",
            expires_after_seconds=ttl_seconds,
        )
        self._submit_once: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="payload", config=self.config, persistence_store=store
        )(_submit_and_record)

    def register(self, context: LambdaContext) -> None:
        self.config.register_lambda_context(context)

    def submit(
        self,
        contacts: Sequence[Any],
        on_conflict: OnConflict,
        *,
        idempotency_key: str | None,
        screen: Screen | None = None,
    ) -> BatchResponse:
        if idempotency_key is None:
            return self.batches.submit(contacts, on_conflict, None, screen)
        payload = {"idempotency_key": idempotency_key, "contacts": contacts, "on_conflict": on_conflict.value}
        try:
            with _idempotency_errors("batch"):
                stored = self._submit_once(payload=payload, batches=self.batches, screen=screen)
        except _NotAllQueued as partial:
            return partial.response
        return BatchResponse.model_validate(stored)


class _NotAllQueued(Exception):
    def __init__(self, response: BatchResponse) -> None:
        super().__init__("SQS refused some items")
        self.response = response


def _submit_and_record(*, payload: dict[str, Any], batches: Batches, screen: Screen | None) -> dict[str, Any]:
    response = batches.submit(
        payload["contacts"], OnConflict(payload["on_conflict"]), payload["idempotency_key"], screen
    )
    if response.failed:
        raise _NotAllQueued(response)  # not stored: the resend with the same key sends what SQS refused
    return response.model_dump(exclude_none=True)


@contextlib.contextmanager
def _idempotency_errors(what: str) -> Iterator[None]:
    """Powertools' idempotency errors as the service's domain errors."""
    try:
        yield
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            f"This idempotency key was already used for a different {what}; use a new key for each."
        ) from None
    except (IdempotencyAlreadyInProgressError, IdempotencyItemAlreadyExistsError):
        raise RequestInProgress(
            "The same request is being processed right now; retry in a few seconds."
        ) from None
    except IdempotencyPersistenceLayerError as error:
        logger.warning("idempotency store failed", extra={"cause": repr(error.__cause__ or error)[:300]})
        raise IdempotencyStoreUnavailable(
            "The idempotency store is unavailable; nothing was sent to Intercom. Retry later."
        ) from None


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}
