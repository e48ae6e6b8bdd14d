"""Which idempotency keys have been sent to Intercom, and when: one item a key in the idempotency
table, written just before a create request leaves.

An attempt that dies after Intercom created the contact but before its outcome is recorded leaves
Powertools' record in progress; once that expires, the next attempt runs again. Finding this item
tells it an earlier attempt may have created the contact: a lead is then looked up, not sent again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

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
        now = time.time()
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": KEY_PREFIX + idempotency_key},
                    "sent_at": {"N": f"{now:.3f}"},
                    "expiration": {"N": str(int(now) + self._ttl)},
                },
                ConditionExpression="attribute_not_exists(id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _unavailable() from None
            earlier = error.response.get("Item", {}).get("sent_at", {}).get("N")  # type: ignore[attr-defined]
            return float(earlier) if earlier else now
        except BotoCoreError:
            raise _unavailable() from None
        return None

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
