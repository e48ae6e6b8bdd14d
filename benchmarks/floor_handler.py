"""The floor: the least a handler can do for POST /contacts (read the secret, POST, answer)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import urllib3

SECRETS = boto3.client("secretsmanager")
POOL = urllib3.PoolManager()
TOKEN = json.loads(SECRETS.get_secret_value(SecretId=os.environ["INTERCOM_TOKEN_SECRET_ID"])["SecretString"])[
    "token"
]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = POOL.request(
        "POST",
        os.environ["INTERCOM_BASE_URL"] + "/contacts",
        body=event["body"],
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    return {"statusCode": 201 if answer.status == 200 else 502, "body": answer.data.decode()}
