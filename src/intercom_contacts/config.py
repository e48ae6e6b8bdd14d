"""Typed configuration, read once from the environment. Nothing else reads os.environ."""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_secret_id: str = Field(min_length=1)
    region: Literal["us", "eu", "au"] = "us"
    base_url: str = ""
    api_version: str = "2.16"
    connect_timeout: float = Field(default=3.05, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=5)
    backoff_factor: float = Field(default=0.25, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    deadline_margin_seconds: float = Field(default=0.5, ge=0)
    token_max_age_seconds: int = Field(default=300, ge=0)
    idempotency_table_name: str | None = None
    idempotency_ttl_seconds: int = Field(default=15 * 86_400, ge=60)  # outlives the DLQ's 14 days
    contacts_queue_url: str | None = None
    contacts_dlq_url: str | None = None
    worker_concurrency: int = Field(default=10, ge=1, le=100)
    retry_base_seconds: float = Field(default=1.0, ge=0)
    max_receive_count: int = Field(default=5, ge=1)

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
        names = {  # nosec B105 # environment variable names, not secrets
            "token_secret_id": "INTERCOM_TOKEN_SECRET_ID",
            "region": "INTERCOM_REGION",
            "base_url": "INTERCOM_BASE_URL",
            "api_version": "INTERCOM_API_VERSION",
            "connect_timeout": "INTERCOM_CONNECT_TIMEOUT",
            "read_timeout": "INTERCOM_READ_TIMEOUT",
            "max_attempts": "INTERCOM_MAX_ATTEMPTS",
            "backoff_factor": "INTERCOM_BACKOFF_FACTOR",
            "backoff_max": "INTERCOM_BACKOFF_MAX",
            "deadline_margin_seconds": "DEADLINE_MARGIN_SECONDS",
            "token_max_age_seconds": "TOKEN_CACHE_SECONDS",
            "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
            "idempotency_ttl_seconds": "IDEMPOTENCY_TTL_SECONDS",
            "contacts_queue_url": "CONTACTS_QUEUE_URL",
            "contacts_dlq_url": "CONTACTS_DLQ_URL",
            "worker_concurrency": "WORKER_CONCURRENCY",
            "retry_base_seconds": "RETRY_BASE_SECONDS",
            "max_receive_count": "MAX_RECEIVE_COUNT",
        }
        values = {field: env[var] for field, var in names.items() if env.get(var)}
        if "region" in values:
            values["region"] = values["region"].lower()
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{names.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'config'}: {e['msg']}"
                for e in error.errors()
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
