"""The run log table: each queued batch and each of its items' outcome. Only DynamoDB access lives here;
logic/batches.py and logic/outcomes.py decide what to write.

One partition a batch: the header (`sk` = `batch`) and one item a contact (`sk` = `item#00042`).
Every write is conditional or idempotent, so redeliveries, replays, botocore's own retries and
concurrent workers never count twice:

- an item leaves `pending` or `failed` only with a conditional update (a replay or a late copy of a
  message changes nothing), and `failed` is the only final status an item can leave;
- the header keeps, for each final status, the string set of the indexes in it. Adding an index to a
  set twice is adding it once, and an item's index is added to the set of the status the item really
  has (read back when its own update did not apply), and taken out of `failed` when it succeeds. So
  the counts read from the header are exact, and the header is never read item by item.

Records expire with the idempotency records.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts.errors import RunLogUnavailable
from intercom_contacts.models.messages import OutgoingMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

HEADER = "batch"
WRITE_BATCH = 25  # BatchWriteItem's limit
PARALLEL_WRITES = 8
SUCCESS_STATUSES = ("created", "existing", "updated")
FINAL_STATUSES = (*SUCCESS_STATUSES, "failed")


def item_key(index: int) -> str:
    return f"item#{index:05d}"


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class NewItem:
    """An item as the batch endpoint records it: pending with its message, or rejected with a reason."""

    index: int
    status: str
    message: OutgoingMessage | None = None
    code: str | None = None
    reason: str | None = None
    role: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Finish:
    """An item's final status, as the worker (or SQS's refusal) settles it."""

    batch_id: str
    index: int
    status: str
    contact_id: str | None = None
    code: str | None = None
    reason: str | None = None
    attempt: bool = True  # the worker tried it once more (SQS refusing it at intake is no attempt)


@dataclass(frozen=True)
class Header:
    batch_id: str
    submitted_at: str
    updated_at: str
    total: int
    rejected: int
    by_status: dict[str, frozenset[int]]  # each final status: the indexes of the items in it
    version: int  # grows each time failed items are sent again
    announced_version: int  # the version whose completion was announced
    fingerprint: str | None = None  # the body its Idempotency-Key is bound to; None: an earlier release's

    def count(self, status: str) -> int:
        if status == "rejected":
            return self.rejected
        if status == "pending":
            return self.total - self.rejected - len(frozenset().union(*self.by_status.values()))
        return len(self.by_status.get(status, frozenset()))

    @property
    def complete(self) -> bool:
        return self.count("pending") <= 0


@dataclass(frozen=True)
class Item:
    index: int
    status: str
    attempts: int = 0
    contact_id: str | None = None
    code: str | None = None
    reason: str | None = None
    role: str | None = None
    external_id: str | None = None
    message: OutgoingMessage | None = field(default=None, compare=False)


class RunLog:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str, *, ttl_seconds: int) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._ttl = ttl_seconds

    # --- the batch endpoint ---------------------------------------------------------------------
    def start(self, batch_id: str, items: Sequence[NewItem], *, fingerprint: str) -> Header | None:
        """Record a new batch (its header holds `fingerprint`, what its Idempotency-Key is bound to) and
        its items: None. When the batch was already recorded (a resend with the same key), nothing is
        written and its header is returned, for the caller to compare with what it was sent."""
        stamp, expiration = now_iso(), int(time.time()) + self._ttl
        header = {
            "pk": _s(batch_id),
            "sk": _s(HEADER),
            "submitted_at": _s(stamp),
            "updated_at": _s(stamp),
            "total": _n(len(items)),
            "rejected": _n(sum(item.status == "rejected" for item in items)),
            "fingerprint": _s(fingerprint),
            "version": _n(1),
            "announced_version": _n(0),
            "expiration": _n(expiration),
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=header,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise RunLogUnavailable.wrap() from None
            old: Any = error.response.get("Item")
            recorded = _header(batch_id, old) if old else self.header(batch_id)
            if recorded is None:  # expired between the two calls: try the intake again
                raise RunLogUnavailable.wrap() from None
            return recorded
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        records = [self._record(batch_id, item, stamp, expiration) for item in items]
        chunks = [records[start : start + WRITE_BATCH] for start in range(0, len(records), WRITE_BATCH)]
        self._in_parallel(self._write_batch, chunks)
        return None

    def add_missing(self, header: Header, items: Sequence[NewItem]) -> None:
        """The items of a recorded batch that a failed first intake did not write; never one at or
        beyond the header's `total`, so the counts stay those of the batch first recorded."""
        stamp, expiration = now_iso(), int(time.time()) + self._ttl
        records = [
            self._record(header.batch_id, item, stamp, expiration)
            for item in items
            if item.index < header.total
        ]
        self._in_parallel(self._put_if_missing, records)

    # --- the worker -----------------------------------------------------------------------------
    def note_retry(self, batch_id: str, index: int, code: str, reason: str) -> None:
        """An attempt failed and the item will be tried again: it stays pending with its last error."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, item_key(index)),
                UpdateExpression="SET #code = :code, reason = :reason ADD attempts :one",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#code": "code", "#status": "status"},
                ExpressionAttributeValues={
                    ":code": _s(code),
                    ":reason": _s(reason[:1000]),
                    ":one": _n(1),
                    ":pending": _s("pending"),
                },
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # not pending: a copy of a final item
                raise RunLogUnavailable.wrap() from None
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None

    def finish(self, finish: Finish) -> Header | None:
        headers = self.finish_many([finish])
        return headers[0] if headers else None

    def finish_many(self, finishes: Sequence[Finish]) -> list[Header]:
        """Move items to their final status, then count each under the status it really has; returns each
        batch's header (none for a batch the run log does not have: expired, or another stack's)."""
        statuses = self._in_parallel(self._move, finishes)
        by_batch: dict[str, dict[str, list[int]]] = {}
        for finish, status in zip(finishes, statuses, strict=True):
            if status is not None:
                by_batch.setdefault(finish.batch_id, {}).setdefault(status, []).append(finish.index)
        headers = []
        for batch_id, indexes_by_status in by_batch.items():
            header = None
            for status, indexes in indexes_by_status.items():
                header = self._count(batch_id, status, indexes)
            if header is not None:
                headers.append(header)
        return headers

    def mark_announced(self, batch_id: str, version: int) -> None:
        """The completion of `version` was announced: no later finish announces it again."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, HEADER),
                UpdateExpression="SET announced_version = :version",
                ConditionExpression="announced_version < :version",
                ExpressionAttributeValues={":version": _n(version)},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # another worker announced it
                raise RunLogUnavailable.wrap() from None
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None

    # --- the retry endpoint ---------------------------------------------------------------------
    def reopen(self, batch_id: str, index: int) -> None:
        """Before a failed item is sent again: it no longer counts as failed, and the batch has a new
        version whose completion will be announced."""
        self._update_header(batch_id, "DELETE failed :indexes ADD version :one", [index])

    def requeued(self, batch_id: str, index: int) -> bool:
        """After its message was sent again: the failed item is pending. False when a worker finished it
        meanwhile; it is then counted under its status again."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, item_key(index)),
                UpdateExpression="SET #status = :pending",
                ConditionExpression="#status = :failed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":pending": _s("pending"), ":failed": _s("failed")},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise RunLogUnavailable.wrap() from None
            status = _status_in(error)
            if status == "pending":  # this very update, applied once and retried by botocore
                return True
            if status in SUCCESS_STATUSES:
                self._count(batch_id, status, [index])
            return False
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        return True

    # --- reading --------------------------------------------------------------------------------
    def header(self, batch_id: str) -> Header | None:
        try:
            found = self._dynamodb.get_item(
                TableName=self._table, Key=_key(batch_id, HEADER), ConsistentRead=True
            ).get("Item")
        except (BotoCoreError, ClientError):
            raise RunLogUnavailable.wrap() from None
        return _header(batch_id, found) if found else None

    def items(
        self, batch_id: str, *, after: int = -1, status: str | None = None, limit: int | None = None
    ) -> Iterator[Item]:
        """The batch's items in index order, from after `after`, only those in `status` if given; reads
        about `limit` items a page when given (a page's end is known from one more)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": _s(batch_id),
                ":first": _s(item_key(after + 1)),
                ":last": _s(item_key(99_999)),
            },
            "ConsistentRead": True,
        }
        if limit is not None:
            query["Limit"] = limit
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"] = {"#status": "status"}
            query["ExpressionAttributeValues"][":status"] = _s(status)
        while True:
            try:
                page = self._dynamodb.query(**query)
            except (BotoCoreError, ClientError):
                raise RunLogUnavailable.wrap() from None
            yield from (_item(record) for record in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- helpers --------------------------------------------------------------------------------
    def _move(self, finish: Finish) -> str | None:
        """The item's final status after this: `finish.status`, or the final status it already had (a
        replay, a late copy); None when the run log has no such item."""
        values: dict[str, AttributeValueTypeDef] = {
            ":status": _s(finish.status),
            ":pending": _s("pending"),
            ":failed": _s("failed"),
            ":attempt": _n(1 if finish.attempt else 0),
        }
        for name, value in (
            ("contact_id", finish.contact_id),
            ("code", finish.code),
            ("reason", finish.reason),
        ):
            values[f":{name}"] = _s(value[:1000] if value else "")  # "": none (no REMOVE: cheaper to apply)
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(finish.batch_id, item_key(finish.index)),
                UpdateExpression="SET #status = :status, contact_id = :contact_id, #code = :code, "
                "reason = :reason ADD attempts :attempt",
                ConditionExpression="#status IN (:pending, :failed)",
                ExpressionAttributeNames={"#status": "status", "#code": "code"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise RunLogUnavailable.wrap() from None
            status = _status_in(error)
            return status if status in FINAL_STATUSES else None
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        return finish.status

    def _count(self, batch_id: str, status: str, indexes: Sequence[int]) -> Header | None:
        """Count the items under `status`; a success also takes them out of `failed` (a redrive or a
        retry made a failed item succeed)."""
        expression = f"ADD {status} :indexes" + (" DELETE failed :indexes" if status != "failed" else "")
        return self._update_header(batch_id, expression, indexes)

    def _update_header(self, batch_id: str, expression: str, indexes: Sequence[int]) -> Header | None:
        values: dict[str, AttributeValueTypeDef] = {
            ":indexes": {"SS": sorted({str(index) for index in indexes})},
            ":now": _s(now_iso()),
        }
        if ":one" in expression:
            values[":one"] = _n(1)
        try:
            answer = self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, HEADER),
                UpdateExpression=f"{expression} SET updated_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise RunLogUnavailable.wrap() from None
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        return _header(batch_id, answer["Attributes"])

    def _record(self, batch_id: str, item: NewItem, stamp: str, expiration: int) -> dict[str, Any]:
        record: dict[str, Any] = {
            "pk": _s(batch_id),
            "sk": _s(item_key(item.index)),
            "index": _n(item.index),
            "status": _s(item.status),
            "attempts": _n(0),
            "expiration": _n(expiration),
        }
        optional = {
            "code": item.code,
            "reason": item.reason,
            "role": item.role,
            "external_id": item.external_id,
        }
        record.update({name: _s(value) for name, value in optional.items() if value})
        if item.message is not None:
            record["body"] = _s(item.message.body)
            record["attributes"] = {"M": {k: _s(v) for k, v in item.message.attributes.items()}}
        return record

    def _write_batch(self, records: list[dict[str, Any]]) -> None:
        requests: Any = {self._table: [{"PutRequest": {"Item": record}} for record in records]}
        for attempt in range(5):
            try:
                unprocessed = self._dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems")
            except (BotoCoreError, ClientError):
                raise RunLogUnavailable.wrap() from None
            if not unprocessed:
                return
            requests = unprocessed
            time.sleep(0.05 * 2**attempt)
        raise RunLogUnavailable.wrap()

    def _put_if_missing(self, record: dict[str, Any]) -> None:
        try:
            self._dynamodb.put_item(
                TableName=self._table, Item=record, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise RunLogUnavailable.wrap() from None
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None

    def _in_parallel(self, work: Any, inputs: Sequence[Any]) -> list[Any]:
        if len(inputs) <= 1:
            return [work(value) for value in inputs]
        with ThreadPoolExecutor(max_workers=PARALLEL_WRITES, thread_name_prefix="run-log") as pool:
            return list(pool.map(work, inputs))


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _key(batch_id: str, sort_key: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": _s(batch_id), "sk": _s(sort_key)}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status_in(error: ClientError) -> str | None:
    """The item's status as a failed conditional write returned it (ReturnValuesOnConditionCheckFailure)."""
    item: Any = error.response.get("Item") or {}
    status = item.get("status", {}).get("S")
    return str(status) if status else None


def _header(batch_id: str, record: dict[str, Any]) -> Header:
    return Header(
        batch_id=batch_id,
        submitted_at=record["submitted_at"]["S"],
        updated_at=record["updated_at"]["S"],
        total=int(record["total"]["N"]),
        rejected=int(record["rejected"]["N"]),
        by_status={
            status: frozenset(int(index) for index in record.get(status, {}).get("SS", []))
            for status in FINAL_STATUSES
        },
        version=int(record["version"]["N"]),
        announced_version=int(record["announced_version"]["N"]),
        fingerprint=record.get("fingerprint", {}).get("S"),
    )


def _item(record: dict[str, Any]) -> Item:
    def text(name: str) -> str | None:
        value = record.get(name, {}).get("S")
        return str(value) if value else None

    body = text("body")
    attributes = {k: v["S"] for k, v in record.get("attributes", {}).get("M", {}).items()}
    return Item(
        index=int(record["index"]["N"]),
        status=record["status"]["S"],
        attempts=int(record.get("attempts", {}).get("N", 0)),
        contact_id=text("contact_id"),
        code=text("code"),
        reason=text("reason"),
        role=text("role"),
        external_id=text("external_id"),
        message=OutgoingMessage(body, attributes) if body is not None else None,
    )
