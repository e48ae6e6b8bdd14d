"""Call the functions in-process, with the events API Gateway and SQS send, against moto and the sandbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from intercom_contacts.handlers import api, worker
from intercom_contacts.importer import client
from local.aws import LocalAws
from local.events import api_gateway_event, sqs_event
from local.functions import LocalFunction, load_function
from local.gateway import Gateway, serve, template_routes
from local.poller import Poller
from local.runtime import in_process
from tests.conftest import Configure, FakeLambdaContext
from tests.integration.fake_batch_api import API_KEY, FakeBatchApi

USER = {"role": "user", "email": "jane@example.com", "name": "Jane Doe", "external_id": "u-1001"}
LEAD = {"role": "lead", "email": "lead@example.com", "name": "Lee Lead"}


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: Any


CallApi = Callable[..., ApiAnswer]


@pytest.fixture
def call_api(service_env: Any, lambda_context: FakeLambdaContext) -> CallApi:
    def call(
        body: Any = None,
        *,
        method: str = "POST",
        path: str = "/contacts",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> ApiAnswer:
        event = api_gateway_event(
            method,
            path,
            body=None if body is None else body if raw else json.dumps(body),
            headers={"Content-Type": "application/json", "x-api-key": "k", **(headers or {})},
            query=query,
        )
        answer = api.lambda_handler(event, lambda_context)
        headers = {name: values[-1] for name, values in (answer.get("multiValueHeaders") or {}).items()}
        headers.update(answer.get("headers") or {})
        return ApiAnswer(answer["statusCode"], headers, json.loads(answer["body"]))

    return call


@dataclass(frozen=True)
class WorkerQueues:
    """The SQS path as the event source mapping drives it: send to the queue, run the worker on what
    it receives, delete what it did not report as failed, look into the DLQ."""

    aws: LocalAws
    context: FakeLambdaContext

    def send(self, body: Any, **attributes: str) -> str:
        answer = self.aws.client("sqs").send_message(
            QueueUrl=self.aws.queue_url,
            MessageBody=body if isinstance(body, str) else json.dumps(body),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return str(answer["MessageId"])

    def receive(self, url: str | None = None, *, visibility: int = 30) -> list[dict[str, Any]]:
        """Everything visible now, hidden for `visibility` seconds."""
        messages: list[dict[str, Any]] = []
        while (
            batch := self.aws.client("sqs")
            .receive_message(
                QueueUrl=url or self.aws.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            .get("Messages", [])
        ):
            messages.extend(batch)
        return messages

    def run_worker(self, *, visibility: int = 30) -> tuple[list[str], dict[str, Any]]:
        """One event-source-mapping turn; returns the ids reported as failed and the messages by id."""
        messages = self.receive(visibility=visibility)
        sqs = self.aws.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.aws.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        answer = worker.lambda_handler(sqs_event(messages, queue_arn=queue_arn), self.context)
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(failed), {m["MessageId"]: m for m in messages}

    def dead_letters(self) -> dict[str, dict[str, Any]]:
        """The DLQ's messages: body -> attributes."""
        return {
            m["Body"]: {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
            for m in self.receive(self.aws.dlq_url)
        }


@pytest.fixture
def queues(service_env: LocalAws, configure: Configure, lambda_context: FakeLambdaContext) -> WorkerQueues:
    configure(RETRY_BASE_SECONDS="0")
    return WorkerQueues(service_env, lambda_context)


@dataclass(frozen=True)
class BusEvents:
    """Every event put on the stack's bus, as a subscriber sees it: a rule on the bus feeds a queue."""

    aws: LocalAws
    queue_url: str

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        """(detail-type, detail) of each event that arrived since the last drain."""
        sqs = self.aws.client("sqs")
        events = []
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                event = json.loads(message["Body"])
                assert event["source"] == "intercom-contacts"
                events.append((event["detail-type"], event["detail"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return events


@pytest.fixture
def bus_events(service_env: LocalAws) -> BusEvents:
    sqs, events = service_env.client("sqs"), service_env.client("events")
    queue_url = sqs.create_queue(QueueName=f"{service_env.event_bus}-seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all-outcomes",
        EventBusName=service_env.event_bus,
        EventPattern=json.dumps({"source": ["intercom-contacts"]}),
    )
    events.put_targets(
        Rule="all-outcomes", EventBusName=service_env.event_bus, Targets=[{"Id": "seen", "Arn": queue_arn}]
    )
    return BusEvents(service_env, queue_url)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The importer's retry policy, without the backoff's waits."""
    monkeypatch.setattr(client, "RETRY", client.RETRY.new(total=5, backoff_factor=0))


@pytest.fixture(name="api")
def fake_batch_api() -> Iterator[FakeBatchApi]:
    """The batch API's stand-in, for the importer."""
    with FakeBatchApi() as server:
        yield server


@pytest.fixture
def api_url(service_env: LocalAws, configure: Configure) -> Iterator[str]:
    """The API behind the local gateway, and the worker fed from the queue, until the test ends."""
    configure(RETRY_BASE_SECONDS="0")
    routes = template_routes()
    invokers = {route.function: in_process(load_function(route.function, {})) for route in routes}
    server = serve(Gateway(routes, invokers, API_KEY, lambda: "{}"), 0)
    worker_function = LocalFunction(
        "ContactWorkerFunction", "intercom_contacts.handlers.worker.lambda_handler", 60, 256, {}
    )
    stop = threading.Event()
    poller = Poller(worker_function, service_env.queue_url, 10, service_env.client("sqs"), stop=stop)
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=poller.run),
    ]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop.set()
    server.shutdown()
    for thread in threads:
        thread.join()
    server.server_close()
