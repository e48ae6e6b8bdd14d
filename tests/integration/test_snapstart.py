"""SnapStart's runtime hooks, run the way Lambda's Python runtime runs them (awslambdaric's
lambda_runtime_hooks_runner): before the snapshot in reverse order of registration, after a restore in
order. Between the two, nothing the snapshot holds may be a secret, a connection or a shared seed."""

from __future__ import annotations

import random

import pytest
import snapshot_restore_py

from intercom_contacts import services
from intercom_contacts.config import get_settings
from intercom_contacts.handlers import api
from intercom_contacts.snapstart import prime, reseed
from local.intercom_sandbox import IntercomSandbox
from tests.integration.conftest import LEAD, CallApi


def _before_snapshot() -> None:
    for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        func(*args, **kwargs)


def _after_restore() -> None:
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


def test_the_api_handler_registers_both_hooks() -> None:
    assert (prime, (api.build_for_requests,), {}) in snapshot_restore_py.get_before_snapshot()
    assert (reseed, (), {}) in snapshot_restore_py.get_after_restore()


def test_the_snapshot_holds_the_clients_but_no_token_and_no_connection(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the hooks ran before the snapshot
    _before_snapshot()
    # Then the clients a first request needs are built
    assert services.intercom_client.cache_info().currsize == 1
    assert services.secrets_provider.cache_info().currsize == 1
    # And nothing was read or sent: no token in the snapshot
    reads: list[int] = []
    services.secrets_provider().client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append(1)
    )
    assert sandbox.requests == []
    # When the environment is restored and takes its first request
    _after_restore()
    answer = call_api(LEAD)
    # Then the token is read then, once, and the contact is created with the primed clients
    assert answer.status == 201
    assert reads == [1]
    assert [request.json for request in sandbox.requests_to("POST", "/contacts")] == [LEAD]


def test_environments_restored_from_one_snapshot_draw_different_jitter() -> None:
    # Given two environments restored from one snapshot: the same generator state
    random.seed(20261124)
    without_hook = [random.random() for _ in range(3)]
    random.seed(20261124)
    # When the after-restore hooks run
    _after_restore()
    # Then the retry jitter drawn next is not the snapshot's sequence
    assert [random.random() for _ in range(3)] != without_hook


def test_a_misconfigured_function_still_snapshots_and_answers_with_the_configuration_error(
    call_api: CallApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function deployed without its secret's id
    monkeypatch.delenv("INTERCOM_TOKEN_SECRET_ID")
    get_settings.cache_clear()
    # When the hooks run before the snapshot, they do not raise (that would fail the publication)
    _before_snapshot()
    # Then the first request explains what is wrong
    answer = call_api(LEAD)
    assert (answer.status, answer.body["code"]) == (500, "CONFIGURATION_ERROR")
