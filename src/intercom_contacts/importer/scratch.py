"""The import's scratch directory (the ledger's SQLite file, several times the file's size), in the temp
directory. A run killed with kill -9 cannot remove its own, so each run first removes those that no
running import holds: each holds an flock on its directory's lock file, which the kernel releases when
the process dies, however it dies."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "intercom-contacts-import-"
LOCK = "lock"
LEDGER = "rows.sqlite"  # created only once the lock is held: a directory without it is left alone


@contextmanager
def scratch_directory() -> Iterator[Path]:
    """A new scratch directory, locked while the import runs and removed after it."""
    remove_abandoned()
    with tempfile.TemporaryDirectory(prefix=PREFIX) as name, (Path(name) / LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield Path(name)


def remove_abandoned() -> None:
    for directory in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        if not (directory / LEDGER).exists():
            continue
        try:
            with (directory / LOCK).open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(directory, ignore_errors=True)
        except OSError:  # locked by a running import, or another user's
            continue
