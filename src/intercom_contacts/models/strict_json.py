"""JSON as Intercom reads it: numbers it cannot store are kept out of the parsed body.

Python's parser accepts `NaN` and `Infinity` (not JSON; Intercom refuses them), turns `1e400` into
infinity, and raises on integers of more than 4,300 digits. Here each becomes an
`UnrepresentableNumber`, which no field of the request model accepts, so validation names the field
and Intercom is never called. `canonical` writes a parsed body back as text, such numbers included,
so that the same body always hashes the same (an idempotency key is bound to its body's hash).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_INT_DIGITS = 20  # a signed 64-bit integer has at most 19 digits and a sign


class UnrepresentableNumber:
    """A number in a body that Intercom cannot store: NaN, ±Infinity, or out of range."""

    def __init__(self, text: str) -> None:
        self.text = text[:24]
        self.digest = hashlib.sha256(text.encode()).hexdigest()  # tells apart long numbers cut alike

    def __repr__(self) -> str:
        return f"UnrepresentableNumber({self.text!r})"


def _integer(text: str) -> int | UnrepresentableNumber:
    if len(text) > _MAX_INT_DIGITS:
        return UnrepresentableNumber(text)
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else UnrepresentableNumber(text)


def _float(text: str) -> float | UnrepresentableNumber:
    value = float(text)
    return value if math.isfinite(value) else UnrepresentableNumber(text)


def loads(text: str | bytes) -> Any:
    """`json.loads`, with numbers Intercom cannot store as UnrepresentableNumber."""
    return json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=UnrepresentableNumber)


def canonical(value: Any) -> str:
    """`value` as compact JSON with sorted keys: equal bodies give equal text, whatever their spelling."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_unrepresentable)


def _unrepresentable(value: Any) -> str:
    if isinstance(value, UnrepresentableNumber):
        return f"unrepresentable:{value.digest}"
    raise TypeError(f"{type(value).__name__} is not JSON")
