"""/metrics (webapp/metrics.py): its policy, its labels, the submissions counter.

The multiprocess mode under gunicorn is exercised by tests/deploy/test_nginx.py, through
nginx, with the workers the systemd unit starts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from appliance.actors import CLI, Role
from appliance.services import Services
from tests.support import principal, start_reader_list
from tests.web import (
    Browser,
    series,
    submit_report,
)
from webapp.metrics import AppMetrics
from webapp.policy import policy_of

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")


def test_metrics_route_declares_the_monitoring_policy(app) -> None:  # type: ignore[no-untyped-def]
    assert policy_of(app.view_functions["metrics.metrics"]) == "monitoring"
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Cache-Control"]  # the application's headers apply here too


def test_requests_are_counted_by_endpoint_and_submissions_counted(app, services: Services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.tenants.create_tenant("Example AB", "example", CLI)
    # A confirmed reader, so the channel has someone a report can be sealed to.
    officer, _ = services.users.create_user("officer@example.com", "correct horse battery",
                                            [(tenant.id, Role.HANDLER), (tenant.id, Role.ADMIN)], CLI, with_totp=True,
                                            chosen_by_user=True)
    me = principal(services, officer.id, "correct horse battery")
    start_reader_list(services, tenant.id, me, me)
    category = services.tenants.categories(tenant.id)[0]
    services.session.commit()
    reporter = Browser(app)
    submit_report(reporter, "example", str(category.id))
    assert reporter.post("/r/example/report", {"category": "", "what": ""},
                         content_type="multipart/form-data").status_code == 400
    assert reporter.get(f"/r/example/case-{category.id}").status_code == 404
    text = app.test_client().get("/metrics").get_data(as_text=True)
    scraped = series(text)
    assert scraped["appliance_report_submissions_total"] == 1
    assert scraped['appliance_http_requests_total{endpoint="reporter.report",method="POST",status="303"}'] == 1
    assert scraped['appliance_http_requests_total{endpoint="reporter.receipt",method="GET",status="200"}'] == 1
    assert scraped['appliance_http_requests_total{endpoint="reporter.report",method="POST",status="400"}'] == 1
    assert scraped['appliance_http_requests_total{endpoint="unmatched",method="GET",status="404"}'] >= 1
    assert scraped['appliance_http_request_duration_seconds_count{endpoint="reporter.report"}'] >= 3
    # Endpoint names only: no path, id or case key in any label; the tenant's slug only as the
    # tenant label of the health gauges (appliance/operations/health.py says why that is allowed).
    assert "/r/" not in text and not UUID.search(text)
    assert "example" not in text.replace('tenant="example"', "")


def test_each_application_counts_for_itself(app) -> None:  # type: ignore[no-untyped-def]
    from webapp import create_app

    other = create_app(app.extensions["appliance"])  # a second app: no duplicate registration
    app.test_client().get("/healthz")
    healthz = 'appliance_http_requests_total{endpoint="common.healthz",method="GET",status="200"}'
    assert series(app.test_client().get("/metrics").get_data(as_text=True))[healthz] == 1
    assert healthz not in series(other.test_client().get("/metrics").get_data(as_text=True))


def test_multiprocess_exposition_reads_the_workers_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a gunicorn worker does under `appliance serve` (PROMETHEUS_MULTIPROC_DIR set before
    # prometheus_client creates a value): its counts land in files the scrape adds up.
    empty = AppMetrics.create(tmp_path)
    assert b"appliance_http_requests" not in empty.exposition()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from prometheus_client import values

    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    worker = AppMetrics.create(tmp_path)
    worker.requests.labels("common.healthz", "GET", "200").inc(3)
    assert any(p.name.startswith("counter_") for p in tmp_path.iterdir())
    scraped = series(AppMetrics.create(tmp_path).exposition().decode())
    assert scraped['appliance_http_requests_total{endpoint="common.healthz",method="GET",status="200"}'] == 3


def test_serve_empties_the_metrics_directory(tmp_path: Path) -> None:
    from appliance.cli.ops import reset_metrics_dir

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_123.db").write_bytes(b"x")
    (tmp_path / "metrics" / "notes.txt").write_text("not ours")
    reset_metrics_dir(tmp_path / "metrics")
    assert [p.name for p in (tmp_path / "metrics").iterdir()] == ["notes.txt"]  # only the counters go
    reset_metrics_dir(tmp_path / "fresh")
    assert (tmp_path / "fresh").is_dir() and (tmp_path / "fresh").stat().st_mode & 0o077 == 0



@pytest.mark.fresh_database
def test_a_database_that_does_not_answer_is_a_gauge_not_a_500(app, ctx, backend: str,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    """When the database is gone, /metrics still answers (appliance_database_up 0, the alert's
    input) and /readyz says not ready; neither is a 500, and the log names no address."""
    dead_url = ("postgresql+psycopg://postgres@127.0.0.1:1/appliance" if backend == "postgresql"
                else f"sqlite:///{tmp_path / 'no-such-directory' / 'appliance.db'}")
    working_engine, working_sessions = ctx.engine, ctx.sessions
    dead = sa.create_engine(dead_url, poolclass=sa.pool.NullPool)
    ctx.engine, ctx.sessions = dead, sessionmaker(dead)
    try:
        client = app.test_client()
        response = client.get("/metrics")
        assert response.status_code == 200
        scraped = series(response.get_data(as_text=True))
        assert scraped["appliance_database_up"] == 0
        assert not [name for name in scraped if name.startswith(("appliance_cases_", "appliance_backup_age"))]
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["database"] == "unavailable"
        assert client.get("/healthz").status_code == 200
    finally:
        ctx.engine, ctx.sessions = working_engine, working_sessions
    assert series(app.test_client().get("/metrics").get_data(as_text=True))["appliance_database_up"] == 1
