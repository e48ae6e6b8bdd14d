"""The Intercom sandbox in a process of its own, as the local stack runs it.

`INTERCOM_SANDBOX_TOKEN=T python -m local.sandbox_server [--port N] --ready-file F` (the token in
the environment, not argv): reads are open (GET /contacts lists what was created), and F gets the
sandbox's URL once it listens. It listens with a backlog
of 128: the stack's function processes open dozens of connections to it at once, and http.server's
default of 5 resets some of them, and a lead whose connection is reset after it was sent cannot be
resent, so it would be parked as INTERCOM_OUTCOME_UNKNOWN.
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from local.intercom_sandbox import IntercomSandbox
from local.processes import LISTEN_BACKLOG, SANDBOX_TOKEN_VARIABLE, announce_ready, on_stop_signal


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True, help="written with the URL once listening")
    args = parser.parse_args(argv)
    token = os.environ[SANDBOX_TOKEN_VARIABLE]
    # The sandbox serves with http.server's ThreadingHTTPServer, and this process serves nothing else.
    ThreadingHTTPServer.request_queue_size = LISTEN_BACKLOG
    stop = threading.Event()
    on_stop_signal(stop.set)
    with IntercomSandbox(token=token, port=args.port, open_reads=True) as sandbox:
        announce_ready(args.ready_file, sandbox.url)
        stop.wait()


if __name__ == "__main__":
    main()
