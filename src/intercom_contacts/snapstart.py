"""Lambda SnapStart runtime hooks, used when the template's `SnapStart` parameter turns it on.

Before the snapshot: the handler's own init-time build (the AWS clients, the Intercom client and its
TLS context, the idempotency layers, every route's validation models), which holds no secret and no
connection, so restored environments start with it. The token is not read: it must not live in a
snapshot, and its cache age would be wrong after one. After a restore: re-seed `random`. Every
environment restored from one snapshot starts with the same generator state and would otherwise draw
the same retry jitter and retry in step.

`snapshot_restore_py` ships with Lambda's Python runtimes; elsewhere there are no snapshots and
nothing is registered.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def prime(build: Callable[[], None]) -> None:
    """The handler's own init-time build, again: all of it is cached, so this builds only what failed
    at init, and a misconfigured function still snapshots (its first request answers the error)."""
    build()


def reseed() -> None:
    random.seed()  # from os.urandom, which is unique per restored environment


def install(build: Callable[[], None]) -> None:
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot  # noqa: PLC0415
    except ImportError:  # not in Lambda's runtime: no snapshot will be taken
        return
    register_before_snapshot(prime, build)
    register_after_restore(reseed)
