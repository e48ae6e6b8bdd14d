"""The Lambda entry points.

Importing this package turns the cycle collector off. Importing a handler loads some 650 modules, and
nothing they create is garbage, yet the collector runs full passes over that growing heap while they
load: about 30 ms of every cold start (docs/performance.md). Each handler module calls
`resume_garbage_collection()` as its last statement.
"""

import gc

gc.disable()


def resume_garbage_collection() -> None:
    gc.freeze()  # what the imports built lives as long as the container: later passes skip it
    gc.enable()
