"""What a warm container has learnt from Intercom about companies and tags (their Intercom ids), so
that the records that share a company or a tag cost one look-up between them, not one each."""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable

MAX_ENTRIES = 10_000  # the least recently used beyond this are forgotten (and looked up again if needed)
STRIPES = 64  # locks that one look-up per key at a time takes; keys that share one wait for each other


class IdCache[V]:
    """Thread-safe (the worker handles a batch's records on threads). While one thread looks a key up,
    the others that want it wait for its answer instead of asking Intercom too, each no longer than
    its own deadline allows: one that cannot wait looks it up itself."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._lookups = [threading.Lock() for _ in range(STRIPES)]

    def get(self, key: str, look_up: Callable[[], V], *, usable: Callable[[V], bool], deadline: float) -> V:
        """The value kept for `key` if `usable` accepts it, else `look_up()`'s, kept from then on."""
        if (kept := self._kept(key, usable)) is not None:
            return kept
        lookup = self._lookups[zlib.crc32(key.encode()) % STRIPES]
        wait = min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX)
        waited = lookup.acquire(timeout=wait)
        try:
            if waited and (kept := self._kept(key, usable)) is not None:
                return kept  # another thread looked it up while this one waited
            value = look_up()
            with self._lock:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
            return value
        finally:
            if waited:
                lookup.release()

    def forget(self, key: str) -> None:
        """Intercom no longer knows the kept value (the company or tag was deleted there)."""
        with self._lock:
            self._entries.pop(key, None)

    def _kept(self, key: str, usable: Callable[[V], bool]) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None or not usable(value):
                return None
            self._entries.move_to_end(key)
            return value
