"""How much of an invocation the Intercom work leaves for the AWS calls after it (issue 21, item 9)."""

from __future__ import annotations

import time

import pytest

from intercom_contacts.services import AWS_CALL_SECONDS, SETTLE_RESERVE_SECONDS, intercom_deadline
from tests.conftest import FakeLambdaContext


def _kept_after(remaining_seconds: float) -> float:
    before = time.monotonic()
    deadline = intercom_deadline(FakeLambdaContext(remaining_millis=int(remaining_seconds * 1000)))
    return remaining_seconds - (deadline - before)


def test_the_api_keeps_one_aws_calls_worst_case_after_intercom() -> None:
    # Given the API's 29 s (API Gateway's limit)
    kept = _kept_after(29)
    # Then its Intercom work leaves a third: Powertools' save or the event fits in its worst case
    assert kept >= AWS_CALL_SECONDS
    assert kept == pytest.approx(29 / 3, abs=0.05)


def test_the_worker_keeps_its_whole_settling_reserve() -> None:
    # Given the worker's 60 s
    # Then its Intercom work leaves the save and one more call's worst case, plus the margin to answer
    assert _kept_after(60) == pytest.approx(SETTLE_RESERVE_SECONDS, abs=0.05)


def test_a_short_invocation_still_calls_intercom() -> None:
    # Given only 3 s left
    # Then Intercom still gets two of them
    assert _kept_after(3) == pytest.approx(1, abs=0.05)
