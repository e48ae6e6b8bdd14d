"""The run log table: each queued batch and each of its items' outcome. Only DynamoDB access lives here;
logic/batches.py and logic/outcomes.py decide what to write.

One partition a batch: the header (`sk` = `batch`) and one item a contact (`sk` = `item#00042`).
Every write is conditional or idempotent, so redeliveries, replays, botocore's own retries and
concurrent workers never count twice:

- an item leaves `pending` or `failed` only with a conditional update (a replay or a late copy of a
  message changes nothing), and `failed` is the only final status an item can leave: to `pending`
  when exactly one retry claims it, or to a success when another copy of its message succeeds;
- the header keeps, for each final status, the string set of the indexes in it: the counts are read
  from there, never item by item. After changing items, a writer puts each index in the set of the
  status its item has (and out of the others), then reads the items again and repeats for any that
  another writer changed meanwhile. So the last header write for an index is its item's latest
  status, whatever order concurrent writers' header writes land in, and the sets are exact once
  the writers are done.

Records expire with the idempotency records.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator, Mapping, Sequence
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
READ_BATCH = 100  # BatchGetItem's limit
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
    steps: str | None = None  # the companies and tags done, as JSON (logic/contact_steps.py)


@dataclass(frozen=True)
class Header:
    batch_id: str
    submitted_at: str
    updated_at: str
    total: int
    rejected: int
    by_status: dict[str, frozenset[int]]  # each final status: the indexes of the items in it
    version: int  # grows once for each retry (or resend) that sends failed items again
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
    steps: str | None = None
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
    def note_retry(
        self, batch_id: str, index: int, code: str, reason: str, *, contact_id: str | None = None
    ) -> None:
        """An attempt failed and the item will be tried again: it stays pending with its last error (and
        the contact, when it exists already: a company or tag step failed)."""
        values = {":code": _s(code), ":reason": _s(reason[:1000]), ":one": _n(1), ":pending": _s("pending")}
        contact = ""
        if contact_id:
            values[":contact_id"] = _s(contact_id)
            contact = ", contact_id = :contact_id"
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, item_key(index)),
                UpdateExpression=f"SET #code = :code, reason = :reason{contact} ADD attempts :one",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#code": "code", "#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # not pending: a copy of a final item
                raise RunLogUnavailable.wrap() from None
            return
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        self._update_header(batch_id, "", {})  # the batch changed when one of its items did

    def finish(self, finish: Finish) -> Header | None:
        headers = self.finish_many([finish])
        return headers[0] if headers else None

    def finish_many(self, finishes: Sequence[Finish]) -> list[Header]:
        """Move items to their final status, then count each under the status it really has; returns each
        batch's header (none for a batch the run log does not have: expired, or another stack's)."""
        statuses = self._in_parallel(self._move, finishes)
        by_batch: dict[str, dict[int, str]] = {}
        for finish, status in zip(finishes, statuses, strict=True):
            if status is not None:
                by_batch.setdefault(finish.batch_id, {})[finish.index] = status
        headers = [self._settle_header(batch_id, moved) for batch_id, moved in by_batch.items()]
        return [header for header in headers if header is not None]

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
    def claim(self, batch_id: str, indexes: Sequence[int], claim: str, *, new_version: bool) -> list[int]:
        """Before failed items are sent again: each moves from failed to pending for the one caller whose
        conditional update wins it, so concurrent retries send it once; returns the indexes `claim` won.
        They stop counting as failed before any is sent, so the batch cannot be announced complete while
        one is on its way; with `new_version` the batch's completion will be announced again."""
        won = self._in_parallel(lambda index: self._claim(batch_id, index, claim), indexes)
        claimed = [index for index, ok in zip(indexes, won, strict=True) if ok]
        if claimed:
            self._settle_header(batch_id, dict.fromkeys(claimed, "pending"), new_version=new_version)
        return claimed

    def release(self, batch_id: str, reasons: dict[int, str], claim: str, code: str) -> None:
        """Claimed items SQS refused: failed again with their reason, each only while still pending from
        `claim` (a copy of its message elsewhere may have finished it meanwhile)."""
        statuses = self._in_parallel(
            lambda index: self._release(batch_id, index, claim, code, reasons[index]), list(reasons)
        )
        self._settle_header(batch_id, dict(zip(reasons, statuses, strict=True)))

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
        values[":steps"] = _s(finish.steps or "")  # at most 10 companies and 20 tags: a few KB
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(finish.batch_id, item_key(finish.index)),
                UpdateExpression="SET #status = :status, contact_id = :contact_id, #code = :code, "
                "reason = :reason, steps = :steps ADD attempts :attempt",
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

    def _claim(self, batch_id: str, index: int, claim: str) -> bool:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, item_key(index)),
                UpdateExpression="SET #status = :pending, #claim = :claim",
                ConditionExpression="#status = :failed",
                ExpressionAttributeNames={"#status": "status", "#claim": "claim"},
                ExpressionAttributeValues={
                    ":pending": _s("pending"),
                    ":failed": _s("failed"),
                    ":claim": _s(claim),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise RunLogUnavailable.wrap() from None
            old: Any = error.response.get("Item") or {}  # ours when botocore retried an applied update
            return _status_in(error) == "pending" and old.get("claim", {}).get("S") == claim
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        return True

    def _release(self, batch_id: str, index: int, claim: str, code: str, reason: str) -> str | None:
        """The item's status after this: failed, or what another copy of its message made it."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, item_key(index)),
                UpdateExpression="SET #status = :failed, #code = :code, reason = :reason",
                ConditionExpression="#status = :pending AND #claim = :claim",
                ExpressionAttributeNames={"#status": "status", "#code": "code", "#claim": "claim"},
                ExpressionAttributeValues={
                    ":failed": _s("failed"),
                    ":pending": _s("pending"),
                    ":claim": _s(claim),
                    ":code": _s(code),
                    ":reason": _s(reason[:1000]),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise RunLogUnavailable.wrap() from None
            return _status_in(error)
        except BotoCoreError:
            raise RunLogUnavailable.wrap() from None
        return "failed"

    def _settle_header(
        self, batch_id: str, statuses: Mapping[int, str | None], *, new_version: bool = False
    ) -> Header | None:
        """Put each index in its status's set and out of the others, then read those items again and
        repeat for any whose status changed meanwhile: a concurrent writer's header write may have
        landed after ours with a status older than the item's. Returns the last header written."""
        header = None
        while statuses:
            by_status: dict[str | None, list[int]] = {}
            for index, status in statuses.items():
                by_status.setdefault(status if status in FINAL_STATUSES else None, []).append(index)
            for status, indexes in by_status.items():
                others = [other for other in FINAL_STATUSES if other != status]
                adds = ([f"{status} :indexes"] if status else []) + (["version :one"] if new_version else [])
                expression = (
                    (f"ADD {', '.join(adds)} " if adds else "")
                    + "DELETE "
                    + ", ".join(f"{other} :indexes" for other in others)
                )
                header = self._update_header(batch_id, expression, {":indexes": _index_set(indexes)})
                if header is None:
                    return None
                new_version = False
            now = self._statuses(batch_id, list(statuses))
            statuses = {index: now[index] for index, status in statuses.items() if now[index] != status}
        return header

    def _statuses(self, batch_id: str, indexes: Sequence[int]) -> dict[int, str | None]:
        """The items' statuses now (consistent reads); None for an item the run log does not have."""
        found: dict[int, str | None] = dict.fromkeys(indexes)
        keys: list[Any] = [_key(batch_id, item_key(index)) for index in indexes]
        for start in range(0, len(keys), READ_BATCH):
            request: Any = {
                self._table: {
                    "Keys": keys[start : start + READ_BATCH],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#index, #status",
                    "ExpressionAttributeNames": {"#index": "index", "#status": "status"},
                }
            }
            for attempt in range(5):
                try:
                    answer = self._dynamodb.batch_get_item(RequestItems=request)
                except (BotoCoreError, ClientError):
                    raise RunLogUnavailable.wrap() from None
                for record in answer.get("Responses", {}).get(self._table, []):
                    found[int(record["index"]["N"])] = record["status"]["S"]
                request = answer.get("UnprocessedKeys")
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise RunLogUnavailable.wrap()
        return found

    def _update_header(
        self, batch_id: str, expression: str, values: dict[str, AttributeValueTypeDef]
    ) -> Header | None:
        values = {**values, ":now": _s(now_iso())}
        if ":one" in expression:
            values[":one"] = _n(1)
        try:
            answer = self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(batch_id, HEADER),
                UpdateExpression=f"{expression} SET updated_at = :now".lstrip(),
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


def _index_set(indexes: Sequence[int]) -> AttributeValueTypeDef:
    return {"SS": sorted({str(index) for index in indexes})}


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
        steps=text("steps"),
        role=text("role"),
        external_id=text("external_id"),
        message=OutgoingMessage(body, attributes) if body is not None else None,
    )
