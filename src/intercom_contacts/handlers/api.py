"""REST API: `POST /contacts` creates one contact in Intercom and answers with it;
`POST /contacts/batch` queues many for the worker, `GET /contacts/batch/{batch_id}` is their run log
and `POST /contacts/batch/{batch_id}/retry` sends the failed ones again; `GET /contacts/attributes` lists
the workspace's custom attributes and `POST /contacts/attributes` creates one of a given type."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_contacts import snapstart
from intercom_contacts.config import ConfigurationError
from intercom_contacts.errors import (
    AttributeTypeConflict,
    BatchNotFound,
    ContactConflict,
    ContactError,
    CustomAttributesRefused,
    EventsUnavailable,
    IdempotencyKeyReused,
    IdempotencyStoreUnavailable,
    IntercomAuthFailed,
    IntercomRateLimited,
    IntercomRejected,
    IntercomTimeout,
    InvalidCursor,
    RequestInProgress,
    RunLogUnavailable,
    TokenUnavailable,
)
from intercom_contacts.handlers import resume_garbage_collection
from intercom_contacts.intercom.data_attributes import DataAttribute
from intercom_contacts.logic.batches import Batches
from intercom_contacts.logic.outcomes import Subject
from intercom_contacts.models import strict_json
from intercom_contacts.models.attributes import AttributeRequest, AttributesResponse, WorkspaceAttribute
from intercom_contacts.models.batch import (
    DEFAULT_PAGE_ITEMS,
    MAX_BATCH_ITEMS,
    BatchRequest,
    BatchResponse,
    BatchRunLog,
    ItemStatus,
    RetryResponse,
)
from intercom_contacts.models.contact import (
    Contact,
    ContactRequest,
    ErrorResponse,
    FieldError,
    OnConflict,
    Outcome,
    field_errors,
)
from intercom_contacts.models.messages import API_IDEMPOTENCY_KEY_PATTERN
from intercom_contacts.observability import MetricUnit, logger, mask_email, metrics
from intercom_contacts.services import (
    batches,
    build_at_init,
    contact_creator,
    deadline_for,
    intercom_deadline,
    outcomes,
    workspace_attributes,
)

MAX_BODY_BYTES = 256 * 1024
OUTCOME_HEADER = "X-Contact-Outcome"
REPLAYED_HEADER = "Idempotent-Replayed"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=API_IDEMPOTENCY_KEY_PATTERN,
        description="Makes retries safe: a repeat with the same key and body answers the first result",
    ),
]
OnConflictQuery = Annotated[OnConflict, Query(description="What to do when the user already exists")]
CreateAttributesQuery = Annotated[
    bool,
    Query(
        description="Create each custom attribute the workspace lacks (typed as its value's JSON type) "
        "before the contact; otherwise an unknown attribute is a 422"
    ),
]
BatchId = Annotated[str, Path(description="The `batch_id` POST /contacts/batch answered", max_length=64)]


class _RestResolver(APIGatewayRestResolver):
    """API Gateway (REST) hands over `path` as the client sent it (`%41` stays `%41`) and
    `pathParameters` decoded; Powertools takes a route's parameters from the raw path, so each is
    decoded here as API Gateway decodes it."""

    def _convert_matches_into_route_keys(self, match: re.Match[str]) -> dict[str, str]:
        return {name: unquote(value) for name, value in match.groupdict().items()}


app = _RestResolver(enable_validation=True, json_body_deserializer=strict_json.loads)
TITLE, VERSION = "Intercom Contacts", "1.0.0"
SUMMARY = "Create Intercom contacts (users or leads), one at a time or queued in batches"
app.configure_openapi(title=TITLE, version=VERSION, summary=SUMMARY)
# GET /docs: Swagger UI with Powertools' own copy of its code and styles inlined, so the page needs no
# other host; `?format=json` is the document. The only route without the API key (template.yaml).
app.enable_swagger(path="/docs", title=TITLE, version=VERSION, summary=SUMMARY)

ERROR_STATUS: dict[type[ContactError], HTTPStatus] = {
    BatchNotFound: HTTPStatus.NOT_FOUND,
    InvalidCursor: HTTPStatus.BAD_REQUEST,
    EventsUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    RunLogUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ContactConflict: HTTPStatus.CONFLICT,
    RequestInProgress: HTTPStatus.CONFLICT,
    IdempotencyKeyReused: HTTPStatus.UNPROCESSABLE_ENTITY,
    IdempotencyStoreUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    IntercomRejected: HTTPStatus.UNPROCESSABLE_ENTITY,
    IntercomRateLimited: HTTPStatus.TOO_MANY_REQUESTS,
    IntercomTimeout: HTTPStatus.GATEWAY_TIMEOUT,
    IntercomAuthFailed: HTTPStatus.BAD_GATEWAY,
    TokenUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}
ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    int(status): {"description": description, "content": {"application/json": {"model": ErrorResponse}}}
    for status, description in (
        (400, "The body is not JSON (INVALID_JSON), or a page cursor was altered (INVALID_CURSOR)"),
        (403, "Missing or wrong API key (answered by API Gateway)"),
        (409, "The user exists and on_conflict=fail (CONTACT_EXISTS), or a repeat is in progress"),
        (413, "The body is over 256 KiB (PAYLOAD_TOO_LARGE)"),
        (415, "The body is not application/json (UNSUPPORTED_MEDIA_TYPE)"),
        (
            422,
            "Invalid fields (VALIDATION_ERROR: custom attributes the workspace lacks, cannot write or whose "
            "type the value does not fit included, as custom_attributes.<name>), an attribute that cannot be "
            "created (ATTRIBUTE_NAME_INVALID, ATTRIBUTE_LIMIT_REACHED), rejected by Intercom, or a reused "
            "idempotency key",
        ),
        (429, "Intercom's rate limit outlasts the time left (INTERCOM_RATE_LIMITED, Retry-After header)"),
        (502, "Intercom failed, rejected the token, or lost a lead's answer (INTERCOM_*)"),
        (
            503,
            "The token, the idempotency store, the run log or the event bus failed (TOKEN_UNAVAILABLE, ...)",
        ),
        (504, "Intercom did not answer in time (INTERCOM_TIMEOUT)"),
    )
}


@app.post(
    "/contacts",
    summary="Create a contact (user or lead) in Intercom",
    description="Answers 201 with the new contact, or 200 with the existing one when the user already "
    f"exists (returned, or updated with on_conflict=update); the `{OUTCOME_HEADER}` header says which. "
    "Custom attributes are checked against the workspace's before Intercom is called, and converted to "
    'their type when their text is unambiguous ("12" for an integer, "yes" for a boolean, ISO 8601 or Unix '
    "seconds for a date).",
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": Contact}}},
        200: {"description": "Existing or updated", "content": {"application/json": {"model": Contact}}},
        **ERROR_RESPONSES,
    },
    tags=["contacts"],
)
def post_contact(
    contact: Annotated[ContactRequest, Body()],
    on_conflict: OnConflictQuery = OnConflict.RETURN,
    idempotency_key: IdempotencyKey = None,
    create_attributes: CreateAttributesQuery = False,
) -> Response[dict[str, Any]]:
    creator, announcer = contact_creator(), outcomes()  # both before Intercom: a misconfiguration stops here
    creator.register(app.lambda_context)
    deadline = intercom_deadline(app.lambda_context)  # keeps the time Powertools' save and the event need
    contact = workspace_attributes().checked(contact, create=create_attributes, deadline=deadline)
    subject = Subject.of(contact, idempotency_key)
    try:
        result = creator.create(contact, on_conflict, idempotency_key=idempotency_key, deadline=deadline)
    except (RequestInProgress, IdempotencyKeyReused):
        raise  # not an outcome of the contact: the first request's outcome is announced by it
    except ContactError as error:
        failure = error
        _announce(
            lambda: announcer.failed(subject, failure.code, failure.message, contact_id=failure.contact_id),
            keyed=False,
        )
        raise
    _announce(
        lambda: announcer.finished(subject, result.outcome.value, result.contact),
        keyed=bool(idempotency_key),
    )
    metrics.add_metric(name=f"Contacts{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "contact %s",
        result.outcome.value,
        extra={
            "contact_id": result.contact.get("id"),
            "role": contact.role,
            "email": mask_email(contact.email),
        },
    )
    headers = {OUTCOME_HEADER: result.outcome.value}
    if result.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        status_code=HTTPStatus.CREATED if result.outcome is Outcome.CREATED else HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=result.contact,
        headers=headers,
    )


@app.post(
    "/contacts/batch",
    summary="Queue up to 1,000 contacts for creation",
    description="Every item is validated on its own: valid ones are queued for the worker, invalid ones "
    "rejected with their errors. 202 when every valid item was queued; 503 (same body) when some could "
    "not be queued and must be resent.",
    responses={
        202: {"description": "Queued", "content": {"application/json": {"model": BatchResponse}}},
        **ERROR_RESPONSES,
        503: {
            "description": "SQS refused some items (a BatchResponse, their status failed: resend the batch), "
            "or the idempotency store, the run log or the bus failed (an ErrorResponse)",
            "content": {"application/json": {"model": BatchResponse | ErrorResponse}},
        },
    },
    tags=["contacts"],
)
def post_contact_batch(
    batch: Annotated[BatchRequest, Body()],
    on_conflict: OnConflictQuery = OnConflict.RETURN,
    idempotency_key: IdempotencyKey = None,
    create_attributes: CreateAttributesQuery = False,
) -> Response[dict[str, Any]]:
    intake = batches()
    intake.register(app.lambda_context)
    screen = workspace_attributes().screen(
        create=create_attributes, deadline=deadline_for(app.lambda_context)
    )
    result = intake.submit(batch.contacts, on_conflict, idempotency_key=idempotency_key, screen=screen)
    metrics.add_metric(name="ContactsQueued", unit=MetricUnit.Count, value=result.queued)
    metrics.add_metric(name="ContactsRejected", unit=MetricUnit.Count, value=result.rejected)
    return Response(
        status_code=HTTPStatus.SERVICE_UNAVAILABLE if result.failed else HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=result.model_dump(exclude_none=True),
        headers={"Location": f"/contacts/batch/{result.batch_id}"},
    )


NOT_FOUND_RESPONSE: OpenAPIResponse = {
    "description": "No such batch (BATCH_NOT_FOUND)",
    "content": {"application/json": {"model": ErrorResponse}},
}


@app.get(
    "/contacts/batch/<batch_id>",
    summary="The run log of a batch: its counts and each contact's outcome",
    description="Items in index order, `limit` a page (`next_cursor` for the next one), only those in "
    "`status` when given. The batch is `completed` when no item is pending.",
    responses={
        200: {"description": "The run log", "content": {"application/json": {"model": BatchRunLog}}},
        404: NOT_FOUND_RESPONSE,
        **{status: ERROR_RESPONSES[status] for status in (400, 403, 422, 503)},
    },
    tags=["batches"],
)
def get_batch(
    batch_id: BatchId,
    status: Annotated[ItemStatus | None, Query(description="Only items in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH_ITEMS, description="Items a page")] = DEFAULT_PAGE_ITEMS,
    cursor: Annotated[
        str | None, Query(max_length=200, description="The page before's `next_cursor`")
    ] = None,
) -> Response[dict[str, Any]]:
    page = _batches().run_log_page(batch_id, status=status, limit=limit, cursor=cursor)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=page.model_dump(exclude_none=True),
    )


@app.post(
    "/contacts/batch/<batch_id>/retry",
    summary="Send a batch's failed contacts again",
    description="Every `failed` item goes back to the queue as it was first sent (same on_conflict, same "
    "idempotency key) and is `pending` again; items in other states are untouched. Concurrent calls "
    "requeue each item once. What does not fit in the call's time is left failed and counted in "
    "`remaining`: call again until it is 0.",
    responses={
        202: {"description": "Requeued", "content": {"application/json": {"model": RetryResponse}}},
        404: NOT_FOUND_RESPONSE,
        **{status: ERROR_RESPONSES[status] for status in (403, 422, 503)},
    },
    tags=["batches"],
)
def retry_batch(batch_id: BatchId) -> Response[dict[str, Any]]:
    retried = _batches().retry_failed(batch_id, deadline=deadline_for(app.lambda_context))
    metrics.add_metric(name="ContactsRequeued", unit=MetricUnit.Count, value=retried.requeued)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=retried.model_dump(),
    )


ATTRIBUTE_ERRORS = {status: ERROR_RESPONSES[status] for status in (403, 429, 502, 503, 504)}


@app.get(
    "/contacts/attributes",
    summary="The workspace's custom contact attributes",
    description="Read from Intercom on each call (a file's import asks once, in its dry run, to check each "
    "`custom_attributes.<name>` column's values against its attribute's type). Archived attributes are "
    "left out.",
    responses={
        200: {
            "description": "The attributes",
            "content": {"application/json": {"model": AttributesResponse}},
        },
        **ATTRIBUTE_ERRORS,
    },
    tags=["attributes"],
)
def get_attributes() -> Response[dict[str, Any]]:
    listed = workspace_attributes().listed(deadline=deadline_for(app.lambda_context))
    answer = AttributesResponse(attributes=[_shown_attribute(attribute) for attribute in listed.values()])
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=answer.model_dump(exclude_none=True),
    )


@app.post(
    "/contacts/attributes",
    summary="Create a custom contact attribute of a given type",
    description="Created in Intercom once however many callers ask at a time (the importer's "
    "`--create-attributes` asks for each column the workspace lacks, typed by the column's values). "
    "201 when this call created it, 200 when it already exists with this type.",
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": WorkspaceAttribute}}},
        200: {
            "description": "It already exists with this type",
            "content": {"application/json": {"model": WorkspaceAttribute}},
        },
        409: {
            "description": "It exists with another type (ATTRIBUTE_TYPE_CONFLICT)",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        422: {
            "description": "An invalid body (VALIDATION_ERROR), a name Intercom refuses "
            "(ATTRIBUTE_NAME_INVALID), or the workspace's 250 attributes reached (ATTRIBUTE_LIMIT_REACHED)",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        **{status: ERROR_RESPONSES[status] for status in (400, 413, 415)},
        **ATTRIBUTE_ERRORS,
    },
    tags=["attributes"],
)
def post_attribute(attribute: Annotated[AttributeRequest, Body()]) -> Response[dict[str, Any]]:
    existing, created = workspace_attributes().ensure(
        attribute.name, attribute.data_type, deadline=deadline_for(app.lambda_context)
    )
    return Response(
        status_code=HTTPStatus.CREATED if created else HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=_shown_attribute(existing).model_dump(exclude_none=True),
    )


def _shown_attribute(attribute: DataAttribute) -> WorkspaceAttribute:
    return WorkspaceAttribute(
        name=attribute.name,
        data_type=attribute.data_type,
        api_writable=attribute.api_writable,
        options=list(attribute.options) or None,
    )


def _batches() -> Batches:
    return batches().batches


def _announce(publish: Callable[[], None], *, keyed: bool) -> None:
    """Publish a contact's outcome. When that fails: with an idempotency key the caller gets a 503 and
    its retry replays the result and publishes it again; without one, a retry could create a second
    lead, so the outcome is answered and the lost event only logged and counted."""
    try:
        publish()
    except EventsUnavailable:
        if keyed:
            raise
        metrics.add_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=1)
        logger.exception("the outcome event could not be published")


@app.exception_handler(ContactError)
def contact_error(error: ContactError) -> Response[dict[str, Any]]:
    status = next(
        (code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)), HTTPStatus.BAD_GATEWAY
    )
    with single_metric(name="IntercomErrors", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="code", value=error.code)
    logger.warning(
        "contact request failed",
        extra={"code": error.code, "intercom_request_id": error.request_id, "contact_id": error.contact_id},
    )
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    body = ErrorResponse(
        code=error.code,
        message=error.message,
        request_id=error.request_id,
        intercom_code=error.intercom_code,
        contact_id=error.existing_id if isinstance(error, ContactConflict) else error.contact_id,
    )
    return _error_response(status, body, headers)


@app.exception_handler(CustomAttributesRefused)
def custom_attributes_refused(error: CustomAttributesRefused) -> Response[dict[str, Any]]:
    """Found before Intercom was called for the contact: the fields say what each attribute needs."""
    fields = [FieldError(field=name, message=problem) for name, problem in error.fields]
    body = ErrorResponse(code=error.code, message=error.message, request_id=error.request_id, fields=fields)
    conflict = isinstance(error, AttributeTypeConflict)
    return _error_response(HTTPStatus.CONFLICT if conflict else HTTPStatus.UNPROCESSABLE_ENTITY, body)


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        body = ErrorResponse(code="INVALID_JSON", message="The request body is not valid JSON.")
        return _error_response(HTTPStatus.BAD_REQUEST, body)
    fields = field_errors(problems, skip_location=True)
    names = ", ".join(dict.fromkeys(field.field for field in fields))
    body = ErrorResponse(
        code="VALIDATION_ERROR", message=f"The request is invalid; fix these fields: {names}.", fields=fields
    )
    return _error_response(HTTPStatus.UNPROCESSABLE_ENTITY, body)


@app.exception_handler(RecursionError)
def nested_too_deeply(_: RecursionError) -> Response[dict[str, Any]]:
    body = ErrorResponse(code="INVALID_JSON", message="The request body is nested too deeply for a contact.")
    return _error_response(HTTPStatus.BAD_REQUEST, body)


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_content_type(_: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    body = ErrorResponse(code="UNSUPPORTED_MEDIA_TYPE", message="Send the body as application/json.")
    return _error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, body)


@app.not_found
def not_found(_: Exception) -> Response[dict[str, Any]]:
    return _error_response(HTTPStatus.NOT_FOUND, ErrorResponse(code="NOT_FOUND", message="No such route."))


@app.exception_handler(ConfigurationError)
def misconfigured(error: ConfigurationError) -> Response[dict[str, Any]]:
    logger.error("configuration error", extra={"reason": str(error)})  # the detail is for the deployer
    body = ErrorResponse(
        code="CONFIGURATION_ERROR", message="The service is misconfigured; its operators have been told."
    )
    return _error_response(HTTPStatus.INTERNAL_SERVER_ERROR, body)


@app.exception_handler(Exception)
def unexpected(_: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error")
    body = ErrorResponse(code="INTERNAL_ERROR", message="Something unexpected failed; it has been logged.")
    return _error_response(HTTPStatus.INTERNAL_SERVER_ERROR, body)


def _error_response(
    status: HTTPStatus, body: ErrorResponse, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(exclude_none=True),
        headers=headers,
    )


REFUSAL_STATUS = {
    "INVALID_JSON": HTTPStatus.BAD_REQUEST,
    "UNSUPPORTED_MEDIA_TYPE": HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    "PAYLOAD_TOO_LARGE": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    "VALIDATION_ERROR": HTTPStatus.UNPROCESSABLE_ENTITY,
}


def _refused_before_routing(event: dict[str, Any]) -> ErrorResponse | None:
    """Checks the resolver cannot make: it would parse any size, take form data, and read a JSON array
    as its first item."""
    body = event.get("body") or ""
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if body and content_type != "application/json":
        return ErrorResponse(code="UNSUPPORTED_MEDIA_TYPE", message="Send the body as application/json.")
    if len(body.encode()) > MAX_BODY_BYTES:
        return ErrorResponse(code="PAYLOAD_TOO_LARGE", message="The request body is over 256 KiB.")
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
            return ErrorResponse(code="INVALID_JSON", message="The request body is not UTF-8 JSON.")
    if body.lstrip().startswith("["):
        return ErrorResponse(
            code="VALIDATION_ERROR",
            message="The request body must be a JSON object.",
            fields=[FieldError(field="body", message="must be a JSON object")],
        )
    return None


def build_validation_models() -> None:
    """Each route's parameters and body model, as its first request would build them. Not through
    `app.get_openapi_schema()`, which builds them too but then writes the whole schema (~9 ms more)."""
    for route in app._static_routes + app._dynamic_routes:  # the resolver's registered routes
        _ = route.dependant, route.body_field  # each property builds and keeps its models on first access


def build_for_requests() -> None:
    """What requests use, built once: at init, and again before a SnapStart snapshot for what failed."""
    build_at_init(contact_creator, batches, build_validation_models)


build_for_requests()  # the clients, the Intercom client, the idempotency layers, the validation models
snapstart.install(build_for_requests)  # the template's SnapStart parameter: snapshot and restore hooks


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = _refused_before_routing(event)
    if refused is not None:
        return {
            "statusCode": REFUSAL_STATUS[refused.code],
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(refused.model_dump(exclude_none=True)),
        }
    return app.resolve(event, context)


resume_garbage_collection()  # paused while this module loaded (handlers/__init__.py)
