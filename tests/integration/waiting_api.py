"""The API function in a process of its own whose calls to Intercom find the rate-limit window spent by
other callers: it says so on stdout each time it waits for its turn, for the test that kills it there.
`python -m tests.integration.waiting_api TIMEOUT_SECONDS < event.json`"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

from intercom_contacts import services
from local.functions import LocalContext

TURN_WAIT_SECONDS = 1.5


class SpentWindow:
    """A gate that never lets a call go: each ask is told to wait a while longer."""

    def acquire(self) -> float:
        print("waiting for a turn", flush=True)
        return TURN_WAIT_SECONDS

    def release(self, headers: Mapping[str, str] | None) -> None:
        """No call ever goes, so none is given back."""


if __name__ == "__main__":
    services.rate_limit_gate = lambda settings: SpentWindow()  # before the handler builds its client
    from intercom_contacts.handlers import api

    context = LocalContext("CreateContactFunction", float(sys.argv[1]))
    print(json.dumps(api.lambda_handler(json.load(sys.stdin), context)), flush=True)
