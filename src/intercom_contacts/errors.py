"""What can go wrong when creating a contact, as domain exceptions (Intercom, the token, idempotency).

Each has a stable `code` callers can branch on, and says whether trying again later can help
(`retryable`): the API maps these to HTTP in one place, the worker to retry-or-dead-letter.
"""

from __future__ import annotations


class ContactError(Exception):
    code = "INTERNAL_ERROR"
    retryable = False
    retry_after: int | None = None  # seconds before trying again can help, when that is known
    contact_id: str | None = None  # the contact that exists although this error stopped the work

    def __init__(
        self, message: str, *, request_id: str | None = None, intercom_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.intercom_code = intercom_code


class TokenUnavailable(ContactError):
    """The Intercom token could not be read from Secrets Manager."""

    code = "TOKEN_UNAVAILABLE"
    retryable = True


class IntercomRejected(ContactError):
    """Intercom refused the fields (400/404/422): sending the same body again cannot succeed."""

    code = "INTERCOM_REJECTED"


class CompanyRejected(IntercomRejected):
    """Intercom refused a company's fields (`POST /companies`): the same company cannot be saved."""

    code = "COMPANY_REJECTED"


class CompanyLimitReached(IntercomRejected):
    """The contact already holds Intercom's maximum of companies (`contact_company_limit_exceeded`)."""

    code = "CONTACT_COMPANY_LIMIT_EXCEEDED"


class TagRejected(IntercomRejected):
    """Intercom refused a tag's name (`POST /tags`)."""

    code = "TAG_REJECTED"


class ContactNotFound(IntercomRejected):
    """Intercom no longer has the contact a company or tag was meant for (deleted or merged since)."""

    code = "CONTACT_NOT_FOUND"


class CustomAttributesRefused(ContactError):
    """Custom attributes Intercom would refuse (unknown, not API-writable, a value not of the attribute's
    type), found before the contact was sent: `fields` pairs each `custom_attributes.<name>` with what
    to do."""

    code = "VALIDATION_ERROR"

    def __init__(self, fields: list[tuple[str, str]], *, request_id: str | None = None) -> None:
        problems = "; ".join(f"{name}: {problem}" for name, problem in fields)
        super().__init__(f"Custom attributes Intercom would refuse: {problems}", request_id=request_id)
        self.fields = fields


class AttributeNameInvalid(CustomAttributesRefused):
    """A custom attribute to create has a name Intercom refuses (its characters, or a standard
    attribute's name)."""

    code = "ATTRIBUTE_NAME_INVALID"


class AttributeLimitReached(CustomAttributesRefused):
    """The workspace holds Intercom's maximum of custom attributes: no more can be created."""

    code = "ATTRIBUTE_LIMIT_REACHED"


class AttributeTypeConflict(CustomAttributesRefused):
    """The custom attribute to create exists with another data type: Intercom never changes one's type."""

    code = "ATTRIBUTE_TYPE_CONFLICT"


class IntercomAuthFailed(ContactError):
    """Intercom refused the token (401/403): a configuration fault, fixed by rotating the secret."""

    code = "INTERCOM_AUTH_FAILED"
    retryable = True


class IntercomRateLimited(ContactError):
    """Intercom's rate limit, and waiting for the window to reset does not fit the time left."""

    code = "INTERCOM_RATE_LIMITED"
    retryable = True
    retry_after: int

    def __init__(self, message: str, *, retry_after: int, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id, intercom_code="rate_limit_exceeded")
        self.retry_after = retry_after


class IntercomUnavailable(ContactError):
    """Intercom answered 5xx or could not be reached, after every retry that fitted."""

    code = "INTERCOM_UNAVAILABLE"
    retryable = True


class IntercomTimeout(ContactError):
    """Intercom did not answer within the read timeout, after every retry that fitted."""

    code = "INTERCOM_TIMEOUT"
    retryable = True


class IntercomBadResponse(ContactError):
    """Intercom answered something that is not the JSON its API documents."""

    code = "INTERCOM_BAD_RESPONSE"
    retryable = True


class OutcomeUnknown(ContactError):
    """A lead was sent but whether Intercom created it cannot be told yet.

    Its answer was lost (or the function died before recording it), and Intercom's search, which is
    eventually consistent, has not shown it. Intercom does not deduplicate leads, so it is not sent
    again while search may still be behind: trying later (after `retry_after`) looks it up again, and
    sends it again only when search, asked once the lookup window has passed, still does not show it.
    """

    code = "INTERCOM_OUTCOME_UNKNOWN"
    retryable = True

    def __init__(self, message: str, *, sent_at: float, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.sent_at = sent_at
        self.retry_after = retry_after


class ContactConflict(ContactError):
    """Intercom already has a user with this email or external_id."""

    code = "CONTACT_EXISTS"

    def __init__(
        self,
        message: str,
        *,
        existing_id: str | None,
        archived: bool,
        request_id: str | None = None,
        sent_at: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id, intercom_code="conflict")
        self.existing_id = existing_id
        self.archived = archived
        # Set when an earlier attempt of the same request was sent at `sent_at` and its answer lost:
        # the existing contact may be the one that attempt created.
        self.sent_at = sent_at


class IdempotencyKeyReused(ContactError):
    """The key was used before for a different contact: the caller has a bug, a retry cannot help."""

    code = "IDEMPOTENCY_KEY_REUSED"


class RequestInProgress(ContactError):
    """Another delivery of the same request is being processed right now."""

    code = "REQUEST_IN_PROGRESS"
    retryable = True


class IdempotencyStoreUnavailable(ContactError):
    """The idempotency table could not be read or written; nothing was sent to Intercom."""

    code = "IDEMPOTENCY_STORE_UNAVAILABLE"
    retryable = True


class RunLogUnavailable(ContactError):
    """The run log table could not be read or written; the outcome is recorded when retried."""

    code = "RUN_LOG_UNAVAILABLE"
    retryable = True

    @classmethod
    def wrap(cls) -> RunLogUnavailable:
        return cls("The run log is unavailable right now; retry later.")


class EventsUnavailable(ContactError):
    """An outcome event could not be published to the event bus; publishing it is retried."""

    code = "EVENTS_UNAVAILABLE"
    retryable = True


class BatchNotFound(ContactError):
    """No batch has this id (or its records have expired)."""

    code = "BATCH_NOT_FOUND"


class InvalidCursor(ContactError):
    """A page cursor that this service did not write for this batch."""

    code = "INVALID_CURSOR"
