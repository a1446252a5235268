"""The insider-list API (/api/v1/insider-lists, scopes insiders:read and insiders:write) through
the test client, on both databases: a section's life (insiders added, changed, ceased; as-at reads;
exports; the transmission date), the domain's refusals as problems, and the attacks: another
tenant's ids on every operation, missing scopes, tampered ids, malformed bodies, XSS payloads given
back only as JSON, and markers searched for in the logs, the logbook and the database file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from openpyxl import load_workbook

import appliance.models
from appliance.audit.models import AuditEvent
from appliance.db import Base
from appliance.insiders.templates import template_for
from tests.functional.api_support import assert_problem, bearer, client, issue
from tests.functional.world import Markers, World

assert appliance.models  # every table is in Base.metadata for the database scan

BOTH = ("insiders:read", "insiders:write")


def at(world: World, hours: float) -> str:
    return (world.clock() - dt.timedelta(hours=hours)).isoformat()


def person(tag: str = "Anna", **changes: Any) -> dict[str, Any]:
    return {"first_name": tag, "surname": f"Lind{tag}", "professional_phone": "+46 8 123 456 78",
            "email": f"{tag.lower()}@example.org", "company_name_address": "Issuer AB, Box 1, Stockholm",
            "function_reason": f"CFO ({tag})", "national_id": "19800101-1234", "date_of_birth": "1980-01-01",
            **changes}


def created(response: Any) -> str:
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    return str(response.get_json()["id"])


def new_section(api: FlaskClient, token: str, world: World, code: str = "FALCON", **extra: Any) -> str:
    return created(api.post("/api/v1/insider-lists", headers=bearer(token), json={
        "kind": "event", "code": code, "description": "Merger talks", "identified_at": at(world, 5), **extra}))


def new_insider(api: FlaskClient, token: str, world: World, section: str, **extra: Any) -> str:
    body = {**person(), "obtained": at(world, 4), **extra}
    return created(api.post(f"/api/v1/insider-lists/{section}/insiders", headers=bearer(token), json=body))


@pytest.fixture
def api(world: World) -> FlaskClient:
    return client(world)


@pytest.fixture
def token(world: World) -> str:
    return issue(world, scopes=BOTH)[0]


def test_a_section_through_the_api_as_at_any_moment(world: World, api: FlaskClient, token: str) -> None:
    section = new_section(api, token, world)
    insider = new_insider(api, token, world, section)
    changed = api.patch(f"/api/v1/insider-lists/{section}/insiders/{insider}", headers=bearer(token),
                        json={"function_reason": "CEO, signs the deal", "changed_at": at(world, 2)})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["id"] == insider and changed.get_json()["version"] > 0
    ceased = api.patch(f"/api/v1/insider-lists/{section}/insiders/{insider}", headers=bearer(token),
                       json={"ceased": at(world, 1)})
    assert ceased.status_code == 200

    def shown(as_at: str | None) -> dict[str, Any]:
        response = api.get(f"/api/v1/insider-lists/{section}", headers=bearer(token),
                           query_string={"as_at": as_at} if as_at else {})
        assert response.status_code == 200, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    before = shown(at(world, 4.5))
    assert before["code"] == "FALCON" and before["insiders"] == []
    first = shown(at(world, 3))["insiders"]
    assert [(i["id"], i["function_reason"], i["ceased"]) for i in first] == [(insider, "CFO (Anna)", None)]
    assert first[0]["first_name"] == "Anna" and first[0]["professional_phone"] == "+4681234567" + "8"
    later = shown(at(world, 1.5))["insiders"]
    assert later[0]["function_reason"] == "CEO, signs the deal" and later[0]["ceased"] is None
    now = shown(None)
    assert now["insiders"][0]["ceased"] is not None and now["kind"] == "event"

    listed = api.get("/api/v1/insider-lists", headers=bearer(token)).get_json()["sections"]
    assert [(s["id"], s["code"], s["insiders"]) for s in listed if s["id"] != str(world.alpha_section_id)] == [
        (section, "FALCON", 0)]


def test_exports_in_each_format_and_the_transmission_date(world: World, api: FlaskClient, token: str) -> None:
    section = new_section(api, token, world)
    new_insider(api, token, world, section)
    types = {"csv": "text/csv", "pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    files = {}
    for name, media in types.items():
        response = api.get(f"/api/v1/insider-lists/{section}/export", headers=bearer(token),
                           query_string={"format": name, "as_at": at(world, 1)})
        assert response.status_code == 200 and response.mimetype == media, response.get_data(as_text=True)
        assert "attachment" in response.headers["Content-Disposition"]
        files[name] = response.get_data()
    headers = list(template_for("event", world.clock()).headers)
    rows = list(csv.reader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    assert headers in rows and any("Anna" in row for row in rows)
    sheet = load_workbook(io.BytesIO(files["xlsx"])).worksheets[0]
    assert headers in [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
    assert files["pdf"].startswith(b"%PDF")

    recorded = api.post(f"/api/v1/insider-lists/{section}/transmissions", headers=bearer(token), json={
        "format": "xlsx", "as_at": at(world, 1), "transmitted_on": world.clock().date().isoformat()})
    created(recorded)
    shown = api.get(f"/api/v1/insider-lists/{section}", headers=bearer(token)).get_json()
    assert shown["transmitted_on"] == world.clock().date().isoformat()
    with world.ctx.engine.connect() as connection:
        actions = list(connection.execute(sa.select(AuditEvent.action).where(
            AuditEvent.action.like("api.insider%"))).scalars())
        details = set(connection.execute(sa.select(AuditEvent.detail).where(
            AuditEvent.action.like("api.insider%"))).scalars())
    assert actions.count("api.insider_section_exported") == 3 and "api.insider_transmission_recorded" in actions
    assert {d.split("=")[0] for d in details if d} == {"token"}


def test_the_permanent_section_is_opened_once(world: World, api: FlaskClient, token: str) -> None:
    created(api.post("/api/v1/insider-lists", headers=bearer(token), json={"kind": "permanent"}))
    again = api.post("/api/v1/insider-lists", headers=bearer(token), json={"kind": "permanent"})
    assert_problem(again, 409, "conflict")
    coded = api.post("/api/v1/insider-lists", headers=bearer(token), json={"kind": "permanent", "code": "X"})
    assert assert_problem(coded, 422, "invalid-input")["errors"][0]["field"] == "code"


def test_refusals_are_problems_naming_the_field(world: World, api: FlaskClient, token: str) -> None:
    section = new_section(api, token, world)
    url = f"/api/v1/insider-lists/{section}/insiders"
    future = (world.clock() + dt.timedelta(hours=2)).isoformat()

    def refused(response: Any, status: int, slug: str, field: str | None = None) -> None:
        body = assert_problem(response, status, slug)
        if field is not None:
            assert [e["field"] for e in body["errors"]] == [field]

    refused(api.post(url, headers=bearer(token), json={**person(), "obtained": future}), 422, "invalid-input",
            "obtained")
    refused(api.post(url, headers=bearer(token), json={**person(), "obtained": at(world, 2),
                                                       "ceased": at(world, 3)}), 422, "invalid-input", "ceased")
    refused(api.post(url, headers=bearer(token), json={**person(), "obtained": "2026-01-01T10:00:00"}), 422,
            "invalid-input", "obtained")
    refused(api.post(url, headers=bearer(token), json={**person(), "obtained": at(world, 2), "salary": 1}), 422,
            "invalid-input", "salary")
    refused(api.post(url, headers=bearer(token), json={**person(professional_phone="12"), "obtained": at(world, 2)}),
            422, "invalid-input", "professional_phone")
    refused(api.post(url, headers=bearer(token), json={**person(first_name=""), "obtained": at(world, 2)}), 422,
            "invalid-input")
    refused(api.post(url, headers=bearer(token), data="{", content_type="application/json"), 400,
            "malformed-request")
    refused(api.post(url, headers=bearer(token), data="x", content_type="text/plain"), 415, "unsupported-media-type")
    insider = new_insider(api, token, world, section)
    refused(api.post(url, headers=bearer(token), json={**person(), "obtained": at(world, 2)}), 409, "conflict")
    patch = f"{url}/{insider}"
    refused(api.patch(patch, headers=bearer(token), json={}), 422, "invalid-input", "changed_at")
    refused(api.patch(patch, headers=bearer(token), json={"function_reason": "x"}), 422, "invalid-input",
            "changed_at")
    refused(api.patch(patch, headers=bearer(token), json={"function_reason": "x", "changed_at": at(world, 6)}), 422,
            "invalid-input", "changed_at")
    refused(api.get(f"/api/v1/insider-lists/{section}/export?format=docx", headers=bearer(token)), 422,
            "invalid-input", "format")
    refused(api.get(f"/api/v1/insider-lists/{section}", query_string={"as_at": future}, headers=bearer(token)),
            422, "invalid-input", "as_at")
    refused(api.get(f"/api/v1/insider-lists/{section}", query_string={"as_at": at(world, 9)}, headers=bearer(token)),
            404, "not-found")
    refused(api.post(f"/api/v1/insider-lists/{section}/transmissions", headers=bearer(token), json={
        "format": "csv", "as_at": at(world, 1), "transmitted_on": "2001-01-01"}), 422, "invalid-input",
        "transmitted_on")
    big = api.post(url, headers=bearer(token), json={**person(home_address="x" * 300_000), "obtained": at(world, 2)})
    assert big.status_code in (413, 422)


def operations(section: str, insider: str, world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/api/v1/insider-lists/{section}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/export?format=csv", None),
        ("POST", f"{base}/insiders", {**person("Bo"), "obtained": at(world, 1)}),
        ("PATCH", f"{base}/insiders/{insider}", {"function_reason": "x", "changed_at": at(world, 1)}),
        ("POST", f"{base}/transmissions", {"format": "csv", "as_at": at(world, 1),
                                           "transmitted_on": world.clock().date().isoformat()}),
    ]


def test_another_tenants_and_tampered_ids_are_not_found_on_every_operation(
        world: World, api: FlaskClient, token: str) -> None:
    section = new_section(api, token, world)
    insider = new_insider(api, token, world, section)
    other_section = new_section(api, token, world, code="OSPREY")
    beta, _ = issue(world, slug="beta", scopes=BOTH)
    new_section(api, beta, world)  # beta has a list of its own
    for method, url, body in operations(section, insider, world):
        assert_problem(api.open(url, method=method, json=body, headers=bearer(beta)), 404, "not-found")
    # alpha's insider under alpha's other section, and ids that are no ids
    wrong = f"/api/v1/insider-lists/{other_section}/insiders/{insider}"
    assert_problem(api.patch(wrong, json={"ceased": at(world, 1)}, headers=bearer(token)), 404, "not-found")
    for method, url, body in operations("1 OR 1=1", "../../x", world):
        assert api.open(url, method=method, json=body, headers=bearer(token)).status_code == 404
    listed = api.get("/api/v1/insider-lists", headers=bearer(beta)).get_json()["sections"]
    assert section not in {s["id"] for s in listed} and len(listed) == 1


def test_missing_scope_is_forbidden_and_no_token_unauthorized(world: World, api: FlaskClient, token: str) -> None:
    section = new_section(api, token, world)
    insider = new_insider(api, token, world, section)
    reader, _ = issue(world, scopes=("insiders:read",))
    writer, _ = issue(world, scopes=("insiders:write",))
    intake, _ = issue(world, scopes=("reports:intake", "events:upload"))
    ops = [*operations(section, insider, world), ("GET", "/api/v1/insider-lists", None),
           ("POST", "/api/v1/insider-lists", {"kind": "event", "code": "Q", "identified_at": at(world, 1)})]
    for method, url, body in ops:
        needs_write = method in ("POST", "PATCH")
        assert_problem(api.open(url, method=method, json=body, headers=bearer(reader if needs_write else writer)),
                       403, "forbidden")
        assert_problem(api.open(url, method=method, json=body, headers=bearer(intake)), 403, "forbidden")
        assert_problem(api.open(url, method=method, json=body), 401, "unauthorized")
    with world.ctx.engine.connect() as connection:
        sections = connection.execute(sa.text("SELECT count(*) FROM insider_sections")).scalar_one()
    assert sections == 2  # the world's and the one made above


def test_xss_payloads_are_given_back_only_as_json(world: World, api: FlaskClient, token: str) -> None:
    payload = "<script>alert(1)</script>"
    section = new_section(api, token, world, code=payload)
    new_insider(api, token, world, section, function_reason=payload)
    response = api.get(f"/api/v1/insider-lists/{section}", headers=bearer(token))
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["code"] == payload and response.get_json()["insiders"][0]["function_reason"] == payload


def test_markers_appear_in_no_log_logbook_event_or_database_value(
        world: World, api: FlaskClient, token: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    markers = Markers()
    section = new_section(api, token, world, code=markers["code"], description=markers["description"])
    new_insider(api, token, world, section, **person(
        markers["first"], surname=markers["surname"], home_address=markers["home"], email=f"{markers['mail']}@x.org",
        function_reason=markers["reason"], company_name_address=markers["company"], provider=markers["provider"]))
    shown = api.get(f"/api/v1/insider-lists/{section}", headers=bearer(token)).get_json()
    assert shown["insiders"][0]["home_address"] == markers["home"]
    assert api.get(f"/api/v1/insider-lists/{section}/export?format=csv", headers=bearer(token)).status_code == 200
    refused = api.post(f"/api/v1/insider-lists/{section}/insiders", headers=bearer(token), json={
        **person(markers["refused"]), "obtained": markers["badtime"]})
    assert refused.status_code == 422 and markers["badtime"] not in refused.get_data(as_text=True)
    needles = list(markers.all.values())

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert [n for n in needles if n in logged] == []
    with world.ctx.engine.connect() as connection:
        values = "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in connection.execute(sa.select(table)))
        actions = set(connection.execute(sa.select(AuditEvent.action)).scalars())
    assert [n for n in needles if n.lower() in values.lower()] == []
    assert {"api.insider_section_created", "api.insider_added", "api.insider_section_read",
            "api.insider_section_exported", "insider.added"} <= actions
    if world.ctx.settings.backend == "sqlite":
        raw = Path(world.ctx.settings.database_url.split("///", 1)[1]).read_bytes().lower()
        assert [n for n in needles if n.lower().encode() in raw] == []


def test_the_openapi_document_describes_the_insider_list_operations(world: World) -> None:
    document = client(world).get("/api/v1/openapi.json").get_json()
    export = document["paths"]["/api/v1/insider-lists/{section_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {
        "text/csv", "application/pdf", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    assert export["x-scope"] == "insiders:read"
    patch = document["paths"]["/api/v1/insider-lists/{section_id}/insiders/{insider_id}"]["patch"]
    assert patch["x-scope"] == "insiders:write" and "409" in patch["responses"]
    fields = document["components"]["schemas"]["InsiderIn"]["properties"]
    columns = {c.field for c in template_for("event", world.clock()).columns}
    assert columns <= set(fields) and all(fields[name].get("description") for name in columns - {"obtained", "ceased"})
