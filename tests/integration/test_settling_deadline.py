"""The AWS calls after the Intercom work (settling, the DLQ) fit in the invocation: the Intercom deadline
keeps time for them, and each call's worst case is bounded by the clients' configuration. The context
counts down as Lambda's does; the bus is an endpoint that accepts connections and never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from intercom_contacts.handlers import worker
from local.events import sqs_event
from local.functions import LocalContext
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import Configure
from tests.integration.conftest import LEAD, WorkerQueues

pytestmark = pytest.mark.slow  # the invocation runs for seconds, against a silent endpoint

TIMEOUT_SECONDS = 24  # the function's timeout: enough for the Intercom work, not for 4 x 5 s reads


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An HTTP endpoint on 127.0.0.1 that takes connections and never answers; it stops by itself."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_the_worker_settles_or_hands_back_within_its_timeout_when_the_bus_hangs(
    queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure, silent_endpoint: str
) -> None:
    # Given Intercom answering after 4 s, and an event bus that never answers
    configure(AWS_ENDPOINT_URL_EVENTBRIDGE=silent_endpoint)
    sandbox.set_latency(4.0)
    queues.send(LEAD)
    messages = queues.receive()
    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{queues.aws.queue_url.rsplit('/', 1)[1]}"
    context = LocalContext("ContactWorkerFunction", TIMEOUT_SECONDS)
    # When the worker gets the message
    answer = worker.lambda_handler(sqs_event(messages, queue_arn=queue_arn), context)
    # Then it returned before its timeout, the lead created once and its record kept for a retry
    assert context.get_remaining_time_in_millis() > 0
    assert len(answer["batchItemFailures"]) == 1
    assert len(sandbox.contacts) == 1
