"""The local stack's functions get the template's environment; a tunable set in the stack's own
environment wins over its parameter's default, as `sam local invoke --env-vars` would."""

from __future__ import annotations

import pytest

from local.functions import load_function


def test_a_tunable_set_in_the_environment_overrides_its_parameter_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the stack started with LEAD_LOOKUP_WINDOW_SECONDS=5 (the template's default is 600)
    monkeypatch.setenv("LEAD_LOOKUP_WINDOW_SECONDS", "5")
    # When the worker is loaded
    worker = load_function("ContactWorkerFunction", {"ContactsQueue": "http://queue"})
    # Then it gets 5
    assert worker.environment["LEAD_LOOKUP_WINDOW_SECONDS"] == "5"


def test_without_it_the_parameter_default_holds_and_resources_are_never_overridden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no tunable set, and a shell that happens to hold CONTACTS_QUEUE_URL
    monkeypatch.delenv("LEAD_LOOKUP_WINDOW_SECONDS", raising=False)
    monkeypatch.setenv("CONTACTS_QUEUE_URL", "http://somewhere-else")
    # When the worker is loaded
    worker = load_function("ContactWorkerFunction", {"ContactsQueue": "http://queue"})
    # Then the default holds, and the queue is the stack's own
    assert worker.environment["LEAD_LOOKUP_WINDOW_SECONDS"] == "600"
    assert worker.environment["CONTACTS_QUEUE_URL"] == "http://queue"
