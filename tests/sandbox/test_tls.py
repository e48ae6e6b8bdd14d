"""The sandbox over HTTPS, with a self-signed certificate a client trusts through `ca_file`."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from urllib3.exceptions import SSLError

from local.intercom_sandbox import IntercomSandbox
from tests.conftest import TOKEN

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[IntercomSandbox]:
    with IntercomSandbox(token=TOKEN, tls=True) as sandbox:
        yield sandbox


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_client_trusting_the_ca_file_is_answered(tls_sandbox: IntercomSandbox, host: str) -> None:
    # Given a client that trusts only the sandbox's CA file
    client = urllib3.PoolManager(ca_certs=tls_sandbox.ca_file, retries=False, timeout=5)
    url = tls_sandbox.url.replace("127.0.0.1", host)
    # When it calls the sandbox over HTTPS, by address or by name
    answer = client.request("GET", url + "/contacts", headers=HEADERS)
    # Then the certificate is verified (hostname included) and Intercom answers
    assert tls_sandbox.url.startswith("https://127.0.0.1:")
    assert answer.status == 200


def test_a_client_trusting_nothing_refuses_the_certificate(tls_sandbox: IntercomSandbox) -> None:
    # Given a client that verifies certificates but trusts no authority at all
    client = urllib3.PoolManager(ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), retries=False)
    # When it calls the sandbox, then the handshake fails on the certificate
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        client.request("GET", tls_sandbox.url + "/contacts", headers=HEADERS)


def test_the_certificate_files_are_removed_on_stop() -> None:
    # Given a TLS sandbox, started then stopped
    with IntercomSandbox(token=TOKEN, tls=True) as sandbox:
        ca_file = Path(sandbox.ca_file)
        assert ca_file.is_file()
    # Then its temporary directory is gone
    assert not ca_file.parent.exists()


def test_the_cli_serves_https_and_prints_the_ca_file() -> None:
    # Given the sandbox started from the command line with --tls
    process = subprocess.Popen(
        [sys.executable, "-m", "local.intercom_sandbox", "--tls", "--port", "0", "--token", TOKEN],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        ca_file = process.stdout.readline().split()[-1]
        # When a client trusts the file it printed
        client = urllib3.PoolManager(ca_certs=ca_file, retries=False, timeout=5)
        # Then that client is answered over HTTPS
        assert client.request("GET", url + "/contacts", headers=HEADERS).status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    # And the file is gone once the sandbox has stopped
    assert not Path(ca_file).exists()
