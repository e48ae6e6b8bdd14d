"""Which create requests have left for Intercom, and when: one item an idempotency key in the
idempotency table, written once the request has its rate-limit turn, just before it leaves.

An attempt that dies after Intercom created the contact but before its outcome is recorded leaves
Powertools' record in progress; once that expires (or Powertools deletes it, as it does when the
function raises), the next attempt runs again. Finding this item tells it an earlier attempt may have
created the contact: a lead is then looked up before it may be sent again.

Items are namespaced as Powertools namespaces its records, by function (`sent#<function>#<key>`), so
the API's `K:0` and the worker's item 0 of batch `K` never meet; each holds a hash of the body sent,
so the same key met with another body is a reused key, never a sign that this body was sent.

Beside it, `steps#<function>#<key>` keeps which of a request's companies and tags were done by an
attempt that failed part-way (logic/contact_steps.py), so that its retry does only the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts.errors import IdempotencyKeyReused, IdempotencyStoreUnavailable
from intercom_contacts.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "sent#"
STEPS_PREFIX = "steps#"


@dataclass(frozen=True)
class Sent:
    """One attempt's send: when it left, and the latest any retry of it could leave (the deadline of
    the invocation that sent it, on the wall clock)."""

    attempt: str
    sent_at: float
    last_send_by: float


class SentBefore(Exception):  # a finding, not a failure: the request is looked up instead
    """An earlier attempt sent this request and its outcome was never recorded; nothing was sent now."""

    def __init__(self, earlier: Sent) -> None:
        super().__init__(f"sent before, at {earlier.sent_at:.3f}")
        self.earlier = earlier


class SendJournal:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str, *, function: str, ttl_seconds: int) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._function = function
        self._ttl = ttl_seconds

    def entry(self, idempotency_key: str, body: Mapping[str, Any]) -> JournalEntry:
        """The journal as one request sees it: its own function's key, and the body it sends."""
        return self._item(JournalEntry, KEY_PREFIX, idempotency_key, body)

    def steps(self, idempotency_key: str, body: Mapping[str, Any]) -> StepsRecord:
        """Where one request's done steps are kept."""
        return self._item(StepsRecord, STEPS_PREFIX, idempotency_key, body)

    def _item(self, kind: type[_Item], prefix: str, idempotency_key: str, body: Mapping[str, Any]) -> _Item:
        key = {"id": {"S": f"{prefix}{self._function}#{idempotency_key}"}}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return kind(
            self._dynamodb, self._table, key, hashlib.sha256(canonical.encode()).hexdigest(), self._ttl
        )


class _JournalItem:
    """One request's item in the journal: its key, and its body's hash."""

    def __init__(
        self, dynamodb: DynamoDBClient, table: str, key: dict[str, Any], body_hash: str, ttl: int
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._key = key
        self.body_hash = body_hash
        self._ttl = ttl


_Item = TypeVar("_Item", bound=_JournalItem)


class StepsRecord(_JournalItem):
    """The steps one keyed request had done when an attempt failed part-way. Only a help: when it cannot
    be written or read, the retry does every step again, which Intercom answers without change."""

    def save(self, contact_id: str, done: Mapping[str, Any]) -> None:
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **self._key,
                    "body": {"S": self.body_hash},
                    "contact_id": {"S": contact_id},
                    "done": {"S": json.dumps(done, separators=(",", ":"))},
                    "expiration": {"N": str(int(time.time()) + self._ttl)},
                },
            )
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "could not record the steps done; a retry repeats them", extra={"cause": repr(error)[:300]}
            )

    def load(self, contact_id: str) -> dict[str, Any] | None:
        """What an earlier attempt recorded for this body and contact (a contact made again since, or the
        key's record of another body after it expired, is not this one's)."""
        try:
            item = self._dynamodb.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "could not read the steps done; repeating them", extra={"cause": repr(error)[:300]}
            )
            return None
        if not item or item["body"]["S"] != self.body_hash or item["contact_id"]["S"] != contact_id:
            return None
        done: dict[str, Any] = json.loads(item["done"]["S"])
        return done


class JournalEntry(_JournalItem):
    def claim(self, *, last_send_by: float, replacing: Sent | None = None) -> Sent:
        """Record that this request is sent now, in place of `replacing` (an earlier send found not to
        have created the contact), and return the record. Raises SentBefore when another attempt sent
        it (nothing is written), IdempotencyKeyReused when that attempt sent another body under the
        key, IdempotencyStoreUnavailable when the write fails (nothing may be sent then)."""
        mine = Sent(uuid.uuid4().hex, time.time(), last_send_by)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **self._key,
                    "body": {"S": self.body_hash},
                    "sent_at": {"N": f"{mine.sent_at:.3f}"},
                    "last_send_by": {"N": f"{mine.last_send_by:.3f}"},
                    "attempt": {"S": mine.attempt},
                    "expiration": {"N": str(int(mine.sent_at) + self._ttl)},
                },
                # Written attempts are never "": without `replacing`, only a free key is claimed.
                ConditionExpression="attribute_not_exists(id) OR attempt = :earlier",
                ExpressionAttributeValues={":earlier": {"S": replacing.attempt if replacing else ""}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._unclaimed(mine, error) from None
            earlier: Any = error.response.get("Item") or {}
            if earlier.get("attempt", {}).get("S") == mine.attempt:
                return mine  # this very claim, applied once and sent again by botocore's retry
            if earlier.get("body", {}).get("S") != self.body_hash:
                raise IdempotencyKeyReused(
                    "This idempotency key was already used for a different contact; use a new key for each."
                ) from None
            raise SentBefore(_sent(earlier)) from None
        except BotoCoreError as error:
            raise self._unclaimed(mine, error) from None
        return mine

    def _unclaimed(self, mine: Sent, error: Exception) -> IdempotencyStoreUnavailable:
        """The claim failed, so nothing is sent; but a write that timed out may still have landed, and
        would tell the next attempt this one sent the contact. Take it back if it is there."""
        logger.warning("could not claim a send", extra={"cause": repr(error)[:300]})
        self._delete(mine)
        return IdempotencyStoreUnavailable(
            "The idempotency store is unavailable; nothing was sent to Intercom. Retry later."
        )

    def release(self, mine: Sent) -> None:
        """Intercom's answer shows it did not create the contact (or the request never left): a later
        attempt may send it again at once.

        If this fails, the item stays: a later attempt looks the contact up first, and sends it again
        only once search shows it was not created. Never a duplicate, so it is only logged."""
        if not self._delete(mine):
            logger.warning("could not release a sent marker; a retry will look the contact up first")

    def _delete(self, mine: Sent) -> bool:
        """Delete this attempt's item, if it is still there and still this attempt's."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=self._key,
                ConditionExpression="attempt = :attempt",
                ExpressionAttributeValues={":attempt": {"S": mine.attempt}},
            )
            return True
        return False


def _sent(item: Mapping[str, Any]) -> Sent:
    sent_at = float(item.get("sent_at", {}).get("N") or time.time())
    last_send_by = float(item.get("last_send_by", {}).get("N") or sent_at)
    return Sent(item.get("attempt", {}).get("S", ""), sent_at, last_send_by)
