"""The JSON API under /api/v1/ through the test client: bearer tokens, problems, limits, intake.

Attacks (both databases): another tenant's objects, missing/wrong/revoked/expired tokens, a
missing scope, a signed-in handler's cookies, malformed and oversized bodies, and markers in
every field searched for in the logs, the logbook and the database.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from openapi_spec_validator import validate

import appliance.models
from appliance.actors import CLI, Role
from appliance.db import Base
from appliance.services import Services
from tests.functional.api_support import PROBLEM, assert_problem, bearer, client, issue, report_body
from tests.functional.world import (
    Markers,
    World,
    app_with,
    audit_details,
    audit_trail,
    content_counts,
    count,
    scalar,
)
from webapp.api.schemas import ReportIn

assert appliance.models  # every table is in Base.metadata for the database scan


def cases(world: World) -> int:
    return count(world.ctx, "cases")


# --- the document ------------------------------------------------------------------------------------
def test_the_openapi_document_is_valid_31_and_made_from_the_models(app: Flask) -> None:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    intake = document["paths"]["/api/v1/reports"]["post"]
    assert intake["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReportIn"}
    assert document["components"]["schemas"]["ReportIn"]["properties"] == ReportIn.model_json_schema()["properties"]
    assert {"201", "400", "401", "403", "413", "422", "429"} <= set(intake["responses"])
    assert intake["responses"]["401"]["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "Set-Cookie" not in response.headers


# --- intake -------------------------------------------------------------------------------------------
def test_a_report_from_the_api_is_sealed_to_the_readers_and_never_readable_by_the_token(world: World) -> None:
    token, token_id = issue(world)
    api = client(world)
    listed = api.get("/api/v1/categories", headers=bearer(token))
    assert listed.status_code == 200
    assert str(world.alpha.category_id) in {c["id"] for c in listed.get_json()["categories"]}
    assert str(world.beta.category_id) not in {c["id"] for c in listed.get_json()["categories"]}

    before = cases(world)
    response = api.post("/api/v1/reports", json=report_body(world, what="The depot manager sells stock privately."),
                        headers=bearer(token))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    receipt = response.get_json()
    assert set(receipt) == {"reference", "case_key", "follow_up_url"}
    assert receipt["follow_up_url"].endswith("/r/alpha/follow-up")
    assert cases(world) == before + 1
    case_id = uuid.UUID(str(scalar(world.ctx, "SELECT id FROM cases WHERE reference = :r", r=receipt["reference"])))
    assert scalar(world.ctx, "SELECT channel FROM cases WHERE reference = :r", r=receipt["reference"]) == "phone"

    # Its readers (the tenant's handlers) open it; the reporter follows up with the case key.
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = handler.get(f"/staff/cases/{case_id}")
    assert page.status_code == 200 and "The depot manager sells stock privately." in handler.text()
    assert 'data-testid="channel">By phone<' in handler.text()
    reporter = world.browser("192.0.2.44")
    assert reporter.post("/r/alpha/follow-up", {"case_key": receipt["case_key"]}).status_code == 303
    assert "The depot manager sells stock privately." in reporter.get("/r/alpha/case").get_data(as_text=True)

    # The token has no way back to it.
    for url in ("/api/v1/reports", f"/api/v1/reports/{receipt['reference']}", f"/api/v1/reports/{case_id}"):
        refused = api.get(url, headers=bearer(token))
        assert refused.status_code in (404, 405) and refused.mimetype == PROBLEM
        assert b"depot manager" not in refused.data
    # Logged once, as the case's own event, by the token (its id, never the token).
    by_token = [e for e in audit_trail(world.ctx, case_id) if e[1] == "api-token"]
    assert by_token == [("case.created", "api-token", token_id)]
    assert audit_details(world.ctx, "api.report_received") == []


def test_markers_and_the_token_appear_in_no_log_logbook_event_or_database_value(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    token, _ = issue(world)
    markers = Markers()
    fields = {name: markers[name] for name in ("what", "when", "where", "who")}
    contact = f"{markers['contact']}@example.com"
    api = client(world)
    response = api.post("/api/v1/reports", json=report_body(world, **fields, contact=contact), headers=bearer(token))
    assert response.status_code == 201
    invalid = api.post("/api/v1/reports", json=report_body(world, **fields, channel=markers["channel"]),
                       headers=bearer(token))
    assert invalid.status_code == 422
    assert markers["channel"] not in invalid.get_data(as_text=True)
    needles = [*markers.all.values(), token, token.split("_", 2)[2]]

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert [n for n in needles if n in logged] == []
    with world.ctx.engine.connect() as connection:
        values = "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in connection.execute(sa.select(table)))
    assert [n for n in needles if n in values] == []
    if world.ctx.settings.backend == "sqlite":
        raw = Path(world.ctx.settings.database_url.split("///", 1)[1]).read_bytes()
        assert [n for n in needles if n.encode() in raw] == []


# --- who may call ---------------------------------------------------------------------------------------
def test_missing_wrong_revoked_and_expired_tokens_are_401(world: World) -> None:
    token, _ = issue(world)
    revoked, revoked_id = issue(world)
    expiring, _ = issue(world, days=1)
    with world.ctx.unit_of_work() as session:
        Services(world.ctx, session).api_tokens.revoke(uuid.UUID(revoked_id), CLI)
    world.clock.advance(days=2)
    api = client(world)
    lookup = token.split("_")[1]
    for headers in ({}, {"Authorization": token}, {"Authorization": f"Basic {token}"}, bearer(""),
                    bearer("apl_nonsense"), bearer(f"apl_{lookup}_{'A' * 43}"), bearer(revoked), bearer(expiring)):
        response = api.post("/api/v1/reports", json=report_body(world), headers=headers)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.post("/api/v1/reports", json=report_body(world), headers=bearer(token)).status_code == 201


def test_a_token_without_the_scope_is_403(world: World) -> None:
    token, _ = issue(world, scopes=("stats:read", "insiders:read"))
    before = cases(world)
    body = assert_problem(client(world).post("/api/v1/reports", json=report_body(world), headers=bearer(token)),
                          403, "forbidden")
    assert "reports:intake" in body["detail"]
    assert cases(world) == before


def test_a_signed_in_handlers_cookies_give_no_api_access(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert handler.get("/staff/queue").status_code == 200
    before = cases(world)
    for method, url in (("get", "/api/v1/categories"), ("post", "/api/v1/reports")):
        response = getattr(handler.client, method)(url, json=report_body(world))
        assert_problem(response, 401, "unauthorized")
    assert cases(world) == before


def test_a_token_of_one_tenant_reaches_nothing_of_another(world: World) -> None:
    token, _ = issue(world, "alpha")
    api = client(world)
    before = content_counts(world.ctx)
    body = assert_problem(api.post("/api/v1/reports", json=report_body(world, category=str(world.beta.category_id)),
                                   headers=bearer(token)), 422, "invalid-input")
    assert body["errors"][0]["field"] == "category"
    assert content_counts(world.ctx) == before
    assert_problem(api.get(f"/api/v1/reports/{world.beta_case.reference}", headers=bearer(token)), 404, "not-found")
    beta_token, _ = issue(world, "beta")
    beta_labels = client(world).get("/api/v1/categories", headers=bearer(beta_token)).get_json()["categories"]
    assert str(world.alpha.category_id) not in {c["id"] for c in beta_labels}


def test_repeated_bad_tokens_pause_the_client(world: World) -> None:
    api = client(world, address="203.0.113.9")
    threshold = world.ctx.settings.lockout_client_threshold
    for _ in range(threshold):
        assert api.get("/api/v1/categories", headers=bearer("apl_wrong")).status_code == 401
    token, _ = issue(world)
    locked = assert_problem(api.get("/api/v1/categories", headers=bearer(token)), 429, "rate-limited")
    assert locked["detail"].startswith("retry in")
    assert client(world, address="203.0.113.10").get("/api/v1/categories", headers=bearer(token)).status_code == 200


# --- bodies and limits ------------------------------------------------------------------------------------
@pytest.fixture
def small_app(world: World) -> Iterator[Flask]:
    yield from app_with(world.ctx, world.clock, api_max_body_bytes=4096, api_rate_limit_per_minute=3)


def test_malformed_json_and_wrong_media_types_are_problems(world: World) -> None:
    token, _ = issue(world)
    api = client(world)
    before = cases(world)
    for data in (b"{", b'{"what": "x",}', b"\xff\xfe"):
        assert_problem(api.post("/api/v1/reports", data=data, content_type="application/json", headers=bearer(token)),
                       400, "malformed-request")
    assert_problem(api.post("/api/v1/reports", data="what=x", content_type="application/x-www-form-urlencoded",
                            headers=bearer(token)), 415, "unsupported-media-type")
    invalid = assert_problem(api.post("/api/v1/reports", json={**report_body(world), "received_at": "yesterday",
                                                              "extra": 1, "what": ""}, headers=bearer(token)),
                             422, "invalid-input")
    assert {e["field"] for e in invalid["errors"]} == {"received_at", "extra", "what"}
    naive = report_body(world, received_at=world.clock().replace(tzinfo=None).isoformat())
    assert_problem(api.post("/api/v1/reports", json=naive, headers=bearer(token)), 422, "invalid-input")
    assert_problem(api.get("/api/v1/nothing-here", headers=bearer(token)), 404, "not-found")
    assert_problem(api.delete("/api/v1/reports", headers=bearer(token)), 405, "method-not-allowed")
    assert cases(world) == before


def test_an_oversized_body_is_413_and_nothing_is_stored(world: World, small_app: Flask) -> None:
    token, _ = issue(world)
    api = client(world, small_app)
    before = content_counts(world.ctx)
    big = report_body(world, what="x" * 5000)
    assert_problem(api.post("/api/v1/reports", json=big, headers=bearer(token)), 413, "too-large")
    # Without a Content-Length (chunked; the server marks the input terminated) reading stops at the limit.
    stream = api.post("/api/v1/reports", input_stream=io.BytesIO(json.dumps(big).encode()),
                      content_type="application/json", headers={**bearer(token), "Transfer-Encoding": "chunked"},
                      environ_overrides={"wsgi.input_terminated": True})
    assert_problem(stream, 413, "too-large")
    assert content_counts(world.ctx) == before


def test_each_token_has_its_own_rate_limit(world: World, small_app: Flask) -> None:
    token, _ = issue(world)
    other, _ = issue(world)
    api = client(world, small_app)
    for _ in range(3):
        assert api.get("/api/v1/categories", headers=bearer(token)).status_code == 200
    limited = api.get("/api/v1/categories", headers=bearer(token))
    assert_problem(limited, 429, "rate-limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert api.get("/api/v1/categories", headers=bearer(other)).status_code == 200


def test_refused_requests_write_nothing_to_the_logbook(world: World, small_app: Flask) -> None:
    """Only what a token did goes into the hash chain: a refused request rolls back, so a flood of
    bad requests cannot grow the logbook (README, API: Logbook)."""
    token, _ = issue(world)
    narrow, _ = issue(world, scopes=("stats:read",))
    api = client(world, small_app)
    before = count(world.ctx, "audit_events")
    refused = [
        api.get("/api/v1/categories", headers=bearer("apl_wrong")),  # 401
        api.post("/api/v1/reports", json=report_body(world), headers=bearer(narrow)),  # 403
        api.post("/api/v1/reports", data=b"{", content_type="application/json", headers=bearer(token)),  # 400
        api.post("/api/v1/reports", data="a=b", content_type="text/plain", headers=bearer(token)),  # 415
        api.post("/api/v1/reports", json={"what": ""}, headers=bearer(token)),  # 422
        api.post("/api/v1/reports", json=report_body(world, what="x" * 5000), headers=bearer(token)),  # 413
        api.get("/api/v1/categories", headers=bearer(token)),  # the token's fourth request this minute: 429
    ]
    assert [r.status_code for r in refused] == [401, 403, 400, 415, 422, 413, 429]
    assert count(world.ctx, "audit_events") == before


def test_api_responses_set_no_cookie_and_allow_no_cross_origin_use(world: World) -> None:
    token, _ = issue(world)
    api = client(world)
    for response in (api.get("/api/v1/categories", headers={**bearer(token), "Origin": "https://evil.example"}),
                     api.options("/api/v1/reports", headers={"Origin": "https://evil.example",
                                                             "Access-Control-Request-Method": "POST"}),
                     api.post("/api/v1/reports", json=report_body(world), headers=bearer(token))):
        assert "Set-Cookie" not in response.headers
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]


# --- the administration page ------------------------------------------------------------------------------
def test_an_admin_creates_a_token_sees_it_once_and_revokes_it(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.get("/admin/t/alpha/api-tokens").status_code == 200
    created = admin.post("/admin/t/alpha/api-tokens", {"name": "Hotline desk", "scopes": ["reports:intake"],
                                                       "expires_days": "30"})
    assert created.status_code == 200, admin.text()
    found = re.search(r'data-testid="new-token">(apl_[0-9a-f]{16}_[A-Za-z0-9_-]{43})<', admin.text())
    assert found
    token = found.group(1)
    assert client(world).get("/api/v1/categories", headers=bearer(token)).status_code == 200
    listing = admin.get("/admin/t/alpha/api-tokens")
    assert "Hotline desk" in admin.text() and token not in listing.get_data(as_text=True)
    token_id = str(scalar(world.ctx, "SELECT id FROM api_tokens WHERE name = 'Hotline desk'"))
    token_id = str(uuid.UUID(token_id))

    # Another tenant's administrator neither sees the page nor revokes the token.
    other = world.staff_browser(world.beta.staff[Role.ADMIN])
    assert other.get("/admin/t/alpha/api-tokens").status_code == 404
    assert other.post("/admin/t/beta/api-tokens/revoke", {"token_id": token_id},
                      form_url="/admin/t/beta/api-tokens").status_code == 404
    assert client(world).get("/api/v1/categories", headers=bearer(token)).status_code == 200

    revoked = admin.post("/admin/t/alpha/api-tokens/revoke", {"token_id": token_id}, form_url="/admin/t/alpha/api-tokens")
    assert revoked.status_code == 200
    assert_problem(client(world).get("/api/v1/categories", headers=bearer(token)), 401, "unauthorized")
    assert admin.post("/admin/t/alpha/api-tokens/revoke", {"token_id": token_id},
                      form_url="/admin/t/alpha/api-tokens").status_code == 409
    refused = admin.post("/admin/t/alpha/api-tokens", {"name": "", "scopes": []})
    assert refused.status_code == 400


def test_only_administrators_reach_the_token_page(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert handler.get("/admin/t/alpha/api-tokens").status_code == 403
