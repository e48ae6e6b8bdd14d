"""The local stack's view of the outcome events: a rule on the stack's bus sends every event from
`intercom-contacts` to a CloudWatch Logs group (moto), and `follow` prints each as it arrives.

A log group, not a queue: it lives beside the bus in moto, so printing costs the SQS process nothing,
and the stack's queues stay the user's (a rule can target them: local/aws_server.py delivers).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from local.aws import LocalAws

RULE = "local-stack-prints-outcomes"


def subscribe(aws: LocalAws) -> str:
    """Route every outcome event on the bus to a new log group; returns the group's name."""
    group = f"/aws/events/{aws.event_bus}"
    logs, events = aws.client("logs"), aws.client("events")
    logs.create_log_group(logGroupName=group)
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"].removesuffix(":*")
    events.put_rule(
        Name=RULE, EventBusName=aws.event_bus, EventPattern=json.dumps({"source": ["intercom-contacts"]})
    )
    events.put_targets(Rule=RULE, EventBusName=aws.event_bus, Targets=[{"Id": "print", "Arn": arn}])
    return group


def follow(
    aws: LocalAws, group: str, stop: threading.Event, say: Callable[[str], None] = print
) -> threading.Thread:
    """Print each event of `group` as it arrives, until `stop` is set."""

    def run() -> None:
        logs, seen, since = aws.client("logs"), set[str](), 0
        while not stop.wait(0.5):
            try:
                found: list[dict[str, Any]] = logs.filter_log_events(logGroupName=group, startTime=since)[
                    "events"
                ]
            except Exception:  # noqa: S112  # nosec B112 # local AWS restarting or gone: the stack reports that
                continue
            for entry in found:
                if entry["eventId"] in seen:
                    continue
                seen.add(entry["eventId"])
                since = max(since, int(entry["timestamp"]))
                event = json.loads(entry["message"])
                say(f"event  {event['detail-type']:<17} {json.dumps(event['detail'], separators=(',', ':'))}")

    thread = threading.Thread(target=run, name="event-log", daemon=True)
    thread.start()
    return thread
