"""A worker that dies mid-batch, for the crash test: it handles the first half, then raises."""

from __future__ import annotations

from typing import Any

from intercom_contacts.handlers import worker


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    half = event["Records"][: len(event["Records"]) // 2]
    worker.lambda_handler({"Records": half}, context)
    raise RuntimeError("the container died mid-batch")
