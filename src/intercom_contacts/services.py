"""The objects a warm container keeps: built once on first use, from the typed settings."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_contacts.config import ConfigurationError, get_settings
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.intercom.token import SecretToken

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from intercom_contacts.logic.idempotency import IdempotentCreator


@functools.cache
def secrets_provider() -> SecretsProvider:
    return SecretsProvider()


@functools.cache
def intercom_client() -> IntercomClient:
    settings = get_settings()
    token = SecretToken(secrets_provider(), settings.token_secret_id, settings.token_max_age_seconds)
    return IntercomClient(settings, token)


@functools.cache
def idempotent_creator() -> IdempotentCreator:
    settings = get_settings()
    if not settings.idempotency_table_name:
        raise ConfigurationError("IDEMPOTENCY_TABLE_NAME is not set")
    # Imported here: the idempotency utility and its DynamoDB client cost ~40 ms of cold start and
    # ~10 MB, which a request without an Idempotency-Key never needs.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    from intercom_contacts.logic.idempotency import IdempotentCreator  # noqa: PLC0415

    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name)
    return IdempotentCreator(store, ttl_seconds=settings.idempotency_ttl_seconds)


@functools.cache
def sqs_client() -> SQSClient:
    return boto3.client("sqs")


def deadline_for(context: LambdaContext) -> float:
    """The monotonic time by which Intercom work must be done, leaving a margin to answer."""
    remaining = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining - get_settings().deadline_margin_seconds
