"""The Intercom client's rate-limit gate against the sandbox over HTTP: every attempt takes one turn and
gives it back once, answered or not, so a brownout (answers without rate-limit headers, timeouts)
leaves nothing behind that holds the worker's later calls back."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import pytest

from intercom_contacts import services
from intercom_contacts.config import get_settings
from intercom_contacts.errors import ContactError, IntercomRateLimited
from intercom_contacts.intercom.client import IntercomClient
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import TOKEN, Configure
from tests.integration.conftest import USER


@pytest.mark.parametrize("fault", ["503 without rate-limit headers", "read timeout"])
def test_after_a_brownout_the_workers_client_keeps_calling_intercom(
    configure: Configure, sandbox: IntercomSandbox, fault: str
) -> None:
    # Given the worker's client (paced), which has learned from two answers in successive windows
    # that Intercom allows 5 calls a second
    configure(API_RATE_LIMIT_SHARE="0", INTERCOM_MAX_ATTEMPTS="5", INTERCOM_READ_TIMEOUT="0.2")
    sandbox.set_rate_limit(5, window_seconds=1.0)
    contact_id = sandbox.seed_contact(**USER)["id"]
    client = services.intercom_client()
    client.get_contact(contact_id, deadline=time.monotonic() + 5)
    time.sleep(math.ceil(time.time()) - time.time() + 0.05)  # into the next window
    client.get_contact(contact_id, deadline=time.monotonic() + 5)
    # ... and whose next 10 attempts (twice the window) went without an answer that described it
    if fault == "read timeout":
        sandbox.delay_next(10, 0.6)
    else:
        sandbox.fail_next(10, 503, method="GET")
    for _ in range(2):
        with pytest.raises(ContactError):
            client.get_contact(contact_id, deadline=time.monotonic() + 5)
    # When Intercom is well again and the worker calls it
    contact = client.get_contact(contact_id, deadline=time.monotonic() + 5)
    # Then the call reaches Intercom and is answered, instead of waiting for a turn that never comes
    assert contact["id"] == contact_id


class CountingGate:
    """A gate that lets every call go, and counts them and the answers it is given back."""

    def __init__(self) -> None:
        self.went = 0
        self.given_back: list[Mapping[str, str] | None] = []

    def acquire(self) -> float:
        self.went += 1
        return 0.0

    def release(self, headers: Mapping[str, str] | None) -> None:
        self.given_back.append(headers)


class Token:
    def get(self, *, refresh: bool = False) -> str:
        return TOKEN


def test_an_answer_the_retries_ran_out_on_is_given_back_once(
    service_env: LocalAws, sandbox: IntercomSandbox
) -> None:
    # Given a window of one call per 30 s, spent by a first call well before the window resets (the
    # sandbox's windows are aligned to the clock: one that reset within the deadline would be waited for)
    sandbox.set_rate_limit(1, window_seconds=30.0)
    if (into_window := time.time() % 30) > 20:
        time.sleep(30 - into_window + 0.1)
    contact_id = sandbox.seed_contact(**USER)["id"]
    gate = CountingGate()
    client = IntercomClient(get_settings(), Token(), gate=gate)
    client.get_contact(contact_id, deadline=time.monotonic() + 5)
    # When the next call meets Intercom's 429, and waiting for the reset would pass its deadline
    with pytest.raises(IntercomRateLimited):
        client.get_contact(contact_id, deadline=time.monotonic() + 5)
    # Then each of the two calls that went was given back once, with its answer's headers
    assert gate.went == 2
    assert [headers is not None and headers["X-RateLimit-Remaining"] for headers in gate.given_back] == [
        "0",
        "0",
    ]
