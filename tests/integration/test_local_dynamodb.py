"""The local stack's DynamoDB (local/dynamodb.py) answers as moto's own server does.

The project's own users of DynamoDB (the run log, the send journal and Powertools' idempotency
records) run one script against moto's server and against local/dynamodb.py, each through a client
that records every answer and error; the records must be equal once what differs from run to run
(timestamps, expirations, attempt ids) is replaced by placeholders.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

from intercom_contacts.errors import IdempotencyKeyReused
from intercom_contacts.run_log import Finish, NewItem, RunLog
from intercom_contacts.sends import SendJournal, SentBefore
from local.aws import client
from local.aws_server import serve_in_thread
from local.dynamodb import serve
from local.template import load_template, resource_properties

TABLES = {"IdempotencyTable": "idempotency", "RunLogTable": "run-log"}
# Written by the clock or a random id, so different in each run.
VARYING = {"submitted_at", "updated_at", "expiration", "sent_at", "attempt", "in_progress_expiration"}
VARYING_DESCRIPTION = {"CreationDateTime", "TableId", "LatestStreamLabel"}


@pytest.fixture(scope="module")
def lean_endpoint() -> Iterator[str]:
    server = serve()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = serve_in_thread()
    yield endpoint
    server.shutdown()
    server.server_close()


class Recorder:
    """A DynamoDB client that keeps every answer, normalised for comparison."""

    def __init__(self, endpoint: str, prefix: str) -> None:
        self._client = client(endpoint, "dynamodb")
        self.prefix = prefix  # the two servers share moto's memory in this process: tables of their own
        self.meta = self._client.meta  # Powertools reads the client's region
        self.answers: list[Any] = []

    def __getattr__(self, action: str) -> Any:
        call = getattr(self._client, action)

        def recorded(**params: Any) -> Any:
            try:
                answer = call(**params)
            except ClientError as error:
                response = error.response
                self.answers.append(
                    (
                        action,
                        "error",
                        response["ResponseMetadata"]["HTTPStatusCode"],
                        response["Error"],
                        self.normalised(response.get("Item")),
                    )
                )
                raise
            self.answers.append(
                (action, self.normalised({k: v for k, v in answer.items() if k != "ResponseMetadata"}))
            )
            return answer

        return recorded

    def normalised(self, value: Any, key: str = "") -> Any:
        if key in VARYING or key in VARYING_DESCRIPTION:
            return f"<{key}>"
        if isinstance(value, dict):
            return {k.replace(self.prefix, "<prefix>"): self.normalised(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.normalised(v) for v in value]
        if isinstance(value, str):
            return value.replace(self.prefix, "<prefix>")
        return value


def script(dynamodb: Recorder) -> list[Any]:
    """Everything the service asks of DynamoDB, on fresh tables: returns what the service read back."""
    template = load_template()
    idempotency, run_log_table = (f"{dynamodb.prefix}-{name}" for name in TABLES.values())
    for logical_id, name in zip(TABLES, (idempotency, run_log_table), strict=True):
        table = resource_properties(template, logical_id)
        dynamodb.create_table(
            TableName=name,
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
    seen: list[Any] = []

    # The run log: a batch of 30 (more than one BatchWriteItem), its items settled, failed, retried
    run_log = RunLog(dynamodb, run_log_table, ttl_seconds=3600)  # type: ignore[arg-type]
    items = [
        NewItem(index=n, status="rejected" if n == 3 else "pending", code="X" if n == 3 else None)
        for n in range(30)
    ]
    seen.append(run_log.start("b1", items, fingerprint="body-hash"))
    resent = run_log.start("b1", items, fingerprint="body-hash")  # a resend: the header recorded
    seen.append(resent and (resent.total, resent.rejected, resent.fingerprint))
    run_log.note_retry("b1", 0, "INTERCOM_UNAVAILABLE", "503")
    headers = run_log.finish_many(
        [
            Finish("b1", 0, "created", contact_id="c0"),
            Finish("b1", 1, "failed", code="INTERCOM_REJECTED", reason="no"),
        ]
    )
    seen.append(
        [
            (h.total, h.rejected, h.version, sorted((s, sorted(i)) for s, i in h.by_status.items()))
            for h in headers
        ]
    )
    seen.append(run_log.finish(Finish("b1", 0, "created", contact_id="c0")) is None)  # a replay: no change
    seen.append(run_log.claim("b1", [1], "retry-1", new_version=True))
    seen.append(run_log.claim("b1", [1], "retry-2", new_version=True))  # claimed already: nothing
    seen.append(run_log.claim("b1", [2], "retry-2", new_version=True))  # not failed: untouched
    run_log.release("b1", {1: "SQS refused it"}, "retry-1", "QUEUE_SEND_FAILED")
    header = run_log.header("b1")
    assert header is not None
    seen.append((header.count("pending"), header.count("created"), header.complete))
    run_log.mark_announced("b1", 1)
    run_log.mark_announced("b1", 1)
    seen.append(
        [(item.index, item.status, item.attempts, item.code) for item in run_log.items("b1", limit=7)]
    )
    seen.append([item.index for item in run_log.items("b1", status="created")])
    seen.append(run_log.header("unknown"))

    # The send journal: a claim, a second claim that finds the first, another body under the key, a
    # release, a claim in place of an earlier send
    journal = SendJournal(dynamodb, idempotency, function="f", ttl_seconds=3600)  # type: ignore[arg-type]
    entry = journal.entry("key-1", {"role": "lead"})
    mine = entry.claim(last_send_by=0.0)
    with pytest.raises(SentBefore) as sent:
        entry.claim(last_send_by=0.0)
    seen.append(sent.value.earlier.attempt == mine.attempt)
    with pytest.raises(IdempotencyKeyReused):
        journal.entry("key-1", {"role": "user"}).claim(last_send_by=0.0)
    entry.release(mine)
    again = entry.claim(last_send_by=0.0)
    seen.append(entry.claim(last_send_by=0.0, replacing=again).attempt != again.attempt)

    # Powertools' idempotency records: stored, replayed, deleted after a failure
    store = DynamoDBPersistenceLayer(table_name=idempotency, boto3_client=dynamodb)  # type: ignore[arg-type]

    @idempotent_function(data_keyword_argument="payload", persistence_store=store, config=IdempotencyConfig())
    def create(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("fail"):
            raise ValueError("Intercom said no")
        return {"contact": payload["email"], "at": len(dynamodb.answers)}

    seen += [create(payload={"email": "a@example.com"}), create(payload={"email": "a@example.com"})]
    with pytest.raises(ValueError, match="said no"):
        create(payload={"email": "b@example.com", "fail": True})
    seen.append(create(payload={"email": "b@example.com"}))

    # Errors as DynamoDB answers them
    for call in (
        lambda: dynamodb.get_item(TableName="missing", Key={"id": {"S": "x"}}),
        lambda: dynamodb.update_item(
            TableName=idempotency,
            Key={"id": {"S": "x"}},
            UpdateExpression="SET = :a",
            ExpressionAttributeValues={":a": {"S": "a"}},
        ),
        lambda: dynamodb.put_item(TableName=idempotency, Item={"nope": {"S": "x"}}),
    ):
        with pytest.raises(ClientError):
            call()
    return seen


@pytest.mark.filterwarnings("ignore:Couldn.t determine the remaining time")
def test_the_services_calls_are_answered_as_motos_own_server_answers_them(
    lean_endpoint: str, moto_endpoint: str
) -> None:
    lean, moto = Recorder(lean_endpoint, "lean"), Recorder(moto_endpoint, "moto")
    read_back = script(lean), script(moto)

    assert read_back[0] == read_back[1]
    assert len(lean.answers) == len(moto.answers) > 40  # a resend of a recorded batch writes nothing
    for ours, motos in zip(lean.answers, moto.answers, strict=True):
        assert ours == motos
    # the script did reach what it meant to: conditional failures with the old item, and a replay
    errors = [answer for answer in lean.answers if answer[1] == "error"]
    assert {error[3]["Code"] for error in errors} >= {
        "ConditionalCheckFailedException",
        "ResourceNotFoundException",
        "ValidationException",
    }
    assert any(error[4] for error in errors if error[3]["Code"] == "ConditionalCheckFailedException")
    assert read_back[0][-3] == read_back[0][-2]  # the second create was the first one's stored answer
    assert read_back[0][-1]["contact"] == "b@example.com"  # a failure is not stored: its retry runs


def test_concurrent_writers_to_one_item_all_count(lean_endpoint: str) -> None:
    """moto's models are not thread-safe; the lean front serialises calls, so none is lost or fails."""
    dynamodb = client(lean_endpoint, "dynamodb")
    dynamodb.create_table(
        TableName="counters",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def add(n: int) -> None:
        dynamodb.update_item(
            TableName="counters",
            Key={"id": {"S": "one"}},
            UpdateExpression="ADD hits :one, seen :n",
            ExpressionAttributeValues={":one": {"N": "1"}, ":n": {"NS": [str(n)]}},
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(add, range(400)))
    item = dynamodb.get_item(TableName="counters", Key={"id": {"S": "one"}}, ConsistentRead=True)["Item"]
    assert item["hits"] == {"N": "400"}
    assert len(item["seen"]["NS"]) == 400


def test_a_request_moto_cannot_parse_is_an_error_and_the_next_is_answered(lean_endpoint: str) -> None:
    http = urllib3.PoolManager(retries=False)
    answer = http.request(
        "POST",
        lean_endpoint,
        body=b"{not json",
        headers={"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"},
    )
    assert 400 <= answer.status < 600
    assert json.loads(answer.data)["__type"]
    dynamodb = client(lean_endpoint, "dynamodb")
    dynamodb.create_table(
        TableName="after-an-error",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # (moto's tables are shared by every test in the run: ListTables pages, DescribeTable does not)
    assert dynamodb.describe_table(TableName="after-an-error")["Table"]["TableStatus"] == "ACTIVE"
