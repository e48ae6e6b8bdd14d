"""The retry policy: urllib3's Retry with Intercom's rate-limit headers, jitter and a deadline."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from urllib3 import HTTPResponse
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError

from intercom_contacts.errors import IntercomRateLimited
from intercom_contacts.intercom.rate_limit import RateLimitGate
from intercom_contacts.intercom.retry import (
    RETRY_STATUSES,
    DeadlineTimeout,
    IntercomRetry,
    Turns,
    retry_after_seconds,
    wait_for_turn,
)


def _response(status: int, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(body=b"{}", status=status, headers=headers or {}, preload_content=True)


def _policy(deadline: float = float("inf"), **kwargs: object) -> IntercomRetry:
    options: dict[str, object] = {
        "total": 4,
        "status_forcelist": RETRY_STATUSES,
        "allowed_methods": None,
        "backoff_factor": 0.25,
        "backoff_max": 8.0,
        "raise_on_status": False,
        **kwargs,
    }
    return IntercomRetry(deadline=deadline, turns=Turns(RateLimitGate(), deadline), **options)


def test_backoff_doubles_with_jitter_between_half_and_all_of_the_step() -> None:
    # Given a policy with a 0.25 s factor, after 1..4 failures
    retry = _policy()
    ceilings = []
    for _ in range(4):
        retry = retry.increment("POST", "/contacts", response=_response(503))
        ceilings.append(retry.planned_wait)
    # Then each wait is within [step/2, step] of 0.25, 0.5, 1, 2
    for wait, step in zip(ceilings, [0.25, 0.5, 1.0, 2.0], strict=True):
        assert step / 2 <= wait <= step


def test_five_attempts_in_all() -> None:
    # Given a policy allowing 4 retries (5 attempts)
    retry = _policy(backoff_factor=0)
    for _ in range(4):
        retry = retry.increment("POST", "/contacts", response=_response(500))
    # When the fifth attempt fails too
    # Then there is no sixth
    with pytest.raises(MaxRetryError):
        retry.increment("POST", "/contacts", response=_response(500))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_other_than_408_and_429_are_not_retried(status: int) -> None:
    assert not _policy().is_retry("POST", status)


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_408_429_and_5xx_are_retried(status: int) -> None:
    assert _policy().is_retry("POST", status)


def test_a_429_waits_for_intercoms_reset_time() -> None:
    # Given a 429 whose window resets in 3 seconds
    reset = int(time.time()) + 3
    response = _response(429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    # When the policy plans the retry
    retry = _policy().increment("POST", "/contacts", response=response)
    # Then it waits until the reset, not a short backoff
    assert 1.5 < retry.planned_wait <= 3.0


def test_a_429_waits_until_the_reset_on_intercoms_clock_not_ours() -> None:
    # Given our clock runs 3 s ahead of Intercom's, and a 429 sent 4 s before its window resets
    sent = int(time.time()) - 3
    headers = {
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(sent + 4),
        "Date": formatdate(sent, usegmt=True),
    }
    # When the wait is read from it
    # Then it is the 4 s Intercom has left, not the 1 s our clock would say
    assert retry_after_seconds(429, headers) == pytest.approx(4.0)


def test_retry_after_is_honoured() -> None:
    retry = _policy().increment("POST", "/contacts", response=_response(503, {"Retry-After": "2"}))
    assert retry.planned_wait == 2.0


def test_a_wait_past_the_deadline_is_not_taken() -> None:
    # Given a deadline 1 second away and a 429 asking for 5 seconds
    response = _response(429, {"Retry-After": "5"})
    retry = _policy(deadline=time.monotonic() + 1.0)
    # When the policy plans the retry
    # Then it gives up instead of sleeping past the deadline
    with pytest.raises(MaxRetryError):
        retry.increment("POST", "/contacts", response=response)


def test_a_lost_answer_is_not_resent_when_read_retries_are_off() -> None:
    # Given a policy for a request that must not be resent after it was sent (a lead)
    retry = _policy(read=False)
    # When the answer is lost
    # Then the error comes back instead of a resend
    with pytest.raises(ProtocolError):
        retry.increment("POST", "/contacts", error=ProtocolError("connection dropped"))
    with pytest.raises(ReadTimeoutError):
        retry.increment("POST", "/contacts", error=ReadTimeoutError(None, "/contacts", "timed out"))  # type: ignore[arg-type]


def test_retry_after_seconds_takes_the_longer_of_both_headers() -> None:
    reset = int(time.time()) + 4
    headers = {"Retry-After": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    wait = retry_after_seconds(429, headers)
    assert wait is not None
    assert 2.5 < wait <= 4


def test_retry_after_seconds_ignores_garbage() -> None:
    assert retry_after_seconds(503, {"Retry-After": "soon", "X-RateLimit-Reset": "x"}) is None


def test_the_gate_spends_the_windows_calls_then_waits_for_the_reset() -> None:
    # Given Intercom said 2 calls remain in a window resetting in 5 s
    gate = RateLimitGate()
    gate.release({"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": str(int(time.time()) + 5)})
    # When three calls ask to go
    waits = [gate.acquire() for _ in range(3)]
    # Then two go now and the third waits for the reset
    assert waits[:2] == [0.0, 0.0]
    assert 3.5 < waits[2] <= 5


def test_the_gate_ignores_a_stale_window_and_missing_headers() -> None:
    gate = RateLimitGate()
    gate.release({})
    gate.release({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) - 1)})
    assert gate.acquire() == 0.0


def test_the_gate_keeps_the_lowest_remaining_of_a_window() -> None:
    gate = RateLimitGate()
    reset = str(int(time.time()) + 5)
    gate.release({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    gate.release({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": reset})  # an older answer arriving late
    assert gate.acquire() > 0


def test_each_attempt_gets_at_most_the_time_left() -> None:
    # Given a 10 s read timeout and 2 s left before the deadline
    timeout = DeadlineTimeout(connect=3.05, read=10.0, deadline=time.monotonic() + 2.0)
    # When urllib3 clones it for an attempt and reads it
    attempt = timeout.clone()
    # Then both timeouts are cut to what is left
    assert 1.5 < attempt.read_timeout <= 2.0
    assert 1.5 < attempt.connect_timeout <= 2.0


def test_a_timeout_past_the_deadline_is_tiny_not_zero() -> None:
    # urllib3 takes a read timeout of 0 for "already timed out" before reading: keep it positive
    timeout = DeadlineTimeout(connect=3.05, read=10.0, deadline=time.monotonic() - 1.0)
    assert 0 < timeout.clone().read_timeout <= 0.001


def test_no_retry_starts_without_time_for_an_answer() -> None:
    # Given less than a second left and an immediate retry allowed
    retry = _policy(deadline=time.monotonic() + 0.8, backoff_factor=0)
    # When an attempt fails
    # Then no further attempt starts
    with pytest.raises(MaxRetryError):
        retry.increment("POST", "/contacts", response=_response(503))


class TurnAfter:
    """A gate that lets a call go only after `waits` refusals of 10 ms each."""

    def __init__(self, waits: int) -> None:
        self.waits = waits
        self.asked = 0

    def release(self, headers: object) -> None:
        pass

    def acquire(self) -> float:
        self.asked += 1
        return 0.01 if self.asked <= self.waits else 0.0


def test_a_retry_takes_its_turn_at_the_gate() -> None:
    # Given a gate that makes the next call wait twice (the worker's pacing)
    gate = TurnAfter(2)
    retry = IntercomRetry(
        total=1, status_forcelist=RETRY_STATUSES, allowed_methods=None, turns=Turns(gate, float("inf"))
    )
    retry = retry.increment("POST", "/contacts", response=_response(503))
    # When urllib3 sleeps before the retry
    retry.sleep()
    # Then the retry went only once the gate let it
    assert gate.asked == 3


def test_a_turn_that_would_pass_the_deadline_is_not_waited_for() -> None:
    # Given a gate that will not let a call go for a while, and 1.5 s left
    gate = TurnAfter(1000)
    # When a call asks for its turn
    # Then it is answered as rate limited at once, with a Retry-After, instead of waiting past the deadline
    with pytest.raises(IntercomRateLimited) as raised:
        wait_for_turn(gate, deadline=time.monotonic() + 1.005)
    assert raised.value.retry_after == 1
    assert gate.asked == 1
