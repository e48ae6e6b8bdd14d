"""Local AWS for tests and `make run`: moto in server mode, provisioned from template.yaml's definitions.

boto3 honours `AWS_ENDPOINT_URL`, so the service code needs no endpoint plumbing: `LocalAws.env()`
is all a function needs to talk to these resources instead of AWS.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from local.template import load_template, resource_properties

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # nosec B105 # moto's fake credentials


@dataclass(frozen=True)
class LocalAws:
    endpoint: str
    secret_id: str
    queue_url: str
    dlq_url: str
    table_name: str
    run_log_table: str = ""
    event_bus: str = ""

    def env(self) -> dict[str, str]:
        """The environment a function gets in this stack: SAM's variables pointed at moto."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **FAKE_CREDENTIALS,
            "INTERCOM_TOKEN_SECRET_ID": self.secret_id,
            "CONTACTS_QUEUE_URL": self.queue_url,
            "CONTACTS_DLQ_URL": self.dlq_url,
            "IDEMPOTENCY_TABLE_NAME": self.table_name,
            "RUN_LOG_TABLE_NAME": self.run_log_table,
            "EVENT_BUS_NAME": self.event_bus,
        }

    def client(self, service: str) -> Any:
        return client(self.endpoint, service)


def client(endpoint: str, service: str) -> Any:
    """A boto3 client for one service of the moto server at `endpoint`."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@contextlib.contextmanager
def local_moto() -> Iterator[str]:
    """moto in server mode on a free loopback port, in this process, for as long as the block lasts;
    yields its endpoint URL."""
    from local.aws_server import serve_in_thread  # here: the stack imports this module, not moto

    server, endpoint = serve_in_thread()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


def provision(endpoint: str, *, token: str, prefix: str = "intercom-contacts") -> LocalAws:
    """Create the secret, both queues, both tables and the event bus as template.yaml defines them."""
    template = load_template()
    bare = LocalAws(endpoint, "", "", "", "")
    secret_arn = bare.client("secretsmanager").create_secret(
        Name=f"{prefix}/token", SecretString=json.dumps({"token": token})
    )["ARN"]

    sqs = bare.client("sqs")
    dlq_props = resource_properties(template, "ContactsDeadLetterQueue")
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-dlq",
        Attributes={"MessageRetentionPeriod": str(dlq_props["MessageRetentionPeriod"])},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_props = resource_properties(template, "ContactsQueue")
    redrive = {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": int(queue_props["RedrivePolicy"]["maxReceiveCount"]),
    }
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-queue",
        Attributes={
            "VisibilityTimeout": str(queue_props["VisibilityTimeout"]),
            "MessageRetentionPeriod": str(queue_props["MessageRetentionPeriod"]),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]})
        },
    )

    dynamodb = bare.client("dynamodb")
    for logical_id, table_name in (
        ("IdempotencyTable", f"{prefix}-idempotency"),
        ("RunLogTable", f"{prefix}-run-log"),
    ):
        table = resource_properties(template, logical_id)
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = table["TimeToLiveSpecification"]
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": bool(ttl["Enabled"]), "AttributeName": ttl["AttributeName"]},
        )
    event_bus = f"{prefix}-contacts"
    bare.client("events").create_event_bus(Name=event_bus)
    return LocalAws(
        endpoint, secret_arn, queue_url, dlq_url, f"{prefix}-idempotency", f"{prefix}-run-log", event_bus
    )
