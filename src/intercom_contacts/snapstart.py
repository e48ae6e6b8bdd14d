"""Lambda SnapStart runtime hooks, used when the template's `SnapStart` parameter turns it on.

Before the snapshot: build what the first request needs that holds no secret and no connection (the
Secrets Manager client, the Intercom client, every route's validation models), so restored
environments start with it. The token is not read: it must not live in a snapshot, and its cache age
would be wrong after one. After a restore: re-seed `random`. Every environment restored from one
snapshot starts with the same generator state and would otherwise draw the same retry jitter and
retry in step.

`snapshot_restore_py` ships with Lambda's Python runtimes; elsewhere there are no snapshots and
nothing is registered.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver


def prime(app: ApiGatewayResolver) -> None:
    # Imported here, when the handler has loaded them: at the top, they would make the handler load
    # boto3 before Powertools, an order measured ~50 ms slower to import (docs/performance.md).
    from intercom_contacts import services  # noqa: PLC0415
    from intercom_contacts.config import ConfigurationError  # noqa: PLC0415
    from intercom_contacts.observability import logger  # noqa: PLC0415

    app.get_openapi_schema()  # builds each route's dependant and validation models, as a request would
    try:
        services.intercom_client()
    except ConfigurationError as error:  # the first request answers it with CONFIGURATION_ERROR
        logger.warning("not primed before the snapshot", extra={"reason": str(error)})


def reseed() -> None:
    random.seed()  # from os.urandom, which is unique per restored environment


def install(app: ApiGatewayResolver) -> None:
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot  # noqa: PLC0415
    except ImportError:  # not in Lambda's runtime: no snapshot will be taken
        return
    register_before_snapshot(prime, app)
    register_after_restore(reseed)
