"""The local API Gateway (local/gateway.py) in front of the real API function, called in-process against
moto: what a client sends in the URL reaches the handler as API Gateway would hand it over."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import urllib3

from local.aws import LocalAws
from local.functions import load_function
from local.gateway import Gateway, serve, template_routes
from local.runtime import in_process

KEY = {"x-api-key": "k", "Content-Type": "application/json"}
http = urllib3.PoolManager(retries=False, timeout=30)


@pytest.fixture
def api_url(service_env: LocalAws) -> Iterator[str]:
    routes = template_routes()
    invokers = {route.function: in_process(load_function(route.function, {})) for route in routes}
    server = serve(Gateway(routes, invokers, "k", lambda: "{}"), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_percent_encoded_batch_id_finds_its_batch(api_url: str) -> None:
    # Given a batch, and its id with every character percent-encoded (%41 for A, ...)
    posted = http.request(
        "POST",
        f"{api_url}/contacts/batch",
        body=json.dumps({"contacts": [{"role": "lead", "email": "encoded@example.com"}]}),
        headers=KEY,
    )
    batch_id = json.loads(posted.data)["batch_id"]
    encoded = "".join(f"%{byte:02X}" for byte in batch_id.encode())
    # When it is looked up by the encoded id
    answer = http.request("GET", f"{api_url}/contacts/batch/{encoded}", headers=KEY)
    # Then the batch comes back, under its own id
    assert answer.status == 200, answer.data
    assert json.loads(answer.data)["batch_id"] == batch_id
