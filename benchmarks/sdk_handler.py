"""The peer: the same handler written with Intercom's official Python SDK (python-intercom) and boto3,
with the floor's output on stdout (a JSON log line and an EMF metric document per request)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from intercom import CreateContactRequestWithEmail, Intercom

SECRETS = boto3.client("secretsmanager")
TOKEN = json.loads(SECRETS.get_secret_value(SecretId=os.environ["INTERCOM_TOKEN_SECRET_ID"])["SecretString"])[
    "token"
]
CLIENT = Intercom(token=TOKEN, base_url=os.environ["INTERCOM_BASE_URL"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.loads(event["body"])
    contact = CLIENT.contacts.create(request=CreateContactRequestWithEmail(**body))
    print(json.dumps({"level": "INFO", "message": "contact created", "contact_id": contact.id}))
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
    return {"statusCode": 201, "body": json.dumps(contact.dict())}
