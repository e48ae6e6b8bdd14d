"""A local SQS for the stack: the calls this project makes, each as cheap at 10,000 messages as at 10.

moto's SQS model looks at every message of a queue on each send, receive and delete, so a queue
slows down as it deepens (docs/local-stack.md has the measurements). Here each queue keeps its
messages by id, its receipt handles by handle, and a heap of when each message is next visible:
send, receive, delete and visibility changes cost O(log n); only the approximate counts of
GetQueueAttributes scan.

It speaks SQS's JSON protocol (what boto3 sends) and answers as moto does, errors included
(tests/integration/test_local_sqs.py compares them). It runs in a process of its own
(`python -m local.sqs --port N --ready-file F`), so that the batch endpoint's sends and the poller's
receives never wait behind moto's DynamoDB for one interpreter. Calls: CreateQueue, GetQueueUrl, ListQueues,
GetQueueAttributes, SetQueueAttributes, SendMessage(Batch), ReceiveMessage (long polling included),
DeleteMessage(Batch), ChangeMessageVisibility(Batch); a redrive policy moves a message to its
dead-letter queue on the receive after its maxReceiveCount, as SQS does. Not modelled: FIFO queues,
retention expiry, permissions, tags, message move tasks (answered 501, as an unsupported action).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import json
import secrets
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.processes import AwsCallHandler, QuietServer, serve_until_stopped

ACCOUNT_ID = "123456789012"
SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"  # moto's: the caller of every local request
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1_048_576
MAX_VISIBILITY_SECONDS = 43_200
DEFAULT_ATTRIBUTES = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
SETTABLE_ATTRIBUTES = {*DEFAULT_ATTRIBUTES, "RedrivePolicy", "RedriveAllowPolicy", "Policy"}
COUNTED_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
)
KNOWN_ATTRIBUTES = {
    "All",
    *COUNTED_ATTRIBUTES,
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    *SETTABLE_ATTRIBUTES,
}
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


class SqsError(Exception):
    """An error answer: `shape` is the API's error type, `code` what botocore reports as its Code."""

    def __init__(self, shape: str, message: str, code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.shape, self.message, self.code, self.status = shape, message, code or shape, status


def _no_queue() -> SqsError:
    return SqsError(
        "QueueDoesNotExist", "The specified queue does not exist.", "AWS.SimpleQueueService.NonExistentQueue"
    )


def _invalid_handle() -> SqsError:
    return SqsError("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")


@dataclass(eq=False)
class Message:
    message_id: str
    body: str
    attributes: dict[str, dict[str, str]]
    sent_ms: int
    visible_at: float  # time.monotonic()
    receive_count: int = 0
    first_receive_ms: int = 0
    handles: list[str] = field(default_factory=list)
    version: int = 0  # bumped on every visibility change: older heap entries are stale


class Queue:
    def __init__(self, name: str, region: str, attributes: dict[str, str]) -> None:
        self.name = name
        self.arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"
        self.attributes = {**DEFAULT_ATTRIBUTES, **_normalised(attributes)}
        self.created = self.modified = int(time.time())
        self.messages: dict[str, Message] = {}
        self.by_handle: dict[str, Message] = {}
        self.deleted_handles: set[str] = set()  # deleting twice succeeds, as on SQS
        self._schedule: list[tuple[float, int, int, Message]] = []  # (visible_at, seq, version, message)
        self._seq = 0

    def set_attributes(self, attributes: dict[str, str]) -> None:
        self.attributes.update(_normalised(attributes))
        self.modified = int(time.time())

    @property
    def visibility_timeout(self) -> int:
        return int(self.attributes["VisibilityTimeout"])

    def redrive(self) -> tuple[str, int] | None:
        if "RedrivePolicy" not in self.attributes:
            return None
        policy = json.loads(self.attributes["RedrivePolicy"])
        return policy["deadLetterTargetArn"].rsplit(":", 1)[1], int(policy["maxReceiveCount"])

    def add(self, message: Message) -> None:
        self.messages[message.message_id] = message
        self.schedule(message, message.visible_at)

    def schedule(self, message: Message, visible_at: float) -> None:
        message.version += 1
        message.visible_at = visible_at
        self._seq += 1
        heapq.heappush(self._schedule, (visible_at, self._seq, message.version, message))

    def next_visible_at(self) -> float | None:
        while self._schedule:
            visible_at, _, version, message = self._schedule[0]
            if message.message_id in self.messages and version == message.version:
                return visible_at
            heapq.heappop(self._schedule)
        return None

    def take_visible(self, now: float) -> Message | None:
        visible_at = self.next_visible_at()
        if visible_at is None or visible_at > now:
            return None
        return heapq.heappop(self._schedule)[3]

    def remove(self, message: Message) -> None:
        del self.messages[message.message_id]
        for handle in message.handles:
            self.by_handle.pop(handle, None)

    def delete(self, handle: str) -> None:
        if handle in self.deleted_handles:
            return
        message = self.by_handle.get(handle)
        if message is None:
            raise _invalid_handle()
        self.remove(message)
        self.deleted_handles.update(message.handles)

    def counts(self, now: float) -> dict[str, str]:
        visible = delayed = in_flight = 0
        for message in self.messages.values():
            if message.visible_at <= now:
                visible += 1
            elif message.receive_count:
                in_flight += 1
            else:
                delayed += 1
        return dict(zip(COUNTED_ATTRIBUTES, (str(visible), str(delayed), str(in_flight)), strict=True))


def _normalised(attributes: dict[str, str]) -> dict[str, str]:
    unknown = set(attributes) - SETTABLE_ATTRIBUTES
    if unknown:
        raise SqsError("InvalidAttributeName", f"Unknown Attribute {sorted(unknown)[0]}.")
    out = {name: str(value) for name, value in attributes.items()}
    for name in ("RedrivePolicy", "RedriveAllowPolicy"):
        if name in out:
            out[name] = json.dumps(json.loads(out[name]))
    if "RedrivePolicy" in out:
        policy = json.loads(out["RedrivePolicy"])
        policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
        out["RedrivePolicy"] = json.dumps(policy)
    return out


def md5_of_attributes(attributes: dict[str, dict[str, str]]) -> str:
    """SQS's MD5OfMessageAttributes: each attribute, by name, as length-prefixed name, type and value."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        for part in (name, data_type):
            digest.update(struct.pack("!I", len(part.encode())) + part.encode())
        if "BinaryValue" in value:
            raw = base64.b64decode(value["BinaryValue"])
            digest.update(b"\x02" + struct.pack("!I", len(raw)) + raw)
        else:
            raw = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack("!I", len(raw)) + raw)
    return digest.hexdigest()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _wanted(names: list[str], available: dict[str, Any]) -> dict[str, Any]:
    if "All" in names or ".*" in names:
        return dict(available)
    prefixes = tuple(name[:-2] for name in names if name.endswith(".*"))
    return {
        name: value
        for name, value in available.items()
        if name in names or (prefixes and name.startswith(prefixes))
    }


class LocalSqs:
    """Every queue of one region, behind one lock; long polls wait on its condition."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.queues: dict[str, Queue] = {}
        self._changed = threading.Condition()
        self._actions: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
        }

    # --- the JSON protocol ------------------------------------------------------------------
    def handle(self, target: str, body: bytes, base_url: str) -> tuple[int, dict[str, str], bytes]:
        """One request (`X-Amz-Target: AmazonSQS.<action>`): status, headers and body of the answer."""
        action = target.removeprefix("AmazonSQS.")
        try:
            if action not in self._actions:
                raise SqsError(
                    "UnsupportedOperation", f"{action} is not implemented by the local SQS", status=501
                )
            request = json.loads(body or b"{}")
            answer = self._actions[action](request, base_url)
        except SqsError as error:
            headers = {
                "Content-Type": JSON_CONTENT_TYPE,
                "x-amzn-query-error": f"{error.code};Sender",
            }
            payload = {"__type": f"com.amazonaws.sqs#{error.shape}", "message": error.message}
            return error.status, headers, json.dumps(payload).encode()
        return 200, {"Content-Type": JSON_CONTENT_TYPE}, json.dumps(answer).encode()

    def _queue(self, request: dict[str, Any]) -> Queue:
        name = str(request.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
        if name not in self.queues:
            raise _no_queue()
        return self.queues[name]

    def _url(self, base_url: str, queue: Queue) -> str:
        return f"{base_url}/{ACCOUNT_ID}/{queue.name}"

    # --- queues -----------------------------------------------------------------------------
    def create_queue(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        name, attributes = request["QueueName"], request.get("Attributes") or {}
        with self._changed:
            existing = self.queues.get(name)
            if existing is None:
                self.queues[name] = Queue(name, self.region, attributes)
            elif any(existing.attributes.get(k) != v for k, v in _normalised(attributes).items()):
                raise SqsError("QueueNameExists", "The specified queue already exists.", "QueueAlreadyExists")
            return {"QueueUrl": self._url(base_url, self.queues[name])}

    def get_queue_url(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        with self._changed:
            if request["QueueName"] not in self.queues:
                raise _no_queue()
            return {"QueueUrl": self._url(base_url, self.queues[request["QueueName"]])}

    def list_queues(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        prefix = request.get("QueueNamePrefix", "")
        with self._changed:
            urls = [self._url(base_url, q) for name, q in self.queues.items() if name.startswith(prefix)]
        return {"QueueUrls": urls} if urls else {}

    def get_queue_attributes(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        names = request.get("AttributeNames") or []
        with self._changed:
            queue = self._queue(request)
            available = {
                **queue.counts(time.monotonic()),
                "CreatedTimestamp": str(queue.created),
                "LastModifiedTimestamp": str(queue.modified),
                "QueueArn": queue.arn,
                **queue.attributes,
            }
        unknown = [name for name in names if name not in KNOWN_ATTRIBUTES]
        if unknown:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {unknown[0]}.")
        chosen = available if "All" in names else {n: available[n] for n in names if n in available}
        return {"Attributes": chosen} if chosen else {}

    def set_queue_attributes(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        with self._changed:
            self._queue(request).set_attributes(request.get("Attributes") or {})
            self._changed.notify_all()  # a shorter visibility timeout can matter to a waiting receive
        return {}

    # --- messages ---------------------------------------------------------------------------
    def send_message(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        with self._changed:
            queue = self._queue(request)
            message = self._send(queue, request)
            self._changed.notify_all()
        return _sent(message)

    def send_message_batch(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        entries = request.get("Entries") or []
        _check_batch(entries, "Send")
        size = sum(len(entry["MessageBody"].encode()) for entry in entries)
        if size > MAX_BATCH_BYTES:
            raise SqsError(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {size} bytes.",
            )
        with self._changed:
            queue = self._queue(request)
            successful = [{"Id": entry["Id"], **_sent(self._send(queue, entry))} for entry in entries]
            self._changed.notify_all()
        return {"Successful": successful, "Failed": []}

    def _send(self, queue: Queue, request: dict[str, Any]) -> Message:
        body = request["MessageBody"]
        if len(body.encode()) > int(queue.attributes["MaximumMessageSize"]):
            raise SqsError(
                "InvalidParameterValue",
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{queue.attributes['MaximumMessageSize']} bytes.",
            )
        delay = int(request.get("DelaySeconds", queue.attributes["DelaySeconds"]))
        message = Message(
            message_id=str(uuid.uuid4()),
            body=body,
            attributes=dict(request.get("MessageAttributes") or {}),
            sent_ms=int(time.time() * 1000),
            visible_at=time.monotonic() + delay,
        )
        queue.add(message)
        return message

    def receive_message(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        count = int(request.get("MaxNumberOfMessages", 1))
        with self._changed:
            queue = self._queue(request)
            wait = int(request.get("WaitTimeSeconds", queue.attributes["ReceiveMessageWaitTimeSeconds"]))
            visibility = int(request.get("VisibilityTimeout", queue.visibility_timeout))
            deadline = time.monotonic() + wait
            while True:
                received = self._receive(queue, count, visibility)
                now = time.monotonic()
                if received or now >= deadline:
                    break
                next_visible = queue.next_visible_at()
                self._changed.wait(min(deadline, next_visible or deadline) - now)
        system_names = [*request.get("AttributeNames", []), *request.get("MessageSystemAttributeNames", [])]
        attribute_names = request.get("MessageAttributeNames") or []
        messages = [_received(message, handle, system_names, attribute_names) for message, handle in received]
        return {"Messages": messages} if messages else {}

    def _receive(self, queue: Queue, count: int, visibility: int) -> list[tuple[Message, str]]:
        now = time.monotonic()
        received: list[tuple[Message, str]] = []
        redrive = queue.redrive()
        while len(received) < count and (message := queue.take_visible(now)) is not None:
            if redrive and message.receive_count >= redrive[1] and redrive[0] in self.queues:
                queue.remove(message)
                message.handles = []
                message.visible_at = now
                self.queues[redrive[0]].add(message)
                continue
            message.receive_count += 1
            message.first_receive_ms = message.first_receive_ms or int(time.time() * 1000)
            handle = secrets.token_urlsafe(48)
            message.handles.append(handle)
            queue.by_handle[handle] = message
            received.append((message, handle))
        for message, _ in received:  # scheduled after the loop: a 0 s visibility must not hand it out twice
            queue.schedule(message, now + visibility)
        return received

    def delete_message(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        with self._changed:
            self._queue(request).delete(request["ReceiptHandle"])
        return {}

    def delete_message_batch(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        entries = request.get("Entries") or []
        _check_batch(entries, "Delete")
        successful, failed = [], []
        with self._changed:
            queue = self._queue(request)
            for entry in entries:
                try:
                    queue.delete(entry["ReceiptHandle"])
                    successful.append({"Id": entry["Id"]})
                except SqsError:
                    failed.append(_failed_handle(entry))
        return {"Successful": successful, "Failed": failed}

    def change_message_visibility(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        with self._changed:
            self._change_visibility(self._queue(request), request)
            self._changed.notify_all()
        return {}

    def change_message_visibility_batch(self, request: dict[str, Any], _: str) -> dict[str, Any]:
        entries = request.get("Entries") or []
        _check_batch(entries, "ChangeMessageVisibility")
        successful, failed = [], []
        with self._changed:
            queue = self._queue(request)
            for entry in entries:
                try:
                    self._change_visibility(queue, entry)
                    successful.append({"Id": entry["Id"]})
                except SqsError as error:
                    failed.append(
                        {"Id": entry["Id"], "SenderFault": True, "Code": error.code, "Message": error.message}
                    )
            self._changed.notify_all()
        return {"Successful": successful, "Failed": failed}

    def _change_visibility(self, queue: Queue, request: dict[str, Any]) -> None:
        message = queue.by_handle.get(request["ReceiptHandle"])
        if message is None:
            raise _invalid_handle()
        seconds = int(request["VisibilityTimeout"])
        if time.time() + seconds - message.sent_ms / 1000 > MAX_VISIBILITY_SECONDS:
            raise SqsError(
                "InvalidParameterValue",
                f"Value {seconds} for parameter VisibilityTimeout is invalid. Reason: Total "
                f"VisibilityTimeout for the message is beyond the limit [{MAX_VISIBILITY_SECONDS} seconds]",
            )
        queue.schedule(message, time.monotonic() + seconds)


def _check_batch(entries: list[dict[str, Any]], action: str) -> None:
    if not entries:
        raise SqsError(
            "EmptyBatchRequest",
            f"There should be at least one {action}MessageBatchRequestEntry in the request.",
            "AWS.SimpleQueueService.EmptyBatchRequest",
        )
    if len(entries) > MAX_BATCH_ENTRIES:
        raise SqsError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        if entry["Id"] in seen:
            raise SqsError(
                "BatchEntryIdsNotDistinct",
                f"Id {entry['Id']} repeated.",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            )
        seen.add(entry["Id"])


def _failed_handle(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": entry["Id"],
        "SenderFault": True,
        "Code": "ReceiptHandleIsInvalid",
        "Message": f'The input receipt handle "{entry["ReceiptHandle"]}" is not a valid receipt handle.',
    }


def _sent(message: Message) -> dict[str, str]:
    answer = {"MessageId": message.message_id, "MD5OfMessageBody": _md5(message.body)}
    if message.attributes:
        answer["MD5OfMessageAttributes"] = md5_of_attributes(message.attributes)
    return answer


def _received(
    message: Message, handle: str, system_names: list[str], attribute_names: list[str]
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": handle,
        "MD5OfBody": _md5(message.body),
        "Body": message.body,
    }
    system = {
        "SenderId": SENDER_ID,
        "SentTimestamp": str(message.sent_ms),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
    }
    if chosen := _wanted(system_names, system):
        answer["Attributes"] = chosen
    if attributes := _wanted(attribute_names, message.attributes):
        answer["MD5OfMessageAttributes"] = md5_of_attributes(attributes)
        answer["MessageAttributes"] = attributes
    return answer


class _HttpHandler(AwsCallHandler):
    sqs: LocalSqs

    def answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = self.headers.get("X-Amz-Target", "")
        return self.sqs.handle(target, body, f"http://{self.headers.get('Host', 'localhost')}")


def serve(port: int = 0) -> QuietServer:
    """A new, empty SQS listening on loopback (port 0: a free one); call serve_forever() to answer."""
    return QuietServer(("127.0.0.1", port), type("Handler", (_HttpHandler,), {"sqs": LocalSqs()}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="written with the port once listening")
    args = parser.parse_args(argv)
    serve_until_stopped(serve(args.port), args.ready_file)


if __name__ == "__main__":
    main()
