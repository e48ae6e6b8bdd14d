"""The local stack's SQS (local/sqs.py) answers the calls this project makes exactly as moto does.

The same script of calls (provisioning, the batch endpoint's sends, the poller's receives and deletes,
the worker's visibility changes and dead-lettering, redrive's receives) runs against moto and against
the stack's endpoint (local/aws_server.py forwarding to local/sqs.py); the answers must be equal once
ids, receipt handles and timestamps are replaced by placeholders in order of appearance.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.aws import client, provision
from local.aws_server import server
from local.sqs import serve

TIMESTAMPS = {
    "SentTimestamp",
    "ApproximateFirstReceiveTimestamp",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
}
# SQS lists a queue's RedriveAllowPolicy among its attributes and the local SQS does too; moto leaves it
# out. Nothing in this project reads it back.
NOT_IN_MOTO = {"RedriveAllowPolicy"}


@pytest.fixture(scope="module")
def local_endpoint() -> Iterator[str]:
    """The stack's AWS endpoint: moto, with SQS forwarded to the local SQS."""
    sqs = serve()
    threading.Thread(target=sqs.serve_forever, daemon=True).start()
    aws = server(f"http://127.0.0.1:{sqs.server_address[1]}")
    threading.Thread(target=aws.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{aws.server_address[1]}"
    aws.shutdown()
    sqs.shutdown()


class Recorder:
    """Runs calls against one endpoint and keeps every answer, normalised for comparison."""

    def __init__(self, endpoint: str) -> None:
        self.sqs = client(endpoint, "sqs")
        self.endpoint = endpoint
        self.answers: list[Any] = []
        self._placeholders: dict[str, str] = {}

    def __call__(self, action: str, **params: Any) -> Any:
        try:
            answer = getattr(self.sqs, action)(**params)
        except ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            self.answers.append((action, "error", status, error.response["Error"]))
            return None
        answer.pop("ResponseMetadata")
        self.answers.append((action, self._normalised(answer)))
        return answer

    def _normalised(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self._normalised(v, k) for k, v in value.items() if k not in NOT_IN_MOTO}
        if isinstance(value, list):
            items = [self._normalised(v) for v in value]
            return sorted(items, key=json.dumps) if key == "Messages" else items
        if key in TIMESTAMPS:
            return "<time>"
        if key in {"MessageId", "ReceiptHandle"}:
            return self._placeholders.setdefault(value, f"<{key} {len(self._placeholders)}>")
        if isinstance(value, str):
            return value.replace(self.endpoint, "<endpoint>")
        return value


def _project_calls(call: Recorder) -> None:
    """Every SQS call this project makes, with the arguments it makes them with."""
    dlq = call("create_queue", QueueName="contacts-dlq", Attributes={"MessageRetentionPeriod": "1209600"})
    dlq_url = dlq["QueueUrl"]
    dlq_arn = call("get_queue_attributes", QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    queue_url = call(
        "create_queue",
        QueueName="contacts",
        Attributes={"VisibilityTimeout": "360", "MessageRetentionPeriod": "345600", "RedrivePolicy": redrive},
    )["QueueUrl"]
    call("create_queue", QueueName="contacts", Attributes={"VisibilityTimeout": "30"})
    queue_arn = call("get_queue_attributes", QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    call(
        "set_queue_attributes",
        QueueUrl=dlq_url,
        Attributes={
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]})
        },
    )
    call("get_queue_attributes", QueueUrl=queue_url, AttributeNames=["All"])
    call("get_queue_attributes", QueueUrl=dlq_url, AttributeNames=["All"])

    # The batch endpoint's sends, with the options as message attributes
    call(
        "send_message_batch",
        QueueUrl=queue_url,
        Entries=[
            {
                "Id": str(n),
                "MessageBody": json.dumps({"role": "lead", "email": f"l{n}@example.com"}),
                "MessageAttributes": {
                    "OnConflict": {"DataType": "String", "StringValue": "update"},
                    "IdempotencyKey": {"DataType": "String", "StringValue": f"key:{n}"},
                },
            }
            for n in range(3)
        ],
    )
    call("send_message_batch", QueueUrl=queue_url, Entries=[{"Id": "0", "MessageBody": "{}"}])

    # The poller's receive, a worker's retry later and a success
    def receive(url: str, **extra: Any) -> list[dict[str, Any]]:
        options = {
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 1,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
            **extra,
        }
        answer = call("receive_message", QueueUrl=url, **options)
        return sorted(answer.get("Messages", []), key=lambda m: m["Body"])

    first = receive(queue_url)
    call("get_queue_attributes", QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    call(
        "get_queue_attributes",
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    for message in first[:2]:
        call(
            "change_message_visibility",
            QueueUrl=queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    call(
        "delete_message_batch",
        QueueUrl=queue_url,
        Entries=[
            {"Id": "0", "ReceiptHandle": first[2]["ReceiptHandle"]},
            {"Id": "1", "ReceiptHandle": first[3]["ReceiptHandle"]},
        ],
    )
    call(
        "delete_message_batch",
        QueueUrl=queue_url,
        Entries=[{"Id": "0", "ReceiptHandle": first[3]["ReceiptHandle"]}],
    )
    second = receive(queue_url)
    call(
        "change_message_visibility",
        QueueUrl=queue_url,
        ReceiptHandle=second[0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    call(
        "change_message_visibility",
        QueueUrl=queue_url,
        ReceiptHandle=second[1]["ReceiptHandle"],
        VisibilityTimeout=0,
    )

    # The third receive of a message with maxReceiveCount 2 moves it to the DLQ instead
    receive(queue_url, WaitTimeSeconds=0)
    call("get_queue_attributes", QueueUrl=queue_url, AttributeNames=["All"])

    # The worker dead-letters with a reason; redrive lists the DLQ, then releases what it held
    call(
        "send_message",
        QueueUrl=dlq_url,
        MessageBody=second[0]["Body"],
        MessageAttributes={
            "OnConflict": {"DataType": "String", "StringValue": "update"},
            "ErrorCode": {"DataType": "String", "StringValue": "INTERCOM_UNAVAILABLE"},
        },
    )
    held = receive(dlq_url, VisibilityTimeout=60)
    call(
        "change_message_visibility_batch",
        QueueUrl=dlq_url,
        Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for n, m in enumerate(held)
        ],
    )
    call("delete_message", QueueUrl=dlq_url, ReceiptHandle=held[0]["ReceiptHandle"])
    call("delete_message", QueueUrl=dlq_url, ReceiptHandle=held[0]["ReceiptHandle"])
    call("get_queue_attributes", QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])

    # What the code meets when something is wrong
    call("send_message", QueueUrl=queue_url + "-gone", MessageBody="{}")
    call("receive_message", QueueUrl=queue_url + "-gone")
    call("delete_message", QueueUrl=queue_url, ReceiptHandle="garbage")
    call("change_message_visibility", QueueUrl=queue_url, ReceiptHandle="garbage", VisibilityTimeout=0)
    call("delete_message_batch", QueueUrl=queue_url, Entries=[{"Id": "0", "ReceiptHandle": "garbage"}])
    call("send_message_batch", QueueUrl=queue_url, Entries=[])
    call(
        "send_message_batch",
        QueueUrl=queue_url,
        Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}],
    )
    call("get_queue_url", QueueName="nothing")
    call("get_queue_url", QueueName="contacts")


def test_the_local_sqs_answers_the_projects_calls_as_moto_does(
    moto_endpoint: str, local_endpoint: str
) -> None:
    # Given the same calls made to moto and to the local SQS
    answers: dict[str, list[Any]] = {}
    for name, endpoint in (("moto", moto_endpoint), ("local", local_endpoint)):
        recorder = Recorder(endpoint)
        _project_calls(recorder)
        answers[name] = recorder.answers
    # Then every answer is the same
    assert len(answers["local"]) == len(answers["moto"])
    for moto_answer, local_answer in zip(answers["moto"], answers["local"], strict=True):
        assert local_answer == moto_answer


def test_an_action_the_local_sqs_lacks_is_answered_as_unsupported(local_endpoint: str) -> None:
    # Given redrive's default, which neither moto nor the local SQS implements
    sqs = client(local_endpoint, "sqs")
    # Then the answer is a 5xx, which redrive takes as "move by hand"
    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn="arn:aws:sqs:us-east-1:123456789012:contacts-dlq")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] in {500, 501}


def test_the_stacks_resources_are_provisioned_and_read_through_the_one_endpoint(local_endpoint: str) -> None:
    # When the stack's resources are provisioned through the endpoint (moto's state is shared by every
    # moto in this test process: the names are this test's own)
    aws = provision(local_endpoint, token="t", prefix=f"one-endpoint-{uuid.uuid4().hex[:8]}")
    # Then the secret and the table are moto's, and the queues the local SQS's, all behind it
    secret = client(local_endpoint, "secretsmanager").get_secret_value(SecretId=aws.secret_id)
    assert json.loads(secret["SecretString"]) == {"token": "t"}
    table = client(local_endpoint, "dynamodb").describe_table(TableName=aws.table_name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    attributes = client(local_endpoint, "sqs").get_queue_attributes(
        QueueUrl=aws.queue_url, AttributeNames=["All"]
    )
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 5
