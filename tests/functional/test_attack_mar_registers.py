"""A DBA with SQL, or a thief with the database file, reads no name, address, position or
text of the MAR registers; the logbook and the logs name ids only, never a code.

Markers are planted in every personal field (PDMRs and associates: name, e-mail, position or
relationship; persons responsible for a delayed disclosure) and every text of a delayed
disclosure, then searched for in the raw database (SQLCipher file and WAL, or pg_dump), in
every column a DBA can SELECT, in the logbook and in the captured logs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.context import AppContext
from appliance.disclosures.service import DisclosureInput
from appliance.services import Services
from tests.functional.conftest import Org
from tests.support import database_name

pytestmark = pytest.mark.fresh_database
T0 = dt.datetime(2026, 2, 20, 8, 0, tzinfo=dt.UTC)


def marker(label: str) -> str:
    return f"MK{label}{secrets.token_hex(6)}"


def plant(services: Services, org: Org) -> tuple[dict[str, str], list[str]]:
    m = {name: marker(name) for name in (
        "pdmrname", "pdmrposition", "assocname", "relationship", "subject", "conditions", "monitoring",
        "confidentiality", "arrangements", "change", "decider", "monitor", "discloser", "contact")}
    m["pdmremail"] = f"{marker('mail').lower()}@example.org"
    m["assocemail"] = f"{marker('assoc').lower()}@example.org"
    pdmr = services.pdmrs.add(org.tenant.id, m["pdmrname"], m["pdmremail"], m["pdmrposition"], CLI)
    associate = services.pdmrs.add(org.tenant.id, m["assocname"], m["assocemail"], m["relationship"], CLI,
                                   associate_of=pdmr.id)
    codes = []
    for entry in (pdmr, associate):
        link = services.pdmrs.notify_obligations(org.tenant.id, entry.id, "en", CLI)
        codes.append(services.acknowledgements.issue(org.tenant.id, link.id, CLI).code)
    services.acknowledgements.confirm(org.tenant.id, codes[0], CLI)
    data = DisclosureInput(
        subject=m["subject"], first_existed_at=T0, decided_at=T0, planned_disclosure_at=T0 + dt.timedelta(days=9),
        conditions_met=m["conditions"], monitoring=m["monitoring"], confidentiality=m["confidentiality"],
        disclosure_arrangements=m["arrangements"],
        persons={"decision": (m["decider"],), "monitoring": (m["monitor"],), "disclosure_decision": (m["discloser"],),
                 "authority_contact": (m["contact"],)})
    record = services.disclosures.record(org.tenant.id, data, CLI)
    services.disclosures.amend(org.tenant.id, record.disclosure_id, dataclasses.replace(data, change_note=m["change"]),
                               CLI)
    services.disclosures.history(org.tenant.id, record.disclosure_id, CLI)
    services.session.commit()
    return m, codes


def needles(markers: dict[str, str], codes: list[str]) -> dict[str, bytes]:
    found = {}
    for name, text in [*markers.items(), *((f"code{i}", c) for i, c in enumerate(codes)),
                       *((f"code{i} (plain)", c.replace("-", "")) for i, c in enumerate(codes))]:
        found[name] = text.encode()
        found[f"{name} (hex)"] = text.encode().hex().encode()
    return found


def leaks(haystack: bytes, found: dict[str, bytes]) -> list[str]:
    return [name for name, needle in found.items() if needle in haystack]


def test_no_marker_in_the_raw_database_the_logbook_or_the_logs(backend: str, ctx: AppContext, services: Services,
                                                               org_a: Org, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    markers, codes = plant(services, org_a)
    found = needles(markers, codes)
    # The services read back what they sealed: the markers are there, only not in clear.
    assert [e.name for e in services.pdmrs.entries(org_a.tenant.id, CLI)] == [markers["pdmrname"], markers["assocname"]]

    events = services.session.execute(sa.select(AuditEvent)).scalars().all()
    logbook = "\n".join(f"{e.action} {e.object_type} {e.object_id} {e.detail}" for e in events).encode()
    assert b"acknowledgement.confirmed" in logbook and b"disclosure.amended" in logbook
    assert leaks(logbook, found) == []
    assert leaks(caplog.text.encode(), found) == []
    services.session.commit()  # SQLite: every transaction holds the write lock

    with ctx.engine.connect() as connection:
        for table in ("persons", "person_identifiers", "person_links", "pdmr_entries", "acknowledgement_links",
                      "delayed_disclosures", "delayed_disclosure_versions"):
            for row in connection.execute(sa.text(f"SELECT * FROM {table}")):
                cells = b"|".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row)
                assert leaks(cells, found) == [], table
    services.session.close()
    ctx.engine.dispose()
    if backend == "sqlite":
        path = Path(sa.make_url(ctx.settings.database_url).database or "")
        for file in (p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()):
            assert leaks(file.read_bytes(), found) == [], file.name
        return
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    dump = subprocess.run([pg_dump, "-h", "127.0.0.1", "-U", "postgres", str(database_name(ctx))],
                          capture_output=True, check=True, timeout=120).stdout
    assert b"COPY public.delayed_disclosure_versions" in dump and b"Alpha AB" in dump
    assert leaks(dump, found) == []
