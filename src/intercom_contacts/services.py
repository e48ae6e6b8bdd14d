"""The objects a warm container keeps: built once on first use, from the typed settings."""

from __future__ import annotations

import functools
import time

from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_contacts.config import get_settings
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.intercom.token import SecretToken


@functools.cache
def intercom_client() -> IntercomClient:
    settings = get_settings()
    return IntercomClient(settings, SecretToken(settings.token_secret_id, settings.token_max_age_seconds))


def deadline_for(context: LambdaContext) -> float:
    """The monotonic time by which Intercom work must be done, leaving a margin to answer."""
    remaining = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining - get_settings().deadline_margin_seconds
