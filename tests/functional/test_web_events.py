"""Access events through the API: POST /api/v1/events (events:upload) and GET /api/v1/events
(insiders:read).

Attacks (both databases): wrong scopes, another tenant's events under the same project code,
tampered and foreign cursors, oversized and malformed batches, XSS payloads given back only as
JSON, and markers in the actor's address, the object and the project searched for in the logs,
the logbook and the database.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

import appliance.models
from appliance.audit.models import AuditEvent
from appliance.db import Base
from tests.functional.test_web_api import assert_problem, bearer, client, issue
from tests.functional.world import Markers, World, count

assert appliance.models  # every table is in Base.metadata for the database scan

UPLOAD = ("events:upload",)
READ = ("insiders:read",)


def event(world: World, number: int, **overrides: Any) -> dict[str, Any]:
    occurred = world.clock() - dt.timedelta(hours=10) + dt.timedelta(minutes=number)
    return {"id": f"ev-{number}", "source": "dms", "occurred_at": occurred.isoformat(),
            "actor_email": f"person{number % 3}@alpha.example.com", "action": "open",
            "object": f"/deals/falcon/doc-{number}.pdf", "project": "FALCON", **overrides}


def upload(api: FlaskClient, token: str, events: list[Any]) -> dict[str, Any]:
    response = api.post("/api/v1/events", json={"events": events}, headers=bearer(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    body: dict[str, Any] = response.get_json()
    return body


def listed(api: FlaskClient, token: str, **query: str) -> list[dict[str, Any]]:
    """Every event of the listing, following the cursor page by page."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = api.get("/api/v1/events", query_string={**query, **({"cursor": cursor} if cursor else {})},
                           headers=bearer(token))
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        found += page["events"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_a_batch_is_stored_once_and_read_back_in_order(world: World) -> None:
    uploader, _ = issue(world, scopes=UPLOAD)
    reader, _ = issue(world, scopes=READ)
    api = client(world)
    batch = [event(world, n) for n in range(5)]
    assert upload(api, uploader, batch) == {"accepted": 5, "duplicates": 0, "rejected": []}
    stored = count(world.ctx, "access_events"), count(world.ctx, "persons"), count(world.ctx, "access_event_batches")

    # The same batch again, and shuffled: all duplicates, nothing changes.
    assert upload(api, uploader, batch) == {"accepted": 0, "duplicates": 5, "rejected": []}
    assert upload(api, uploader, batch[::-1]) == {"accepted": 0, "duplicates": 5, "rejected": []}
    assert (count(world.ctx, "access_events"), count(world.ctx, "persons"),
            count(world.ctx, "access_event_batches")) == stored

    events = listed(api, reader, project="FALCON")
    assert [e["id"] for e in events] == [f"ev-{n}" for n in range(5)]
    assert events[0] == {"id": "ev-0", "source": "dms", "occurred_at": dt.datetime.fromisoformat(
        batch[0]["occurred_at"]).isoformat().replace("+00:00", "Z"), "actor_email": "person0@alpha.example.com",
        "action": "open", "object": "/deals/falcon/doc-0.pdf", "project": "FALCON"}
    # Three actors: three persons on the chain, found again by their address.
    assert stored[1] - count(world.ctx, "persons", "id NOT IN (SELECT person_id FROM access_events)") == 3
    since = (world.clock() - dt.timedelta(hours=10) + dt.timedelta(minutes=3)).isoformat()
    assert [e["id"] for e in listed(api, reader, project="FALCON", since=since)] == ["ev-3", "ev-4"]
    assert listed(api, reader, project="OTHER") == []


def test_a_mixed_batch_stores_the_good_events_and_names_the_bad_ones(world: World) -> None:
    uploader, _ = issue(world, scopes=UPLOAD)
    api = client(world)
    naive = (world.clock() - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    future = (world.clock() + dt.timedelta(days=2)).isoformat()
    batch: list[Any] = [
        event(world, 0),
        event(world, 1, actor_email="not-an-address"),
        event(world, 2, occurred_at=naive),
        event(world, 3, occurred_at=future),
        event(world, 4, project="P" * 65),
        "not an event",
        {k: v for k, v in event(world, 6).items() if k != "object"},
        event(world, 7, object="line\nbreak"),
        event(world, 8, id=8),
        event(world, 9, colour="mauve-ish"),
        event(world, 0),  # the first one again, in the same batch
        event(world, 11, actor_email="Person1@ALPHA.example.com "),
    ]
    result = upload(api, uploader, batch)
    assert (result["accepted"], result["duplicates"]) == (2, 1)
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert reasons[1].startswith("actor_email") and reasons[2].startswith("occurred_at")
    assert reasons[3] == "occurred_at: is in the future" and reasons[4].startswith("project")
    assert reasons[6].startswith("object") and reasons[7].startswith("object") and reasons[9].startswith("colour")
    assert "not-an-address" not in str(result) and "mauve-ish" not in str(result)
    assert count(world.ctx, "access_events") == 2


def test_batches_over_1000_or_not_lists_are_problems_and_store_nothing(world: World) -> None:
    uploader, _ = issue(world, scopes=UPLOAD)
    api = client(world)
    small = {"id": "x", "source": "s", "occurred_at": world.clock().isoformat(), "actor_email": "a@b.example",
             "action": "a", "object": "o", "project": "p"}
    too_many = [{**small, "id": str(n)} for n in range(1001)]
    body = assert_problem(api.post("/api/v1/events", json={"events": too_many}, headers=bearer(uploader)),
                          422, "invalid-input")
    assert body["errors"][0]["field"] == "events"
    for bad in ({"events": "FALCON"}, {"events": {"0": small}}, [small], {"batch": [small]}):
        assert_problem(api.post("/api/v1/events", json=bad, headers=bearer(uploader)), 422, "invalid-input")
    assert_problem(api.post("/api/v1/events", data=b"{", content_type="application/json", headers=bearer(uploader)),
                   400, "malformed-request")
    assert count(world.ctx, "access_events") == 0 and count(world.ctx, "access_event_batches") == 0


def test_each_direction_needs_its_own_scope(world: World) -> None:
    uploader, _ = issue(world, scopes=UPLOAD)
    reader, _ = issue(world, scopes=READ)
    intake, _ = issue(world, scopes=("reports:intake", "insiders:write", "stats:read"))
    api = client(world)
    for token in (reader, intake):
        assert_problem(api.post("/api/v1/events", json={"events": [event(world, 1)]}, headers=bearer(token)),
                       403, "forbidden")
    for token in (uploader, intake):
        assert_problem(api.get("/api/v1/events?project=FALCON", headers=bearer(token)), 403, "forbidden")
    assert_problem(api.get("/api/v1/events?project=FALCON"), 401, "unauthorized")
    assert count(world.ctx, "access_events") == 0


def test_a_tenant_never_sees_another_tenants_events_under_the_same_project_code(world: World) -> None:
    api = client(world)
    alpha_up, _ = issue(world, "alpha", UPLOAD)
    beta_up, _ = issue(world, "beta", UPLOAD)
    alpha_read, _ = issue(world, "alpha", READ)
    beta_read, _ = issue(world, "beta", READ)
    upload(api, alpha_up, [event(world, n, object=f"alpha-{n}") for n in range(3)])
    # The same (source, id) in another tenant is a different event, not a duplicate.
    assert upload(api, beta_up, [event(world, 0, object="beta-0")])["accepted"] == 1
    assert [e["object"] for e in listed(api, beta_read, project="FALCON")] == ["beta-0"]
    assert [e["object"] for e in listed(api, alpha_read, project="FALCON")] == ["alpha-0", "alpha-1", "alpha-2"]
    # A cursor of alpha's listing means nothing to beta.
    page = api.get("/api/v1/events?project=FALCON&limit=1", headers=bearer(alpha_read)).get_json()
    assert page["next_cursor"]
    assert_problem(api.get("/api/v1/events", query_string={"project": "FALCON", "cursor": page["next_cursor"]},
                           headers=bearer(beta_read)), 400, "invalid-cursor")


def test_pages_follow_each_other_and_a_tampered_cursor_is_a_problem(world: World) -> None:
    uploader, _ = issue(world, scopes=UPLOAD)
    reader, _ = issue(world, scopes=READ)
    api = client(world)
    same_time = (world.clock() - dt.timedelta(hours=2)).isoformat()
    upload(api, uploader, [event(world, n, occurred_at=same_time) for n in range(4)]
           + [event(world, n) for n in range(4, 7)])
    pages = []
    cursor = None
    while True:
        query = {"project": "FALCON", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/events", query_string=query, headers=bearer(reader)).get_json()
        pages.append([e["id"] for e in page["events"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    ids = [i for p in pages for i in p]
    assert sorted(ids) == [f"ev-{n}" for n in range(7)] and len(set(ids)) == 7
    assert ids[:3] == ["ev-4", "ev-5", "ev-6"]  # the earlier times first; the same time in a stable order
    assert ids == [e["id"] for e in listed(api, reader, project="FALCON")]

    first = api.get("/api/v1/events?project=FALCON&limit=2", headers=bearer(reader)).get_json()["next_cursor"]
    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    flipped = base64.urlsafe_b64encode(raw[:5] + bytes([raw[5] ^ 1]) + raw[6:]).decode().rstrip("=")
    for bad in (flipped, first[:-2], "not-a-cursor", "x" * 150, first + "AAAA"):
        assert_problem(api.get("/api/v1/events", query_string={"project": "FALCON", "cursor": bad},
                               headers=bearer(reader)), 400, "invalid-cursor")
    # A cursor is bound to its project and its since.
    assert_problem(api.get("/api/v1/events", query_string={"project": "OTHER", "cursor": first},
                           headers=bearer(reader)), 400, "invalid-cursor")
    for query in ({}, {"project": ""}, {"project": "FALCON", "limit": "0"}, {"project": "FALCON", "limit": "1001"},
                  {"project": "FALCON", "since": "yesterday"}, {"project": "FALCON", "since": "2026-03-01T00:00:00"}):
        assert_problem(api.get("/api/v1/events", query_string=query, headers=bearer(reader)), 422, "invalid-input")


def test_xss_payloads_come_back_only_as_json(world: World) -> None:
    uploader, _ = issue(world, scopes=UPLOAD)
    reader, _ = issue(world, scopes=READ)
    api = client(world)
    payload = "<script>alert(1)</script>"
    upload(api, uploader, [event(world, 1, object=payload, action='"><img src=x onerror=alert(1)>')])
    response = api.get("/api/v1/events?project=FALCON", headers=bearer(reader))
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["events"][0]["object"] == payload


def test_markers_appear_in_no_log_logbook_event_or_database_value(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    uploader, _ = issue(world, scopes=UPLOAD)
    reader, _ = issue(world, scopes=READ)
    markers = Markers()
    api = client(world)
    planted = event(world, 1, id=markers["id"], source=markers["source"], actor_email=f"{markers['actor']}@example.com",
                    action=markers["action"], object=markers["object"], project=markers["project"])
    assert upload(api, uploader, [planted, {**planted, "id": markers["bad"], "actor_email": markers["email"]}]
                  )["accepted"] == 1
    events = listed(api, reader, project=markers["project"])
    assert [e["object"] for e in events] == [markers["object"]]
    needles = list(markers.all.values())

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert [n for n in needles if n in logged] == []
    with world.ctx.engine.connect() as connection:
        values = "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in connection.execute(sa.select(table)))
        actions = set(connection.execute(sa.select(AuditEvent.action)).scalars())
    assert [n for n in needles if n in values] == []
    assert {"events.uploaded", "api.events_uploaded", "api.events_listed"} <= actions
    if world.ctx.settings.backend == "sqlite":
        raw = Path(world.ctx.settings.database_url.split("///", 1)[1]).read_bytes()
        assert [n for n in needles if n.encode() in raw] == []


def test_the_openapi_document_describes_the_event_routes(world: World) -> None:
    document = client(world).get("/api/v1/openapi.json").get_json()
    post = document["paths"]["/api/v1/events"]["post"]
    get = document["paths"]["/api/v1/events"]["get"]
    assert post["x-scope"] == "events:upload" and get["x-scope"] == "insiders:read"
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/EventBatchIn"}
    assert "202" in post["responses"] and "422" in post["responses"]
    assert {p["name"] for p in get["parameters"]} == {"project", "since", "limit", "cursor"}
    schemas = document["components"]["schemas"]
    assert schemas["EventBatchIn"]["properties"]["events"]["items"] == {"$ref": "#/components/schemas/EventIn"}
    assert {"EventIn", "EventUploadResult", "EventPage", "EventOut"} <= set(schemas)
