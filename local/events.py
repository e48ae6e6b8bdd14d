"""The events AWS sends a function, built the way API Gateway and the SQS event source build them."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from local.aws import REGION

ACCOUNT_ID = "123456789012"


def api_gateway_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    resource: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    request_id: str | None = None,
    stage: str = "v1",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event, as API Gateway sends it for `method path`.

    `resource` is the route's path as the template declares it (`/contacts/batch/{batch_id}`; the
    path itself by default) and `path_parameters` the values its `{...}` segments matched.
    """
    headers = dict(headers or {})
    request_id = request_id or str(uuid.uuid4())
    is_binary = isinstance(body, bytes)
    if isinstance(body, bytes):
        try:
            text: str | None = body.decode("utf-8")
            is_binary = False
        except UnicodeDecodeError:
            text = base64.b64encode(body).decode()
    else:
        text = body
    now = time.time()
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource or path,
            "httpMethod": method.upper(),
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "local",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent"), "apiKey": None},
            "domainName": "localhost",
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": is_binary,
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    """An SQS event from messages as `ReceiveMessage` returns them (with all attributes)."""
    records = []
    for message in messages:
        attributes = message.get("MessageAttributes") or {}
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in attributes.items()
                },
                "md5OfBody": message.get("MD5OfBody")
                or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}
