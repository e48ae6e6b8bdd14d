"""The worker's pacing: calls spread over Intercom's rate-limit window from its headers alone, the API's
share left, and a fleet of containers that together spend the window without a 429. A fake clock makes
every figure exact."""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Sequence
from email.utils import formatdate

import pytest

from intercom_contacts.config import Settings
from intercom_contacts.intercom.rate_limit import PacedGate, RateLimitGate
from intercom_contacts.services import rate_limit_gate

T0 = 1_700_000_000.0  # a window boundary (a multiple of 10 s)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(reset)),
    }


def _alone(clock: Clock, *, limit: int = 100, reserve: float = 0.0) -> PacedGate:
    """A gate that has had one answer: the whole window is its own, resetting in 10 s."""
    gate = PacedGate(reserve, clock=clock)
    assert gate.acquire() == 0.0
    gate.release(_headers(limit, limit - 1, clock.now + 10))
    return gate


def test_a_cold_container_sends_one_call_until_the_first_answer() -> None:
    # Given a container that has never had an answer from Intercom
    clock = Clock()
    gate = PacedGate(clock=clock)
    # When its threads ask to call
    first, second = gate.acquire(), gate.acquire()
    # Then one goes and the others wait for its answer
    assert first == 0.0
    assert second > 0
    gate.release(_headers(100, 99, T0 + 10))
    assert gate.acquire() == 0.0


def test_calls_are_spread_over_the_time_left_in_the_window() -> None:
    # Given a container alone with 99 calls left and 10 s until the reset
    clock = Clock()
    gate = _alone(clock)
    # When two calls ask to go at once
    first, second = gate.acquire(), gate.acquire()
    # Then the second waits its turn: 10 s over 99 calls
    assert first == 0.0
    assert second == pytest.approx(10 / 99)


def test_the_api_share_of_the_window_is_left_unspent() -> None:
    # Given a worker leaving 10% to the API, in a window of 100 with 11 calls left
    clock = Clock()
    gate = PacedGate(0.10, clock=clock)
    gate.acquire()
    gate.release(_headers(100, 11, T0 + 4))
    # When it has made the one call above the API's 10
    assert gate.acquire() == 0.0
    clock.now += 1
    # Then the next waits for the reset
    assert gate.acquire() == pytest.approx(3.0)


def test_a_new_window_starts_paced_not_with_a_burst() -> None:
    # Given a container alone whose window has just reset, with no answer from the new one yet
    clock = Clock()
    gate = _alone(clock)
    clock.now = T0 + 10
    # When two calls ask to go at once
    first, second = gate.acquire(), gate.acquire()
    # Then the new window, full and 10 s long, is paced from its first call
    assert first == 0.0
    assert second == pytest.approx(10 / 100)


def test_the_pace_slows_when_other_callers_have_spent_the_window() -> None:
    # Given two containers that were alone in the last window, told at the same moment of the new
    # one that 90 calls are left, and 30 (other callers spent the rest)
    clock = Clock()
    plenty, little = _alone(clock), _alone(clock)
    clock.now = T0 + 10
    for gate, remaining in ((plenty, 90), (little, 30)):
        gate.release(_headers(100, remaining, T0 + 20))
        gate.acquire()
    # When each asks for its next call
    # Then the one that sees less left waits three times as long
    assert little.acquire() == pytest.approx(3 * plenty.acquire())


def test_a_container_paces_at_its_share_of_the_fleets_calls() -> None:
    # Given a container whose 10 answered calls were a quarter of the window's 40
    clock = Clock()
    gate = PacedGate(clock=clock)
    gate.acquire()
    for answered in range(1, 11):
        gate.release(_headers(1000, 1000 - 4 * answered, T0 + 10))
    # When the next window starts, full and 10 s long
    clock.now = T0 + 10
    gate.acquire()
    # Then it paces at a quarter of the window's rate: 4 x (10 s / 1000 calls)
    assert gate.acquire() == pytest.approx(4 * 10 / 1000)


