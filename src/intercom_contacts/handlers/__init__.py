"""The Lambda entry points.

Importing one loads some 650 modules, and nothing they create is garbage, yet the cycle collector
runs full passes over that growing heap while they load: about 30 ms of every cold start
(docs/performance.md). So it is paused from here until the handler module has loaded; each handler
module calls `loaded()` as its last statement.
"""

import gc

gc.disable()


def loaded() -> None:
    gc.freeze()  # what the imports built lives as long as the container: later passes skip it
    gc.enable()
