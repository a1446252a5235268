"""`appliance insiders list|export` as the real console script on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.insiders.templates import EVENT, template_for
from tests.functional.console import Appliance, in_process, initialised_on
from tests.functional.insiders_support import MARKER, details


@pytest.fixture
def installed(backend: str, tmp_path: Path) -> Iterator[Appliance]:
    with initialised_on(backend, tmp_path) as app:
        app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
        app.ok("tenant", "create", "--name", "Other GmbH", "--slug", "other")
        yield app


def test_list_and_export_a_section(installed: Appliance, tmp_path: Path) -> None:
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(second=0, microsecond=0)
    with in_process(installed) as services:
        tenant = services.tenants.by_slug("example")
        section = services.insider_lists.create_section(tenant.id, f"{MARKER}code", f"{MARKER}text", start, CLI)
        services.insider_lists.add_insider(tenant.id, section, details("Anna", function_reason=f"{MARKER}why"),
                                           start + dt.timedelta(hours=1), CLI)
    listed = installed.json("insiders", "list", "--tenant", "example")
    assert [(r["id"], r["kind"], r["insiders_now"]) for r in listed] == [(str(section), "event", 1)]
    text = installed.ok("insiders", "list", "--tenant", "example")
    assert str(section) in text and MARKER not in text and MARKER not in json.dumps(listed)
    assert installed.json("insiders", "list", "--tenant", "other") == []

    out = tmp_path / "falcon.csv"
    result = installed.json("insiders", "export", "--tenant", "example", "--section", str(section), "--format",
                            "csv", "--output", str(out), "--transmitted-on", dt.date.today().isoformat())
    assert result["file"] == str(out) and stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert list(template_for(EVENT, dt.datetime.now(dt.UTC)).headers) in rows
    assert any(row and row[0] == "Anna" for row in rows)
    for fmt in ("xlsx", "pdf"):
        installed.ok("insiders", "export", "--tenant", "example", "--all", "--format", fmt, "--output",
                     str(tmp_path / f"all.{fmt}"))
        assert (tmp_path / f"all.{fmt}").stat().st_size > 0
    with in_process(installed) as services:
        events = services.session.execute(sa.select(AuditEvent).where(
            AuditEvent.action.in_(["insider.exported", "insider.transmitted"]))).scalars().all()
    assert [e.action for e in events] == ["insider.exported", "insider.transmitted", "insider.exported",
                                          "insider.exported"]
    assert all(MARKER not in (e.detail or "") for e in events)


def test_bad_requests_fail_with_one_line(installed: Appliance, tmp_path: Path) -> None:
    existing = tmp_path / "exists.csv"
    existing.write_text("keep me")
    with in_process(installed) as services:
        other = services.tenants.by_slug("other")
        foreign = services.insider_lists.create_section(other.id, "Other", "", dt.datetime.now(dt.UTC), CLI)
    base = ("insiders", "export", "--tenant", "example", "--format", "csv")
    for args, needle in (((*base, "--output", str(tmp_path / "a.csv")), "either --section"),
                         ((*base, "--all", "--section", str(foreign), "--output", str(tmp_path / "b.csv")),
                          "either --section"),
                         ((*base, "--section", str(foreign), "--output", str(tmp_path / "c.csv")), "not found"),
                         ((*base, "--all", "--output", str(existing)), "already exists"),
                         ((*base, "--all", "--as-at", "2026-09-01T12:00", "--output", str(tmp_path / "d.csv")),
                          "zone"),
                         ((*base, "--all", "--as-at", "yesterday", "--output", str(tmp_path / "e.csv")), "ISO"),
                         (("insiders", "list", "--tenant", "nowhere"), "not found")):
        code, line = installed.fails(*args)
        assert code == (6 if needle == "not found" else 2) and needle in line, (args, line)
    assert existing.read_text() == "keep me"
    assert not (tmp_path / "c.csv").exists()
