"""The local stack's event bus as a subscriber meets it: a rule with a queue of the stack as its target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import urllib3

from local import sqs as local_sqs
from local.aws import client
from local.processes import wait_ready
from tests.integration.stack import REPO_ROOT, running_stack

KEY = {"x-api-key": "local-dev-key", "Content-Type": "application/json"}
http = urllib3.PoolManager(retries=False, timeout=30)


@pytest.mark.slow  # starts the stack
def test_a_rule_with_a_queue_of_the_stack_as_target_receives_the_outcome_events(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        # Given a queue in the stack's SQS, and a rule on the stack's bus that targets it (the README's way)
        sqs, events = client(stack["aws_endpoint_url"], "sqs"), client(stack["aws_endpoint_url"], "events")
        queue_url = sqs.create_queue(QueueName="my-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="to-my-queue",
            EventBusName=stack["event_bus"],
            EventPattern=json.dumps({"source": ["intercom-contacts"]}),
        )
        events.put_targets(
            Rule="to-my-queue", EventBusName=stack["event_bus"], Targets=[{"Id": "q", "Arn": queue_arn}]
        )
        # When a contact is created with an Idempotency-Key (its event is published before the answer)
        created = http.request(
            "POST",
            stack["api_url"] + "/contacts",
            body=json.dumps({"role": "user", "email": "subscriber@example.com"}),
            headers={**KEY, "Idempotency-Key": str(uuid.uuid4())},
        )
        # Then the contact is created, and its event waits in the queue, as EventBridge delivers it
        assert created.status == 201, created.data
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20, MaxNumberOfMessages=10)
        [event] = [json.loads(message["Body"]) for message in messages["Messages"]]
        assert (event["source"], event["detail-type"]) == ("intercom-contacts", "Contact Created")
        assert event["detail"]["contact_id"] == json.loads(created.data)["id"]


def test_a_target_queue_that_is_gone_fails_its_delivery_not_the_put_events(tmp_path: Path) -> None:
    # Given the stack's local AWS in front of the local SQS, and a rule targeting a queue that is not there
    sqs_server = local_sqs.serve(0)
    threading.Thread(target=sqs_server.serve_forever, daemon=True).start()
    sqs_endpoint = f"http://127.0.0.1:{sqs_server.server_address[1]}"
    aws_server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.aws_server",
            "--sqs-endpoint",
            sqs_endpoint,
            "--ready-file",
            str(tmp_path / "ready"),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        events = client(f"http://127.0.0.1:{wait_ready(tmp_path / 'ready', aws_server)}", "events")
        events.put_rule(Name="to-nowhere", EventPattern=json.dumps({"source": ["intercom-contacts"]}))
        gone = "arn:aws:sqs:us-east-1:123456789012:deleted-subscriber"
        events.put_targets(Rule="to-nowhere", Targets=[{"Id": "gone", "Arn": gone}])
        # When an event is put on the bus
        answer = events.put_events(
            Entries=[{"Source": "intercom-contacts", "DetailType": "Contact Created", "Detail": "{}"}]
        )
    finally:
        aws_server.terminate()
        _, stderr = aws_server.communicate(timeout=30)
        sqs_server.shutdown()
        sqs_server.server_close()
    # Then the bus took it, as EventBridge does, and the failed delivery is reported
    assert answer["FailedEntryCount"] == 0
    assert "rule to-nowhere: event not delivered to queue deleted-subscriber" in stderr
