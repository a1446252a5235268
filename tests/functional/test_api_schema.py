"""Schemathesis against the live API: every operation in the OpenAPI document, with a token that
holds every scope, answers without a server error and as its document says (status codes, content
types, headers and bodies, problems included). The document is read from the running server, so an
operation added later is covered without a change here.

Bounded and deterministic: a few examples per operation, derandomized. The rate limit is raised so
the run never meets it; ``test_429_is_documented_and_answered_as_documented`` checks the limit on
its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import BaseWSGIServer, make_server

from appliance.api_tokens.service import Scope
from tests.functional.api_support import PROBLEM, TYPES, issue
from tests.functional.world import World, app_with

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES = 12


class LiveServer:
    """The app served over HTTP on a free local port, in a thread, for as long as the test runs."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def serve(world: World, **overrides: Any) -> Iterator[tuple[LiveServer, str]]:
    """A live server on the world's database with these settings, and a token with every scope."""
    token, _ = issue(world, scopes=tuple(s.value for s in Scope))
    for app in app_with(world.ctx, world.clock, **overrides):
        with LiveServer(app) as live:
            yield live, token


@pytest.fixture
def live_api(world: World) -> Iterator[tuple[LiveServer, str]]:
    yield from serve(world, api_rate_limit_per_minute=1_000_000, lockout_client_threshold=1_000_000)


def test_every_operation_answers_as_documented(live_api: tuple[LiveServer, str]) -> None:
    live, token = live_api
    schema = schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        media_types = list(operation.definition.raw.get("requestBody", {}).get("content", {})) or [None]
        for media_type in media_types:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and media_type is None and not operation.path_parameters:
                    continue  # nothing to make invalid
                exercise(operation.as_strategy(mode, media_type=media_type), headers)
                tried.append((operation.label, media_type, mode.value))
    assert {label for label, _, _ in tried} >= {"GET /api/v1/categories", "POST /api/v1/reports",
                                                "POST /api/v1/reports/{reference}/attachments"}


def exercise(strategy: st.SearchStrategy[schemathesis.Case], headers: dict[str, str]) -> None:
    @given(case=strategy)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_the_document_lists_every_api_route(world: World, live_api: tuple[LiveServer, str]) -> None:
    live, _ = live_api
    document = requests.get(f"{live.url}/api/v1/openapi.json", timeout=30).json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    routes = {(method, rule.rule.replace("<", "{").replace(">", "}"))
              for rule in world.app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert documented == routes


@pytest.fixture
def limited_api(world: World) -> Iterator[tuple[LiveServer, str]]:
    yield from serve(world, api_rate_limit_per_minute=2)


def test_429_is_documented_and_answered_as_documented(limited_api: tuple[LiveServer, str]) -> None:
    live, token = limited_api
    document = requests.get(f"{live.url}/api/v1/openapi.json", timeout=30).json()
    secured = [(path, method) for path, item in document["paths"].items() for method, op in item.items()
               if op["security"]]
    assert secured
    for path, method in secured:
        assert "429" in document["paths"][path][method]["responses"], (method, path)
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [requests.get(f"{live.url}/api/v1/categories", headers=headers, timeout=30) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[-1]
    assert limited.headers["Content-Type"] == PROBLEM and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["type"] == TYPES + "rate-limited"
