"""The idiomatic floor: the least a handler can do for POST /contacts with the stack the service is
specified to use (Powertools' resolver with pydantic validation, Powertools parameters for the secret,
Logger and Metrics as the service uses them, urllib3). The service's distance from this is what its
own code costs; this handler's distance from the plain floor is what the specified stack costs."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import urllib3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import get_secret
from pydantic import BaseModel

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
POOL = urllib3.PoolManager()


class NewContact(BaseModel):
    role: Literal["user", "lead"]
    email: str


@app.post("/contacts")
def create(contact: Annotated[NewContact, Body()]) -> tuple[dict[str, Any], int]:
    token = get_secret(os.environ["INTERCOM_TOKEN_SECRET_ID"], transform="json", max_age=300)["token"]
    answer = POOL.request(
        "POST",
        os.environ["INTERCOM_BASE_URL"] + "/contacts",
        json=contact.model_dump(),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    created = answer.json()
    metrics.add_metric(name="ContactsCreated", unit=MetricUnit.Count, value=1)
    logger.info("contact created", extra={"contact_id": created.get("id")})
    return created, 201


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
