"""The stored answer of a keyed batch: whatever 1,000 items say, it fits in one DynamoDB item."""

from __future__ import annotations

import secrets

from intercom_contacts.logic.idempotency import _packed, _unpacked
from intercom_contacts.models.batch import MAX_ITEM_FIELDS, BatchItemResult, BatchResponse
from intercom_contacts.models.contact import FieldError


def _rejected(index: int, names: list[str]) -> BatchItemResult:
    return BatchItemResult(
        index=index,
        status="rejected",
        code="VALIDATION_ERROR",
        message=f"Invalid fields: {', '.join(names)}.",
        fields=[FieldError(field=name, message="Extra inputs are not permitted") for name in names],
    )


def test_the_largest_answer_a_body_can_cause_fits_in_a_dynamodb_item() -> None:
    # Given 1,000 rejected items, each naming the most fields allowed, every name random (nothing to
    # compress) and 18 characters long: `"<name>":0,` 10,000 times is as much as a 256 KiB body holds
    items = [
        _rejected(n, [secrets.token_urlsafe(14)[:18] for _ in range(MAX_ITEM_FIELDS)]) for n in range(1000)
    ]
    answer = BatchResponse(batch_id="b" * 26, queued=0, rejected=1000, failed=0, items=items)
    # When it is packed for the idempotency store
    packed = _packed(answer)
    # Then it leaves room in DynamoDB's 400 KB item for the record's other attributes, and unpacks whole
    assert len(packed["answer"]) < 350_000
    assert _unpacked(packed) == answer


def test_an_ordinary_answer_is_stored_whole() -> None:
    # Given 1,000 items, half rejected for the same few unknown fields
    items = [_rejected(n, ["plan", "seats"]) for n in range(500)] + [
        BatchItemResult(index=n, status="queued", message_id=secrets.token_hex(16)) for n in range(500, 1000)
    ]
    answer = BatchResponse(batch_id="b" * 26, queued=500, rejected=500, failed=0, items=items)
    # When it is packed and unpacked, then it is the same answer
    assert _unpacked(_packed(answer)) == answer
