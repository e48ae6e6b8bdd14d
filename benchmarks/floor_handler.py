"""The floor: the least a handler can do for POST /contacts (read the secret, POST, answer), with the
same output on stdout as the service: a JSON log line and an EMF metric document per request."""

from __future__ import annotations

import json
import os
import time
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
    contact = json.loads(answer.data)
    print(json.dumps({"level": "INFO", "message": "contact created", "contact_id": contact.get("id")}))
    print(
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": os.environ["POWERTOOLS_METRICS_NAMESPACE"],
                            "Dimensions": [["service"]],
                            "Metrics": [{"Name": "ContactsCreated", "Unit": "Count"}],
                        }
                    ],
                },
                "service": os.environ["POWERTOOLS_SERVICE_NAME"],
                "ContactsCreated": [1.0],
            }
        )
    )
    return {"statusCode": 201 if answer.status == 200 else 502, "body": json.dumps(contact)}