def test_the_window_length_is_learned_from_successive_resets() -> None:
    # Given Intercom's answers show windows resetting every second
    clock = Clock()
    gate = PacedGate(clock=clock)
    gate.acquire()
    gate.release(_headers(50, 49, T0 + 1))
    clock.now = T0 + 1
    gate.acquire()
    gate.release(_headers(50, 49, T0 + 2))
    # When the next window starts with no answer yet
    clock.now = T0 + 2
    gate.acquire()
    # Then it is paced as one second long, not Intercom's usual ten
    assert gate.acquire() == pytest.approx(1 / 50)


def test_a_late_answer_from_a_window_that_is_over_changes_nothing() -> None:
    # Given a container in a new window with 99 calls left
    clock = Clock(T0 + 10)
    gate = _alone(clock)
    gate.acquire()
    paced = gate.acquire()
    # When an answer from the previous window arrives late, saying it was spent
    gate.release(_headers(100, 0, T0 + 10))
    # Then the pace is the same
    assert gate.acquire() == pytest.approx(paced)


def test_an_idle_container_does_not_burst_to_catch_up() -> None:
    # Given a container alone that made no call for 5 s of its window
    clock = Clock()
    gate = _alone(clock)
    gate.acquire()
    clock.now += 5
    # When three calls ask to go
    waits = [gate.acquire() for _ in range(3)]
    # Then only the first goes at once: missed turns are not made up
    assert waits[0] == 0.0
    assert waits[1] > 0
    assert waits[2] > 0


def test_calls_that_got_no_answer_do_not_hold_back_later_windows() -> None:
    # Given a container alone in windows of 10 calls, whose next 30 calls all went without an answer
    # that described the window (timeouts, dropped connections, 503s without rate-limit headers)
    clock = Clock()
    gate = _alone(clock, limit=10)
    for _ in range(30):
        while (wait := gate.acquire()) > 0:
            clock.now += wait
        gate.release(None)
    # When a later window starts and the container calls again
    clock.now = math.ceil((clock.now + 10) / 10) * 10
    waits = [gate.acquire() for _ in range(2)]
    # Then those calls are over and count against nothing: the window is paced as a full one
    assert waits == [0.0, pytest.approx(10 / 10)]


def test_the_reset_is_timed_on_intercoms_clock_not_ours() -> None:
    # Given a container whose clock runs 3 s ahead of Intercom's, told at 10 s before a reset that 99
    # calls are left
    clock = Clock(T0 + 3)
    gate = PacedGate(clock=clock)
    gate.acquire()
    gate.release({**_headers(100, 99, T0 + 10), "Date": formatdate(T0, usegmt=True)})
    # When two calls ask to go at once
    first, second = gate.acquire(), gate.acquire()
    # Then the second waits its turn over the 10 s Intercom has left, not the 7 s ours would say
    assert first == 0.0
    assert second == pytest.approx(10 / 99)


def test_a_spent_window_is_waited_out_until_intercoms_reset() -> None:
    # Given a container whose clock runs 3 s ahead of Intercom's, and a window spent 5 s before its
    # reset
    clock = Clock(T0 + 3)
    gate = PacedGate(clock=clock)
    gate.acquire()
    gate.release({**_headers(100, 0, T0 + 5), "Date": formatdate(T0, usegmt=True)})
    # When a call asks to go
    # Then it waits the 5 s until Intercom's window resets, not the 2 s its own clock would say
    assert gate.acquire() == pytest.approx(5.0)


def test_the_worker_paces_itself_and_the_api_does_not() -> None:
    worker = Settings(INTERCOM_TOKEN_SECRET_ID="s", API_RATE_LIMIT_SHARE=5)
    api = Settings(INTERCOM_TOKEN_SECRET_ID="s")
    assert isinstance(rate_limit_gate(worker), PacedGate)
    assert isinstance(rate_limit_gate(api), RateLimitGate)


# --- a fleet against one window --------------------------------------------------------------------


