"""The one Logger and Metrics every handler imports, and the masking used in log lines."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "mask_email", "metrics"]


def mask_email(email: str | None) -> str | None:
    """`jane.doe@example.com` -> `j***@example.com`: enough to correlate, not enough to identify."""
    if not email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
