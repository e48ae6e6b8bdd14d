"""Typed configuration, read once from the environment. Nothing else reads os.environ.

Each setting names the environment variable it comes from (pydantic's alias); the template sets
them, and every one has a default that suits a deployment except the secret's id.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Idempotency records, the send journal and the run log outlive the DLQ's 14 days, so a redrive
# never creates a contact twice and a dead-lettered item's batch can still be looked up.
RECORD_TTL_SECONDS = 15 * 86_400

# Intercom's regions and their API hosts: the one table the region setting is checked against.
REGION_BASE_URLS = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}


class ConfigurationError(RuntimeError):
    """The function's environment is wrong; a deployer must fix it."""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    token_secret_id: str = Field(alias="INTERCOM_TOKEN_SECRET_ID", min_length=1)
    region: str = Field(default="us", alias="INTERCOM_REGION")
    base_url: str = Field(default="", alias="INTERCOM_BASE_URL")
    api_version: str = Field(default="2.16", alias="INTERCOM_API_VERSION")
    read_timeout: float = Field(default=10.0, gt=0, alias="INTERCOM_READ_TIMEOUT")
    max_attempts: int = Field(default=5, ge=1, le=5, alias="INTERCOM_MAX_ATTEMPTS")
    backoff_factor: float = Field(default=0.25, ge=0, alias="INTERCOM_BACKOFF_FACTOR")
    idempotency_table_name: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE_NAME")
    contacts_queue_url: str | None = Field(default=None, alias="CONTACTS_QUEUE_URL")
    contacts_dlq_url: str | None = Field(default=None, alias="CONTACTS_DLQ_URL")
    run_log_table_name: str | None = Field(default=None, alias="RUN_LOG_TABLE_NAME")
    event_bus_name: str | None = Field(default=None, alias="EVENT_BUS_NAME")
    worker_concurrency: int = Field(default=10, ge=1, le=100, alias="WORKER_CONCURRENCY")
    retry_base_seconds: float = Field(default=1.0, ge=0, alias="RETRY_BASE_SECONDS")
    max_receive_count: int = Field(default=5, ge=1, alias="MAX_RECEIVE_COUNT")
    # Set on the worker only (template: ApiRateLimitShare): it paces its Intercom calls across each
    # rate-limit window and leaves this percentage of the window to the API. Unset (the API function),
    # calls go as they come and wait only when the window is spent.
    api_rate_limit_share: float | None = Field(default=None, ge=0, le=50, alias="API_RATE_LIMIT_SHARE")
    # How long after a lead was last possibly sent Intercom's search must show it if it was created:
    # Intercom documents search as behind by "a few minutes". A lead whose outcome is unknown is sent
    # again only when search, asked after this, still does not show it (docs/design.md).
    lead_lookup_window_seconds: float = Field(default=600, ge=1, alias="LEAD_LOOKUP_WINDOW_SECONDS")
    # Lambda sets it; the send journal is namespaced by it, as Powertools' idempotency records are.
    function_name: str = Field(default="local", alias="AWS_LAMBDA_FUNCTION_NAME")

    @field_validator("region", mode="before")
    @classmethod
    def _known_region(cls, value: Any) -> Any:
        region = value.lower() if isinstance(value, str) else value
        if region not in REGION_BASE_URLS:
            raise ValueError(f"must be one of {', '.join(REGION_BASE_URLS)}")
        return region

    @model_validator(mode="after")
    def _resolve_base_url(self) -> Settings:
        url = self.base_url or REGION_BASE_URLS[self.region]
        parts = urlsplit(url)
        plain_http_to_loopback = parts.scheme == "http" and is_loopback_host(parts.hostname or "")
        if parts.scheme != "https" and not plain_http_to_loopback:
            raise ValueError(
                "INTERCOM_BASE_URL must be https (plain http is allowed only to a loopback host)"
            )
        object.__setattr__(self, "base_url", url.rstrip("/"))
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings of this environment; an empty variable counts as unset."""
        try:
            return cls.model_validate({name: value for name, value in env.items() if value})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'config'}: "
                f"{str(problem['msg']).removeprefix('Value error, ')}"
                for problem in error.errors()
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