def _fleet(
    containers: int,
    limit: int,
    *,
    reserve: float,
    threads: int = 10,
    seconds: float = 120,
    latency: tuple[float, float] = (0.02, 0.06),
    skews: Sequence[float] = (),
) -> tuple[Counter[float], int]:
    """Simulate `containers` paced containers, each with `threads` calls in flight at most, against
    one Intercom window of `limit` calls per 10 s (fixed windows, as the sandbox keeps them). Each call
    reaches Intercom `latency` (20-60 ms) after it leaves and its answer comes back as late. With
    `skews`, container n's clock is `skews[n]` seconds off Intercom's, and answers carry a `Date`.
    Returns the calls Intercom accepted per window and how many it answered 429."""
    clock, jitter = Clock(), random.Random(7)
    offsets = list(skews) or [0.0] * containers
    gates = [
        PacedGate(reserve, clock=lambda skew=offsets[n]: clock.now + skew)  # type: ignore[misc]
        for n in range(containers)
    ]
    accepted: Counter[float] = Counter()
    refused = 0
    events: list[tuple[float, int, str, int, dict[str, str]]] = []
    order = 0

    def at(when: float, kind: str, container: int, headers: dict[str, str] | None = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (when, order, kind, container, headers or {}))

    for container in range(containers):
        for _ in range(threads):
            at(T0 + jitter.uniform(0, 0.5), "ask", container)
    while events and events[0][0] < T0 + seconds:
        clock.now, _, kind, container, headers = heapq.heappop(events)
        if kind == "ask":
            wait = gates[container].acquire()
            if wait > 0:
                at(clock.now + wait, "ask", container)
            else:
                at(clock.now + jitter.uniform(*latency), "arrive", container)
        elif kind == "arrive":
            window = math.floor(clock.now / 10) * 10
            if accepted[window] < limit:
                accepted[window] += 1
            else:
                refused += 1
            answer = _headers(limit, limit - accepted[window], window + 10)
            if skews:
                answer["Date"] = formatdate(math.floor(clock.now), usegmt=True)
            at(clock.now + jitter.uniform(*latency), "answer", container, answer)
        else:
            gates[container].release(headers)
            at(clock.now, "ask", container)
    return accepted, refused


@pytest.mark.parametrize(("containers", "limit"), [(1, 100), (4, 200), (10, 100), (10, 2000)])
def test_a_fleet_spends_each_window_up_to_the_api_share_without_a_429(containers: int, limit: int) -> None:
    # Given containers with more work than the limit allows, leaving 5% of each window to the API
    # When they call Intercom for two minutes, each pacing itself from the answers' headers
    accepted, refused = _fleet(containers, limit, reserve=0.05)
    # Then Intercom refuses no call, and every full window after the first is spent to at least 90%,
    # leaving at least half the API's share
    assert refused == 0
    steady = [accepted[window] for window in sorted(accepted)[1:-1]]
    assert all(0.90 * limit <= calls <= 0.975 * limit for calls in steady), steady


def test_slow_answers_do_not_make_a_fleet_overspend_the_window() -> None:
    # Given 10 containers sharing 100 calls a window, and answers that take 0.2-0.8 s each way: a
    # container's view of Remaining is that late, and calls sent at the end of one window arrive in
    # the next
    # When the fleet calls Intercom for two minutes
    accepted, refused = _fleet(10, 100, reserve=0.05, latency=(0.2, 0.8))
    # Then it counts the fleet's calls on their way: at most 2 of its 1,200 calls answered 429 (the
    # fleet that trusted its late views met 9), and every window is still spent to 90%
    assert refused <= 2
    steady = [accepted[window] for window in sorted(accepted)[1:-1]]
    assert all(90 <= calls <= 100 for calls in steady), steady


def test_a_fleet_whose_clocks_are_off_by_seconds_still_gets_no_429() -> None:
    # Given 5 containers whose clocks are 2 s behind to 3 s ahead of Intercom's
    # When they call Intercom for two minutes, each reading the reset against the answers' Date
    accepted, refused = _fleet(5, 200, reserve=0.05, skews=[-2.0, -1.0, 1.0, 2.0, 3.0])
    # Then no call meets a 429, and every full window after the first is still mostly spent
    assert refused == 0
    steady = [accepted[window] for window in sorted(accepted)[1:-1]]
    assert all(0.90 * 200 <= calls <= 0.975 * 200 for calls in steady), steady
