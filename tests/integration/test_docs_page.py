"""The docs page (Swagger UI) of the local gateway in a real headless Chromium that cannot reach any
host but this machine: it renders every operation of the API, asks nothing of any other host, and
its own text names none.

Chromium comes from Debian (`make browser`, which `make test` runs first). Every host name but
127.0.0.1 resolves to nothing (--host-resolver-rules), so neither the page nor Chromium's own
background services send a packet off this machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3

from intercom_contacts.handlers import api
from local.gateway import Gateway, serve

OUTSIDE_HOST = re.compile(r"https?://(?!(?:127\.0\.0\.1|localhost)(?:[:/]|$))[^\s'\"<>)]+")
SWAGGER_UI = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")


@dataclass(frozen=True)
class Rendered:
    docs_url: str
    dom: str  # the document after Swagger UI's JavaScript ran
    requests: list[str]  # every URL the page (its frame and what it loaded) asked for


class _Operations(HTMLParser):
    """The (METHOD, path) of each operation block Swagger UI drew."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._method: str | None = None
        self._in_method = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        classes = (names.get("class") or "").split()
        self._in_method = "opblock-summary-method" in classes
        if "opblock-summary-path" in classes and self._method and names.get("data-path"):
            self.found.append((self._method, names["data-path"] or ""))
            self._method = None

    def handle_data(self, data: str) -> None:
        if self._in_method and data.strip():
            self._method = data.strip().upper()
            self._in_method = False


def _page_requests(net_log: Path, origin: str) -> list[str]:
    """The URLs of the page opened at `origin` and of all it asked for (their initiator is the page).
    Chromium's own background requests (component updates, autofill, ...) name no initiator."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    jobs = [event.get("params", {}) for event in log["events"] if event["type"] == start_job]
    return [
        job["url"]
        for job in jobs
        if job.get("request_type") == "main frame" or job.get("initiator") == origin
    ]


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    """The local gateway, serving its docs page for the API's OpenAPI document."""
    server = serve(Gateway([], {}, "k", api.app.get_openapi_json_schema), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def rendered(origin: str, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is not installed: `make browser` installs it (Debian's package)"
    workdir = tmp_path_factory.mktemp("docs")
    dom = subprocess.run(
        [
            chromium,
            *("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"),
            *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline but for us
            f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={workdir / 'net.json'}",
            "--virtual-time-budget=30000",  # the page's clock, not ours: runs until it is idle
            "--dump-dom",
            f"{origin}/docs",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,  # a hung browser fails the test instead of blocking the suite
    ).stdout
    return Rendered(f"{origin}/docs", dom, _page_requests(workdir / "net.json", origin))


def test_the_docs_page_renders_every_operation_offline(rendered: Rendered) -> None:
    # Given the API's OpenAPI document
    spec = json.loads(api.app.get_openapi_json_schema())
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    # When Chromium, with no host but this one reachable, opens the docs page and runs its JavaScript
    drawn = _Operations()
    drawn.feed(rendered.dom)
    # Then Swagger UI drew one operation block for each operation of the API, /contacts/batch among them
    assert ("POST", "/contacts/batch") in operations
    assert sorted(drawn.found) == sorted(operations)


def test_the_docs_page_asks_nothing_of_another_host(rendered: Rendered) -> None:
    # Given the docs page rendered in Chromium (the fixture)
    # When we list what the page and everything it loaded asked for
    hosts = {urlsplit(url).netloc for url in rendered.requests}
    # Then it asked the service for the page, and nothing of any other host
    assert rendered.docs_url in rendered.requests
    assert hosts == {urlsplit(rendered.docs_url).netloc}


def test_the_docs_page_names_no_outside_host(origin: str) -> None:
    # Given the docs page and the OpenAPI document the local gateway serves
    http = urllib3.PoolManager(retries=False, timeout=30)
    page = http.request("GET", f"{origin}/docs").data.decode()
    document = http.request("GET", f"{origin}/openapi.json").data.decode()
    # When we take out Swagger UI's own code and styles, byte for byte as Powertools ships them (its
    # minified bundle holds URLs as data: JSON Schema ids, RFC links, sample values; the test above
    # shows the page fetches none of them)
    for asset in ("swagger-ui-bundle.min.js", "swagger-ui.min.css"):
        vendored = (SWAGGER_UI / asset).read_text(encoding="utf-8")
        assert vendored in page, f"{asset} is not served as Powertools ships it"
        page = page.replace(vendored, "")
    # Then what the service itself wrote names no host but this machine
    assert OUTSIDE_HOST.findall(page) == []
    assert OUTSIDE_HOST.findall(document) == []


def test_the_document_link_on_the_docs_page_answers_the_openapi_document(origin: str) -> None:
    # Given the link Swagger UI shows under the title (the page points it at `/docs?format=json`,
    # as Powertools' own docs route answers it)
    http = urllib3.PoolManager(retries=False, timeout=30)
    # When a reader follows it
    answer = http.request("GET", f"{origin}/docs?format=json")
    # Then they get the OpenAPI document, not the page again
    assert answer.headers["Content-Type"] == "application/json"
    assert json.loads(answer.data) == json.loads(api.app.get_openapi_json_schema())
