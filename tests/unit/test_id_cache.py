"""The per-container cache of Intercom ids: one look-up per key, bounded, never waiting past a deadline."""

from __future__ import annotations

import math
import threading
import time

from intercom_contacts.intercom.id_cache import IdCache


def test_a_caller_that_cannot_wait_for_another_threads_look_up_makes_its_own() -> None:
    # Given a thread whose look-up of a key has not answered yet
    cache: IdCache[str] = IdCache()
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait()
        return "from the slow thread"

    first = threading.Thread(
        target=cache.get, args=("acme", slow), kwargs={"usable": lambda _: True, "deadline": math.inf}
    )
    first.start()
    started.wait()
    # When another caller, whose deadline has passed, wants the same key (should it wait instead, the
    # slow thread answers after 5 s, and the caller gets that answer)
    safety = threading.Timer(5.0, release.set)
    safety.start()
    value = cache.get("acme", lambda: "its own", usable=lambda _: True, deadline=time.monotonic())
    safety.cancel()
    release.set()
    first.join()
    # Then it looked it up itself instead of waiting
    assert value == "its own"


def test_the_least_recently_used_key_is_forgotten_beyond_the_bound() -> None:
    # Given a cache of two keys, holding a and b, then a used again
    cache: IdCache[str] = IdCache(max_entries=2)
    looked_up: list[str] = []

    def get(key: str) -> str:
        def look_up() -> str:
            looked_up.append(key)
            return key

        return cache.get(key, look_up, usable=lambda _: True, deadline=math.inf)

    for key in ("a", "b", "a", "c", "a", "b"):
        get(key)
    # Then c pushed out b (the least recently used), so only b was looked up twice
    assert looked_up == ["a", "b", "c", "b"]
