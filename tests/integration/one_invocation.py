"""One invocation in a process of its own, as a Lambda environment runs it, for tests that kill it:
`python -m tests.integration.one_invocation HANDLER FUNCTION_NAME TIMEOUT_SECONDS < event.json`."""

from __future__ import annotations

import importlib
import json
import sys

from local.functions import LocalContext

if __name__ == "__main__":
    module, _, name = sys.argv[1].rpartition(".")
    handler = getattr(importlib.import_module(module), name)
    context = LocalContext(sys.argv[2], float(sys.argv[3]))
    print(json.dumps(handler(json.load(sys.stdin), context)), flush=True)
