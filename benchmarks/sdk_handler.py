"""The peer: the same handler written with Intercom's official Python SDK (python-intercom) and boto3."""

from __future__ import annotations

import json
import os
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
    return {
        "statusCode": 201,
        "body": json.dumps(contact.dict() if hasattr(contact, "dict") else str(contact)),
    }
