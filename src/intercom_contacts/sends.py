"""Which idempotency keys have been sent to Intercom, and when: one item a key in the idempotency
table, written just before a create request leaves.

An attempt that dies after Intercom created the contact but before its outcome is recorded leaves
Powertools' record in progress; once that expires, the next attempt runs again. Finding this item
tells it an earlier attempt may have created the contact: a lead is then looked up, not sent again.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts.errors import IdempotencyStoreUnavailable
from intercom_contacts.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "sent#"


class SendJournal:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str, *, ttl_seconds: int) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._ttl = ttl_seconds

    def claim(self, idempotency_key: str) -> float | None:
        """Record that `idempotency_key` is sent now. Returns when an earlier attempt sent it, or None
        when this is the first; raises IdempotencyStoreUnavailable (nothing may be sent then)."""
        now, attempt = time.time(), uuid.uuid4().hex
        key = {"id": {"S": KEY_PREFIX + idempotency_key}}
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **key,
                    "sent_at": {"N": f"{now:.3f}"},
                    "attempt": {"S": attempt},
                    "expiration": {"N": str(int(now) + self._ttl)},
                },
                ConditionExpression="attribute_not_exists(id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._unclaimed(key, attempt, error) from None
            earlier: Any = error.response.get("Item") or {}
            if earlier.get("attempt", {}).get("S") == attempt:
                return None  # this very claim, applied once and sent again by botocore's retry
            sent_at = earlier.get("sent_at", {}).get("N")
            return float(sent_at) if sent_at else now
        except BotoCoreError as error:
            raise self._unclaimed(key, attempt, error) from None
        return None

    def _unclaimed(self, key: dict[str, Any], attempt: str, error: Exception) -> IdempotencyStoreUnavailable:
        """The claim failed, so nothing is sent; but a write that timed out may still have landed, and
        would tell the next attempt this one sent the contact. Take it back if it is there."""
        logger.warning("could not claim a send", extra={"cause": repr(error)[:300]})
        with contextlib.suppress(BotoCoreError, ClientError):
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=key,
                ConditionExpression="attempt = :attempt",
                ExpressionAttributeValues={":attempt": {"S": attempt}},
            )
        return _unavailable()

    def release(self, idempotency_key: str) -> None:
        """Intercom answered that it did not create the contact: a later attempt may send it again.

        If this fails, the item stays: a later attempt looks the contact up instead of sending it, and
        says its outcome is unknown when it finds nothing. Never a duplicate, so it is only logged."""
        try:
            self._dynamodb.delete_item(TableName=self._table, Key={"id": {"S": KEY_PREFIX + idempotency_key}})
        except (BotoCoreError, ClientError):
            logger.warning("could not release a sent marker; a retry will look the contact up")


def _unavailable() -> IdempotencyStoreUnavailable:
    return IdempotencyStoreUnavailable(
        "The idempotency store is unavailable; nothing was sent to Intercom. Retry later."
    )
