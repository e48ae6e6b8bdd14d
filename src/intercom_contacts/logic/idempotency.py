"""The one way to create a contact, with or without an idempotency key.

With a key (the caller's `Idempotency-Key` header or `IdempotencyKey` attribute, or the worker's hash
of the normalised body) the contact is created at most once, with Powertools' idempotency utility on
DynamoDB: the stored result is the first answer, returned again to every repeat. The send journal
(`sends.py`) covers what Powertools cannot see: an attempt that died after Intercom created the
contact but before the result was stored, and a lead whose outcome was unknown (Powertools deletes its
record when the function raises, so a retry runs `_create_and_record` again and meets the journal).
"""

from __future__ import annotations

import base64
import contextlib
import zlib
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
from intercom_contacts.logic.contact_steps import ContactSteps, StepsDone
from intercom_contacts.logic.create_contact import ContactResult, create_contact
from intercom_contacts.logic.custom_attributes import Screen
from intercom_contacts.models.batch import BatchResponse, batch_fingerprint
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
        lookup_window: float,
        steps: ContactSteps | None = None,
    ) -> None:
        self._client = client
        self._steps = steps
        self._journal = journal
        self._lookup_window = lookup_window
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
        """The contact, created once, with its companies attached and its tags applied. The stored
        result is the contact alone: a retry after a transient step error replays it and does only the
        steps the failed attempt did not record as done (all of them, if it recorded nothing)."""
        result = self._create(request, on_conflict, idempotency_key=idempotency_key, deadline=deadline)
        if not request.has_steps:
            return result
        if self._steps is None:
            raise ConfigurationError("companies and tags need the Intercom companies and tags APIs")
        contact_id = str(result.contact["id"])
        record = None
        if idempotency_key is not None and self._journal is not None:
            record = self._journal.steps(idempotency_key, request.to_body())
        recorded = record.load(contact_id) if record is not None and result.replayed else None
        done = StepsDone.from_json(recorded) if recorded else StepsDone()
        try:
            shown = self._steps.apply(request, contact_id, deadline=deadline, done=done)
        except ContactError as error:
            # After a permanent refusal the caller fixes Intercom first, which may undo done steps: the
            # retry then does every step again. After a transient one, only the rest.
            if record is not None and done and error.retryable:
                record.save(contact_id, done.to_json())
            raise
        return ContactResult({**result.contact, **shown}, result.outcome, replayed=result.replayed)

    def _create(
        self,
        request: ContactRequest,
        on_conflict: OnConflict,
        *,
        idempotency_key: str | None,
        deadline: float,
    ) -> ContactResult:
        if idempotency_key is None:
            return create_contact(
                request, on_conflict, self._client, deadline=deadline, lookup_window=self._lookup_window
            )
        if self._create_once is None:
            raise ConfigurationError("IDEMPOTENCY_TABLE_NAME is not set")
        payload = {
            "idempotency_key": idempotency_key,
            "request": request.to_body(),  # the same as before companies and tags when it has neither
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
                lookup_window=self._lookup_window,
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
    lookup_window: float,
) -> dict[str, Any]:
    entry = journal.entry(payload["idempotency_key"], payload["request"]) if journal else None
    result = create_contact(
        request, on_conflict, client, deadline=deadline, lookup_window=lookup_window, journal=entry
    )
    return {"contact": result.contact, "outcome": result.outcome.value}


class IdempotentBatches:
    """`POST /contacts/batch` with an Idempotency-Key: the first complete answer is stored and returned
    to every repeat. An answer with items SQS refused is not stored, so a resend queues them.

    The key is bound to a hash of the body (the run log's header keeps it too, for a resend after an
    answer that was not stored). The answer is stored compressed: 1,000 items' answer must fit in one
    DynamoDB item (400 KB)."""

    def __init__(self, batches: Batches, store: BasePersistenceLayer, *, ttl_seconds: int) -> None:
        self.batches = batches
        self.config = IdempotencyConfig(
            event_key_jmespath="idempotency_key",
            payload_validation_jmespath="fingerprint",
            expires_after_seconds=ttl_seconds,
        )
        self._submit_once: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="payload", config=self.config, persistence_store=store
        )(_queue_batch_once)

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
        payload = {
            "idempotency_key": idempotency_key,
            "fingerprint": batch_fingerprint(contacts, on_conflict.value),
        }
        answered: list[BatchResponse] = []
        try:
            with _idempotency_errors("batch"):
                stored = self._submit_once(
                    payload=payload,
                    contacts=contacts,
                    on_conflict=on_conflict,
                    batches=self.batches,
                    answered=answered,
                    screen=screen,
                )
        except _NotAllQueued as partial:
            return partial.response
        except IdempotencyStoreUnavailable:
            if not answered:
                raise
            # The batch was queued and only its answer could not be stored: the caller gets it. A
            # resend is answered from the run log (REQUEST_IN_PROGRESS until this invocation's end).
            logger.warning("batch answer not stored", extra={"batch_id": answered[0].batch_id})
            return answered[0]
        return _unpacked(stored)


class _NotAllQueued(Exception):
    def __init__(self, response: BatchResponse) -> None:
        super().__init__("SQS refused some items")
        self.response = response


# Not `_submit_and_record`, whose records (the whole body's hash, the answer uncompressed) were
# written by the release before the key was bound to a fingerprint: they are simply not matched.
def _queue_batch_once(
    *,
    payload: dict[str, Any],
    contacts: Sequence[Any],
    on_conflict: OnConflict,
    batches: Batches,
    answered: list[BatchResponse],
    screen: Screen | None,
) -> dict[str, Any]:
    response = batches.submit(contacts, on_conflict, payload["idempotency_key"], screen)
    if response.failed:
        raise _NotAllQueued(response)  # not stored: the resend with the same key sends what SQS refused
    answered.append(response)
    return _packed(response)


def _packed(response: BatchResponse) -> dict[str, Any]:
    """The answer as Powertools stores it: compressed JSON. What is left after compression is mostly
    the unknown field names the body itself held (at most 10 an item), so it stays well under
    DynamoDB's 400 KB item (tests/unit/test_batch_answer.py)."""
    text = response.model_dump_json(exclude_none=True)
    return {"answer": base64.b64encode(zlib.compress(text.encode())).decode()}


def _unpacked(stored: dict[str, Any]) -> BatchResponse:
    return BatchResponse.model_validate_json(zlib.decompress(base64.b64decode(stored["answer"])))


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
        # Not "nothing was sent": the store can also fail after the work, when the answer is stored
        logger.warning("idempotency store failed", extra={"cause": repr(error.__cause__ or error)[:300]})
        raise IdempotencyStoreUnavailable(
            f"The idempotency store is unavailable; retry later with the same Idempotency-Key, "
            f"which never makes a {what} twice."
        ) from None


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}
