"""The default redrive: SQS's StartMessageMoveTask (moto lacks it, so botocore's Stubber checks the calls
against the real service model)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from intercom_contacts.redrive import Redrive

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/contacts"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/contacts-dlq"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:contacts"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:contacts-dlq"


@pytest.fixture
def stubbed() -> tuple[Redrive, Stubber, list[str]]:
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    said: list[str] = []
    return Redrive(sqs, QUEUE_URL, DLQ_URL, say=said.append, poll_seconds=0), Stubber(sqs), said


def _arns(stubber: Stubber) -> None:
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": QUEUE_ARN}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["QueueArn"]},
    )


def test_move_all_starts_a_task_from_the_dlq_to_the_source_and_follows_it(
    stubbed: tuple[Redrive, Stubber, list[str]],
) -> None:
    redrive, stubber, said = stubbed
    # Given SQS reports the task running, then completed
    _arns(stubber)
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-123"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN},
    )
    for status, moved in (("RUNNING", 3), ("COMPLETED", 7)):
        stubber.add_response(
            "list_message_move_tasks",
            {
                "Results": [
                    {
                        "Status": status,
                        "SourceArn": DLQ_ARN,
                        "DestinationArn": QUEUE_ARN,
                        "ApproximateNumberOfMessagesMoved": moved,
                        "ApproximateNumberOfMessagesToMove": 7,
                    }
                ]
            },
            {"SourceArn": DLQ_ARN, "MaxResults": 1},
        )
    # When everything is redriven
    with stubber:
        moved = redrive.move_all()
    # Then every call matched the service model and the expected parameters, and progress was reported
    stubber.assert_no_pending_responses()
    assert moved == 7
    assert said[-2:] == ["RUNNING: 3 of 7 moved", "COMPLETED: 7 of 7 moved"]


def test_a_failed_task_is_an_error(stubbed: tuple[Redrive, Stubber, list[str]]) -> None:
    redrive, stubber, _ = stubbed
    _arns(stubber)
    stubber.add_response(
        "start_message_move_task", {"TaskHandle": "h"}, {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN}
    )
    stubber.add_response(
        "list_message_move_tasks",
        {
            "Results": [
                {"Status": "FAILED", "FailureReason": "AccessDenied", "ApproximateNumberOfMessagesMoved": 0}
            ]
        },
        {"SourceArn": DLQ_ARN, "MaxResults": 1},
    )
    with stubber, pytest.raises(RuntimeError, match="FAILED: AccessDenied"):
        redrive.move_all()
