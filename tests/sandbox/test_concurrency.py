"""Many clients at once: the sandbox queues every connection instead of refusing it.

The service's load tests and a worker batch open dozens of connections together; a listen backlog
of 5 (http.server's default) leaves most of their SYNs dropped and retried a second later.
"""

from __future__ import annotations

import threading
from collections import Counter

import urllib3

from local.intercom_sandbox import IntercomSandbox
from tests.conftest import TOKEN

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
CLIENTS = 64


def test_64_clients_connecting_at_once_are_all_answered(sandbox: IntercomSandbox) -> None:
    # Given 64 clients, each with its own connection and a connect timeout well under a SYN retry
    port = int(sandbox.url.rsplit(":", 1)[1])
    timeout = urllib3.Timeout(connect=0.5, read=10)
    pools = [
        urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False, timeout=timeout) for _ in range(CLIENTS)
    ]
    start = threading.Barrier(CLIENTS)
    outcomes: list[int | str] = []

    def call(pool: urllib3.HTTPConnectionPool) -> None:
        start.wait()
        try:
            outcomes.append(pool.request("GET", "/contacts", headers=HEADERS).status)
        except urllib3.exceptions.HTTPError as error:
            outcomes.append(type(error).__name__)

    # When they all connect and ask at the same moment
    threads = [threading.Thread(target=call, args=(pool,)) for pool in pools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one is connected and answered
    assert Counter(outcomes) == {200: CLIENTS}
