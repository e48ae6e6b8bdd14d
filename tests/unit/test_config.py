"""Settings: read once from the environment; plain http only to loopback."""

from __future__ import annotations

import pytest

from intercom_contacts.config import ConfigurationError, Settings


def test_region_picks_the_base_url() -> None:
    assert Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s"}).base_url == "https://api.intercom.io"
    assert Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "INTERCOM_REGION": "EU"}).base_url == (
        "https://api.eu.intercom.io"
    )
    assert Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "INTERCOM_REGION": "au"}).base_url == (
        "https://api.au.intercom.io"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:8111", "http://localhost:1/", "http://[::1]:80"])
def test_plain_http_is_allowed_to_loopback(url: str) -> None:
    settings = Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "INTERCOM_BASE_URL": url})
    assert settings.base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://api.intercom.io", "http://10.0.0.1", "ftp://127.0.0.1", "http://127.0.0.1.evil.com"]
)
def test_plain_http_anywhere_else_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "INTERCOM_BASE_URL": url})


def test_missing_secret_id_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="INTERCOM_TOKEN_SECRET_ID"):
        Settings.from_env({})


def test_at_most_five_attempts() -> None:
    with pytest.raises(ConfigurationError, match="INTERCOM_MAX_ATTEMPTS"):
        Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "INTERCOM_MAX_ATTEMPTS": "6"})


def test_tls_verification_is_never_turned_off() -> None:
    # The one connection pool keeps urllib3's default, certificate verification required
    from intercom_contacts.intercom.client import POOL

    assert POOL.connection_pool_kw.get("cert_reqs") in (None, "CERT_REQUIRED")
    assert "assert_hostname" not in POOL.connection_pool_kw


def test_the_apis_share_of_the_rate_limit_is_a_percentage_up_to_half() -> None:
    share = Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "API_RATE_LIMIT_SHARE": "7.5"})
    assert share.api_rate_limit_share == 7.5
    assert Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s"}).api_rate_limit_share is None
    with pytest.raises(ConfigurationError, match="API_RATE_LIMIT_SHARE"):
        Settings.from_env({"INTERCOM_TOKEN_SECRET_ID": "s", "API_RATE_LIMIT_SHARE": "60"})
