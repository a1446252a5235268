"""One unit of work per web request (webapp/unit_of_work.py), on both backends.

Probe routes on the real app write through a desk and never commit: what a view returns
commits, what an error handler answers rolls back, a failed ``attempt()`` drops only its own
writes, and the logbook's JSON lines appear only once the request committed. A ``@reads_only``
view's GET cannot write, and on SQLite reads while another transaction holds the write lock.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask, abort, request
from flask.testing import FlaskClient

from appliance.actors import CLI
from appliance.context import AppContext
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.services import Services
from webapp.desk import Desk
from webapp.policy import access
from webapp.unit_of_work import reads_only

KEPT_ON_CONFLICT = "kept although refused"


class ProbeDesk(Desk):
    """Writes a category (and with it a logbook event) of one tenant."""

    tenant_id: uuid.UUID

    def add(self, label: str) -> None:
        self._services.tenants.add_category(self.tenant_id, label, CLI)


@pytest.fixture
def tenant_id(services: Services) -> uuid.UUID:
    tenant = services.tenants.create_tenant("Probe AB", "probe", CLI)
    services.session.commit()
    return tenant.id


@pytest.fixture
def client(app: Flask, tenant_id: uuid.UUID) -> FlaskClient:
    ProbeDesk.tenant_id = tenant_id

    def desk() -> ProbeDesk:
        return ProbeDesk.of_request()

    @app.get("/probe/ok")
    @access("public")
    def ok() -> str:
        desk().add("ok")
        return "written"

    @app.get("/probe/form-error")
    @access("public")
    def form_error() -> tuple[str, int]:
        desk().add("counted failure")  # like a failure count behind a re-rendered form
        return "try again", 400

    @app.get("/probe/domain-error")
    @access("public")
    def domain_error() -> str:
        desk().add("before not found")
        raise NotFound("probe")

    @app.get("/probe/http-error")
    @access("public")
    def http_error() -> str:
        desk().add("before abort")
        abort(409)

    @app.get("/probe/crash")
    @access("public")
    def crash() -> str:
        desk().add("before crash")
        raise RuntimeError("unexpected")

    @app.get("/probe/attempt")
    @access("public")
    def attempt() -> tuple[str, int]:
        probe = desk()
        probe.add("before attempt")
        try:
            with probe.attempt():
                probe.add("inside attempt")
                raise InvalidInput("label", "refused")
        except InvalidInput:
            probe.add("after attempt")
        return "form again", 400

    @app.get("/probe/attempt-keep")
    @access("public")
    def attempt_keep() -> tuple[str, int]:
        probe = desk()
        try:
            with probe.attempt(keep=(Conflict,)):
                probe.add(KEPT_ON_CONFLICT)
                raise Conflict("stale")
        except Conflict:
            return "stale", 409
        return "unreachable", 200

    @app.route("/probe/read-only", methods=["GET", "POST"])
    @access("public")
    @reads_only
    def read_only() -> str:
        probe = desk()
        if request.args.get("write"):
            probe.add(request.args["write"])
        return ",".join(sorted(c.label for c in probe._services.tenants.categories(tenant_id)))

    return app.test_client()


@pytest.fixture
def journal(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="appliance.audit")
    yield caplog


def labels(services: Services, tenant_id: uuid.UUID) -> set[str]:
    services.session.rollback()  # a fresh transaction: see what other sessions committed
    return {c.label for c in services.tenants.categories(tenant_id, include_inactive=True)}


def journal_actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(json.loads(r.getMessage())["action"]) for r in caplog.records if r.name == "appliance.audit"]


def test_a_view_that_returns_commits_without_calling_commit(
        client: FlaskClient, services: Services, tenant_id: uuid.UUID) -> None:
    assert client.get("/probe/ok").status_code == 200
    assert "ok" in labels(services, tenant_id)


def test_a_view_that_returns_an_error_status_itself_still_commits(
        client: FlaskClient, services: Services, tenant_id: uuid.UUID) -> None:
    assert client.get("/probe/form-error").status_code == 400
    assert "counted failure" in labels(services, tenant_id)


@pytest.mark.parametrize(("path", "status", "label"), [
    ("/probe/domain-error", 404, "before not found"),
    ("/probe/http-error", 409, "before abort"),
    ("/probe/crash", 500, "before crash"),
])
def test_what_an_error_handler_answers_rolls_back(client: FlaskClient, services: Services, tenant_id: uuid.UUID,
                                                 path: str, status: int, label: str) -> None:
    assert client.get(path).status_code == status
    assert label not in labels(services, tenant_id)


def test_a_failed_attempt_drops_only_its_own_writes(
        client: FlaskClient, services: Services, tenant_id: uuid.UUID, journal: pytest.LogCaptureFixture) -> None:
    journal.clear()
    assert client.get("/probe/attempt").status_code == 400
    found = labels(services, tenant_id)
    assert {"before attempt", "after attempt"} <= found
    assert "inside attempt" not in found
    assert journal_actions(journal) == ["category.added", "category.added"]  # the dropped attempt's event never shows
    assert services.logbook.verify().ok


def test_an_attempt_keeps_its_writes_for_the_errors_it_is_told_to(
        client: FlaskClient, services: Services, tenant_id: uuid.UUID) -> None:
    assert client.get("/probe/attempt-keep").status_code == 409
    assert KEPT_ON_CONFLICT in labels(services, tenant_id)


def test_the_logbook_streams_an_event_only_after_the_request_committed(
        client: FlaskClient, journal: pytest.LogCaptureFixture) -> None:
    journal.clear()
    assert client.get("/probe/crash").status_code == 500
    assert journal_actions(journal) == []  # written in the transaction, never committed, never streamed
    assert client.get("/probe/ok").status_code == 200
    assert journal_actions(journal) == ["category.added"]


def test_a_read_only_view_reads_what_was_committed(client: FlaskClient) -> None:
    assert client.get("/probe/ok").status_code == 200
    answer = client.get("/probe/read-only")
    assert answer.status_code == 200 and "ok" in answer.text


def test_a_write_in_a_read_only_get_fails_and_nothing_is_kept(
        client: FlaskClient, services: Services, tenant_id: uuid.UUID, journal: pytest.LogCaptureFixture) -> None:
    journal.clear()
    assert client.get("/probe/read-only?write=slipped+in").status_code == 500
    assert journal_actions(journal) == []
    # The pooled connection it used writes again for the next request (SQLite: query_only lifted).
    assert client.get("/probe/ok").status_code == 200
    found = labels(services, tenant_id)
    assert "ok" in found and "slipped in" not in found
    assert services.logbook.verify().ok


def test_a_post_to_a_read_only_view_writes_as_any_other(
        app: Flask, client: FlaskClient, services: Services, tenant_id: uuid.UUID) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # the probe has no form; CSRF is tested in test_web_attacks
    assert client.post("/probe/read-only?write=posted").status_code == 200
    assert "posted" in labels(services, tenant_id)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_read_only_get_neither_takes_nor_waits_for_the_write_lock(client: FlaskClient, ctx: AppContext) -> None:
    """Every other SQLite transaction takes the write lock at BEGIN: a long write elsewhere would
    make the page wait up to the busy timeout (15 s), then fail."""
    with ctx.engine.connect() as writer:
        writer.begin()  # BEGIN IMMEDIATE: the write lock, held until the end of the block
        writer.execute(sa.text("SELECT 1")).scalar_one()
        answer = client.get("/probe/read-only")
        writer.rollback()
    assert answer.status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_reporters_pages_answer_while_a_report_is_being_written(client: FlaskClient, ctx: AppContext) -> None:
    """The portal, the report form, the privacy notice and the case-key form only read: a report
    being stored (the write lock held) does not make a reporter wait for them."""
    with ctx.engine.connect() as writer:
        writer.begin()
        writer.execute(sa.text("SELECT 1")).scalar_one()
        answers = {path: client.get(path).status_code
                   for path in ("/r/probe/", "/r/probe/report", "/r/probe/privacy", "/r/probe/follow-up")}
        writer.rollback()
    assert answers == {"/r/probe/": 200, "/r/probe/report": 503, "/r/probe/privacy": 200, "/r/probe/follow-up": 200}
