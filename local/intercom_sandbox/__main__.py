"""`python -m local.intercom_sandbox`: the sandbox on its own, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from local.intercom_sandbox.server import IntercomSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Intercom contacts API sandbox")
    parser.add_argument("--port", type=int, default=8111)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--open-reads", action="store_true")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    args = parser.parse_args(argv)
    sandbox = IntercomSandbox(
        token=args.token,
        port=args.port,
        rate_limit=args.rate_limit,
        open_reads=args.open_reads,
        tls=args.tls,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with sandbox:
        print(f"Intercom sandbox on {sandbox.url}", flush=True)
        if args.tls:
            print(f"Trust its certificate: {sandbox.ca_file}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


if __name__ == "__main__":
    main()
