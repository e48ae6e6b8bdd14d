"""Shared fixtures: real local servers (moto, the Intercom sandbox) and a Lambda context."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import settings

# What the template sets for every function, before Powertools creates its Logger and Metrics.
os.environ.update(
    POWERTOOLS_SERVICE_NAME="intercom-contacts", POWERTOOLS_METRICS_NAMESPACE="IntercomContacts"
)

from intercom_contacts import services
from intercom_contacts.config import get_settings
from intercom_contacts.handlers import worker
from local.aws import LocalAws, local_moto, provision
from local.intercom_sandbox import IntercomSandbox

# In CI, property tests and the OpenAPI fuzz draw the same examples every run: a failure there is
# reproducible, and a landing is never decided by luck. Locally they explore anew each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

TOKEN = "tok_live_3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


@dataclass
class FakeLambdaContext:
    """What Lambda passes as `context`: the fields Powertools reads, and a clock for the deadline."""

    remaining_millis: int = 29_000
    function_name: str = "CreateContactFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:CreateContactFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with local_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[IntercomSandbox]:
    with IntercomSandbox(token=TOKEN) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_server: IntercomSandbox) -> IntercomSandbox:
    sandbox_server.reset()
    sandbox_server.rotate_token(TOKEN)
    sandbox_server.set_rate_limit(None)
    return sandbox_server


@pytest.fixture
def local_aws(moto_endpoint: str) -> LocalAws:
    """Fresh resources per test (own names), so no test sees another's messages."""
    return provision(moto_endpoint, token=TOKEN, prefix=f"t{uuid.uuid4().hex[:12]}")


Configure = Callable[..., None]


@pytest.fixture
def service_env(
    monkeypatch: pytest.MonkeyPatch, local_aws: LocalAws, sandbox: IntercomSandbox
) -> Iterator[LocalAws]:
    """The functions' environment, pointed at moto and the sandbox, with every warm cache emptied."""
    env = {
        **local_aws.env(),
        "INTERCOM_BASE_URL": sandbox.url,
        "INTERCOM_BACKOFF_FACTOR": "0.02",
        "POWERTOOLS_SERVICE_NAME": "intercom-contacts",
        "POWERTOOLS_METRICS_NAMESPACE": "IntercomContacts",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _clear_warm_state()
    yield local_aws
    _clear_warm_state()


@pytest.fixture
def configure(service_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Configure:
    """Change the functions' environment mid-test, as a new deployment would: warm caches are emptied."""

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        _clear_warm_state()

    return apply


def _clear_warm_state() -> None:
    """Forget what a warm container keeps, so the next call builds it from the environment again."""
    get_settings.cache_clear()
    for cached in (
        services.intercom_client,
        services.secrets_provider,
        services.contact_creator,
        services.dynamodb_client,
        services.outcomes,
        services.batches,
        services.sqs_client,
        services.workspace_attributes,
        worker.record_processor,
    ):
        cached.cache_clear()
