"""The Intercom access token, read from Secrets Manager through Powertools' parameters cache."""

from __future__ import annotations

import json
import threading

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from intercom_contacts.errors import TokenUnavailable

CACHE_SECONDS = 300  # a rotated secret is picked up within this, or at once after Intercom's 401


class SecretToken:
    """One Secrets Manager read per container per `max_age` seconds, plus one forced read after a 401.

    The secret's SecretString is either the bare token or JSON with a `token` key.
    """

    def __init__(self, provider: SecretsProvider, secret_id: str, max_age: int = CACHE_SECONDS) -> None:
        self._provider = provider
        self._secret_id = secret_id
        self._max_age = max_age
        # The worker's threads all want the token at once when a container starts: one reads it, the
        # others then find it in the provider's cache.
        self._lock = threading.Lock()

    def get(self, *, refresh: bool = False) -> str:
        try:
            with self._lock:
                raw = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=refresh)
        except (GetParameterError, TransformParameterError):
            raise TokenUnavailable(
                "The Intercom token could not be read from Secrets Manager; check the secret and the "
                "function's permission to read it."
            ) from None
        token = _token_from(raw)
        if not token:
            raise TokenUnavailable("The Intercom token secret is empty or has no 'token' key.")
        return token


def _token_from(raw: object) -> str:
    if not isinstance(raw, (str, bytes)):
        return ""
    text = raw.decode() if isinstance(raw, bytes) else raw
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("token")
        except (ValueError, AttributeError):
            return ""
        return value.strip() if isinstance(value, str) else ""
    return text
