"""Intercom over HTTPS: the client's connections share one TLS context built at import, loaded with
the CA bundle the environment names (SSL_CERT_FILE), and still refuse a certificate nobody trusts.
Each case runs in a fresh interpreter, since the context is built when the module is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.intercom_sandbox import IntercomSandbox

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tls-token"
CREATE_A_LEAD = """
import json, sys, time
from intercom_contacts.config import Settings
from intercom_contacts.errors import ContactError
from intercom_contacts.intercom.client import IntercomClient

class Token:
    def get(self, *, refresh=False):
        return sys.argv[2]

settings = Settings(INTERCOM_TOKEN_SECRET_ID="unused", INTERCOM_BASE_URL=sys.argv[1], INTERCOM_MAX_ATTEMPTS=1)
try:
    contact = IntercomClient(settings, Token()).create_contact(
        {"role": "lead", "email": "tls@example.com"}, deadline=time.monotonic() + 10, resend_after_loss=False
    )
    print(json.dumps({"id": contact["id"]}))
except ContactError as error:
    print(json.dumps({"code": error.code}))
"""


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[IntercomSandbox]:
    with IntercomSandbox(token=TOKEN, tls=True) as sandbox:
        yield sandbox


def _create_a_lead(sandbox: IntercomSandbox, **env: str) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SSL_CERT")}
    answer = subprocess.run(
        [sys.executable, "-c", CREATE_A_LEAD, sandbox.url, TOKEN],
        env={**clean, "PYTHONPATH": str(REPO_ROOT / "src"), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, str] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


def test_a_contact_is_created_over_https_trusting_the_environments_ca_bundle(
    tls_sandbox: IntercomSandbox,
) -> None:
    # Given the function's environment trusts the sandbox's certificate
    # When a lead is created over HTTPS
    result = _create_a_lead(tls_sandbox, SSL_CERT_FILE=tls_sandbox.ca_file)
    # Then Intercom created it
    assert result["id"] in {contact["id"] for contact in tls_sandbox.contacts.values()}


def test_a_certificate_nobody_trusts_is_refused(tls_sandbox: IntercomSandbox) -> None:
    # Given the function trusts only the system's roots, not the sandbox's self-signed certificate
    requests_before = len(tls_sandbox.requests)
    # When a lead is created over HTTPS
    result = _create_a_lead(tls_sandbox)
    # Then nothing is sent: the connection fails as Intercom being unreachable
    assert result == {"code": "INTERCOM_UNAVAILABLE"}
    assert len(tls_sandbox.requests) == requests_before
