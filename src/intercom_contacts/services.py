"""The objects a warm container keeps, each built once by its factory here, from the typed settings.

The handlers call `build_at_init` with the factories their requests use, so the clients, the Intercom
client and the idempotency layers exist before the first request (docs/performance.md).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from intercom_contacts.config import RECORD_TTL_SECONDS, ConfigurationError, Settings, get_settings
from intercom_contacts.events import EventPublisher
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.intercom.companies import CompaniesApi
from intercom_contacts.intercom.data_attributes import DataAttributesApi
from intercom_contacts.intercom.rate_limit import Gate, PacedGate, RateLimitGate
from intercom_contacts.intercom.tags import TagsApi
from intercom_contacts.intercom.token import SecretToken
from intercom_contacts.logic.batches import Batches
from intercom_contacts.logic.contact_steps import ContactSteps
from intercom_contacts.logic.custom_attributes import WorkspaceAttributes
from intercom_contacts.logic.idempotency import ContactCreator, IdempotentBatches
from intercom_contacts.logic.outcomes import Outcomes
from intercom_contacts.observability import logger
from intercom_contacts.run_log import RunLog
from intercom_contacts.sends import SendJournal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

# Time kept, at the end of an invocation, to answer after the last call.
DEADLINE_MARGIN_SECONDS = 1.0
# Every AWS call ends within AWS_CALL_SECONDS, not botocore's default minutes: two attempts of a 1 s
# connect and a 3 s read (DynamoDB, SQS and EventBridge answer in milliseconds; a read cut too short
# would time out conditional writes that did apply), and botocore's standard backoff between them
# (under 1 s). So the time an invocation keeps for them is known.
AWS_ATTEMPTS, AWS_CONNECT_SECONDS, AWS_READ_SECONDS = 2, 1.0, 3.0
AWS_CLIENT_CONFIG = Config(
    connect_timeout=AWS_CONNECT_SECONDS,
    read_timeout=AWS_READ_SECONDS,
    retries={"mode": "standard", "total_max_attempts": AWS_ATTEMPTS},
)
AWS_CALL_SECONDS = AWS_ATTEMPTS * (AWS_CONNECT_SECONDS + AWS_READ_SECONDS) + 1.0
# What the worker keeps after its Intercom work: Powertools' save of the result and one more call's
# worst case, plus the margin to answer. Settling starts each step only if it fits
# (logic/process_message.py): when the save took its worst case, the run log and the bus are skipped,
# and the one call left hands each record back (a visibility change, or on its last receive a copy).
SETTLE_RESERVE_SECONDS = 2 * AWS_CALL_SECONDS + DEADLINE_MARGIN_SECONDS


def build_at_init(*factories: Callable[[], object]) -> None:
    """Build what the first request would otherwise build, while the function initialises: AWS's advice
    for SDK clients, and what a SnapStart snapshot then holds. Nothing here reads the token or opens a
    connection. A factory that fails (a misconfigured function) is left for the first request to call
    again: it answers CONFIGURATION_ERROR there, where a failed init would answer nothing at all."""
    for factory in factories:
        try:
            factory()
        except Exception as error:  # raised again, and answered, by the first request
            logger.warning("not built at init", extra={"factory": factory.__name__, "reason": str(error)})


@functools.cache
def secrets_provider() -> SecretsProvider:
    # A client of boto3's default session, which the other clients share: Powertools would otherwise
    # create a session of its own, and each session costs ~30 ms to set up.
    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=AWS_CLIENT_CONFIG))


@functools.cache
def intercom_client() -> IntercomClient:
    settings = get_settings()
    return IntercomClient(
        settings, SecretToken(secrets_provider(), settings.token_secret_id), gate=rate_limit_gate(settings)
    )


@functools.cache
def workspace_attributes() -> WorkspaceAttributes:
    """The workspace's custom attributes, read on first use and kept for the container's life."""
    return WorkspaceAttributes(DataAttributesApi(intercom_client()))


def rate_limit_gate(settings: Settings) -> Gate:
    """The worker paces its calls and leaves the API its share of each window; the API spends what
    it needs (intercom/rate_limit.py, docs/throughput.md)."""
    if settings.api_rate_limit_share is None:
        return RateLimitGate()
    return PacedGate(reserve=settings.api_rate_limit_share / 100)


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CLIENT_CONFIG)


@functools.cache
def contact_creator() -> ContactCreator:
    settings = get_settings()
    table, window = settings.idempotency_table_name, settings.lead_lookup_window_seconds
    steps = ContactSteps(CompaniesApi(intercom_client()), TagsApi(intercom_client()))
    if not table:
        return ContactCreator(
            intercom_client(), None, None, ttl_seconds=RECORD_TTL_SECONDS, lookup_window=window, steps=steps
        )
    return ContactCreator(
        intercom_client(),
        DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb_client()),
        SendJournal(
            dynamodb_client(), table, function=settings.function_name, ttl_seconds=RECORD_TTL_SECONDS
        ),
        ttl_seconds=RECORD_TTL_SECONDS,
        lookup_window=window,
        steps=steps,
    )


@functools.cache
def outcomes() -> Outcomes:
    settings = get_settings()
    if not (settings.run_log_table_name and settings.event_bus_name):
        raise ConfigurationError("RUN_LOG_TABLE_NAME and EVENT_BUS_NAME must be set")
    run_log = RunLog(dynamodb_client(), settings.run_log_table_name, ttl_seconds=RECORD_TTL_SECONDS)
    events = EventPublisher(boto3.client("events", config=AWS_CLIENT_CONFIG), settings.event_bus_name)
    return Outcomes(run_log, events)


@functools.cache
def batches() -> IdempotentBatches:
    settings = get_settings()
    if not (settings.contacts_queue_url and settings.idempotency_table_name):
        raise ConfigurationError("CONTACTS_QUEUE_URL and IDEMPOTENCY_TABLE_NAME must be set")
    recorder = outcomes()
    intake = Batches(recorder.run_log, recorder, sqs_client(), settings.contacts_queue_url)
    # A store of its own: Powertools configures a persistence layer for the first function using it.
    store = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=dynamodb_client()
    )
    return IdempotentBatches(intake, store, ttl_seconds=RECORD_TTL_SECONDS)


@functools.cache
def sqs_client() -> SQSClient:
    return boto3.client("sqs", config=AWS_CLIENT_CONFIG)


def deadline_for(context: LambdaContext, *, reserve: float = DEADLINE_MARGIN_SECONDS) -> float:
    """The monotonic time by which the work must be done, leaving `reserve` seconds of the invocation:
    the margin to answer, or (the worker's Intercom work) the time its settling needs as well."""
    remaining = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining - reserve


def settle_call_seconds(context: LambdaContext) -> float:
    """One AWS call's worst case as the worker's settling counts it: AWS_CALL_SECONDS, or, in an
    invocation too short to keep SETTLE_RESERVE_SECONDS, its part of the third it kept for two calls
    (intercom_deadline): a short invocation settles too, instead of never."""
    return min(AWS_CALL_SECONDS, context.get_remaining_time_in_millis() / 1000 / 3 / 2)


def intercom_deadline(context: LambdaContext) -> float:
    """The Intercom work keeps SETTLE_RESERVE_SECONDS for the AWS calls that follow it (the worker's
    settling: all of it with the template's 60 s timeout), yet never more than a third of what is left:
    a shorter invocation still tries Intercom. The API (29 s) keeps about 9.7 s, one AWS call's worst
    case, for Powertools' save and the outcome's event after its Intercom calls."""
    remaining = context.get_remaining_time_in_millis() / 1000
    reserve = max(DEADLINE_MARGIN_SECONDS, min(SETTLE_RESERVE_SECONDS, remaining / 3))
    return deadline_for(context, reserve=reserve)
