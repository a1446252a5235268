"""Attacks on the insider lists: a DBA rewriting the history with SQL, swapping ciphertexts, and
looking for names, codes and reasons in the raw database, the columns, the logbook and the logs."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.context import AppContext
from appliance.errors import DecryptionFailed, InsiderListTampered
from appliance.insiders.models import InsiderVersion
from appliance.insiders.records import InsiderDetails
from appliance.models import Base
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.insiders_support import AFTER_2026_ITS, MARKER, details, marked
from tests.support import FrozenClock, database_name

T0 = AFTER_2026_ITS


@dataclass
class Planted:
    section: uuid.UUID
    entries: list[uuid.UUID]

    @staticmethod
    def needles() -> dict[str, bytes]:
        return {"marker": MARKER.encode(), "marker (lower)": MARKER.lower().encode(),
                "marker (hex)": MARKER.encode().hex().encode()}


def plant(services: Services, org: Org, clock: FrozenClock) -> Planted:
    clock.now = T0 + dt.timedelta(days=3)
    lists = services.insider_lists
    section = lists.create_section(org.tenant.id, f"{MARKER}code", f"{MARKER}description", T0, CLI)
    first = lists.add_insider(org.tenant.id, section, marked("a"), T0, CLI)
    provider = InsiderDetails(**{**marked("b").__dict__, "provider": f"{MARKER}provider"})
    second = lists.add_insider(org.tenant.id, section, provider, T0 + dt.timedelta(hours=1), CLI)
    lists.change_insider(org.tenant.id, first, InsiderDetails(function_reason=f"{MARKER}newreason"),
                         T0 + dt.timedelta(hours=2), CLI)
    lists.close_section(org.tenant.id, section, T0 + dt.timedelta(days=1), "disclosed", CLI)
    permanent = lists.open_permanent_section(org.tenant.id, CLI, since=T0)
    lists.add_insider(org.tenant.id, permanent, marked("c"), T0, CLI)
    services.insider_exports.export(org.tenant.id, None, "csv", None, CLI)
    services.session.commit()
    return Planted(section, [first, second])


@pytest.fixture
def planted(services: Services, org_a: Org, clock: FrozenClock) -> Planted:
    return plant(services, org_a, clock)


def assert_nothing_found(haystack: bytes, where: str) -> None:
    leaks = [name for name, needle in Planted.needles().items() if needle in haystack]
    assert leaks == [], f"{where} shows {leaks}"


# --- reading what is stored -------------------------------------------------------------------
def test_the_list_reads_back_whole(services: Services, org_a: Org, planted: Planted) -> None:
    view = services.insider_history.as_at(org_a.tenant.id, T0 + dt.timedelta(days=2), CLI)
    section = next(p for p in view.sections if p.section.id == planted.section)
    assert section.section.code == f"{MARKER}code"
    assert {i.details.surname for i in section.insiders} == {f"{MARKER}asur", f"{MARKER}bsur"}


def test_raw_storage_holds_no_plaintext(backend: str, ctx: AppContext, planted: Planted) -> None:
    if backend == "sqlite":
        path = Path(sa.make_url(ctx.settings.database_url).database or "")
        for file in (p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()):
            assert_nothing_found(file.read_bytes(), file.name)
        return
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    dump = subprocess.run([pg_dump, "-h", "127.0.0.1", "-U", "postgres", str(database_name(ctx))],
                          capture_output=True, check=True, timeout=120).stdout
    assert b"COPY public.insider_versions" in dump
    assert_nothing_found(dump, "pg_dump")


def test_every_column_a_db_admin_can_select_is_free_of_plaintext(ctx: AppContext, planted: Planted) -> None:
    chunks: list[bytes] = []
    with ctx.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                chunks += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row
                           if v is not None]
    haystack = b"\x00".join(chunks)
    assert b"insider.added" in haystack  # control: the scan reads the logbook too
    assert_nothing_found(haystack, "SELECT *")


def test_logbook_holds_no_markers(services: Services, planted: Planted) -> None:
    events = services.session.execute(sa.select(AuditEvent)).scalars().all()
    text = "\n".join(repr([e.action, e.object_type, e.object_id, e.detail]) for e in events).encode()
    assert b"insider.exported" in text and b"insider.section_closed" in text
    assert_nothing_found(text, "the logbook")


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    yield caplog


def test_logs_hold_no_markers(all_logs: pytest.LogCaptureFixture, services: Services, org_a: Org,
                              clock: FrozenClock) -> None:
    plant(services, org_a, clock)
    services.insider_history.as_at(org_a.tenant.id, clock.now, CLI)
    services.session.commit()
    records = all_logs.records
    assert any(r.name.startswith("sqlalchemy.engine") for r in records), "statement logging was not captured"
    assert_nothing_found("\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records).encode(), "the log")


# --- a DBA rewriting the history ----------------------------------------------------------------
def _param(services: Services, value: uuid.UUID) -> object:
    return value.hex if services.session.get_bind().dialect.name == "sqlite" else value


def _version(services: Services, entry: uuid.UUID, change: str) -> InsiderVersion:
    return services.session.execute(sa.select(InsiderVersion).where(
        InsiderVersion.entry_id == entry, InsiderVersion.change == change)).scalars().first()  # type: ignore[return-value]


def _sql(services: Services, statement: str, **params: object) -> None:
    services.session.execute(sa.text(statement), params)
    services.session.expire_all()


def test_a_version_edited_in_place_is_detected(services: Services, org_a: Org, planted: Planted) -> None:
    ceased = _version(services, planted.entries[1], "ceased")
    # Pretend the provider's contact never ceased, and back-date when Anna obtained access.
    _sql(services, "UPDATE insider_versions SET ended_at = NULL WHERE id = :id", id=_param(services, ceased.id))
    with pytest.raises(InsiderListTampered, match=f"version {ceased.seq}"):
        services.insider_history.as_at(org_a.tenant.id, T0 + dt.timedelta(days=2), CLI)
    with pytest.raises(InsiderListTampered):
        services.insider_exports.export(org_a.tenant.id, planted.section, "csv", None, CLI)


def test_a_version_deleted_or_the_newest_removed_is_detected(services: Services, org_a: Org,
                                                             planted: Planted) -> None:
    changed = _version(services, planted.entries[0], "changed")
    _sql(services, "DELETE FROM insider_versions WHERE id = :id", id=_param(services, changed.id))
    with pytest.raises(InsiderListTampered, match="missing"):
        services.insider_history.verify(org_a.tenant.id)
    services.session.rollback()
    newest = services.session.execute(sa.select(sa.func.max(InsiderVersion.seq)).where(
        InsiderVersion.tenant_id == org_a.tenant.id)).scalar_one()
    _sql(services, "DELETE FROM insider_versions WHERE tenant_id = :t AND seq = :s",
         t=_param(services, org_a.tenant.id), s=newest)
    with pytest.raises(InsiderListTampered, match="newest"):
        services.insider_history.verify(org_a.tenant.id)


def test_personal_data_swapped_between_versions_does_not_open(services: Services, org_a: Org,
                                                              planted: Planted) -> None:
    a = _version(services, planted.entries[0], "created")
    b = _version(services, planted.entries[1], "created")
    _sql(services, "UPDATE insider_versions SET personal_sealed = :v WHERE id = :id",
         v=bytes(b.personal_sealed or b""), id=_param(services, a.id))
    with pytest.raises(InsiderListTampered, match="personal data"):
        services.insider_history.verify(org_a.tenant.id)
    # Even with the digest fixed up too, the ciphertext is bound to its row and its person's key.
    services.session.rollback()
    _sql(services, "UPDATE insider_versions SET personal_sealed = :v, personal_digest = :d WHERE id = :id",
         v=bytes(b.personal_sealed or b""), d=bytes(b.personal_digest or b""), id=_param(services, a.id))
    with pytest.raises((InsiderListTampered, DecryptionFailed)):
        services.insider_history.as_at(org_a.tenant.id, T0 + dt.timedelta(days=2), CLI)


def test_xss_and_formula_payloads_are_kept_as_text(services: Services, org_a: Org, clock: FrozenClock) -> None:
    clock.now = T0 + dt.timedelta(days=1)
    section = services.insider_lists.create_section(org_a.tenant.id, "<script>alert(1)</script>", "", T0, CLI)
    payload = "<img src=x onerror=alert(1)>"
    services.insider_lists.add_insider(org_a.tenant.id, section, details("X", first_name=payload,
                                                                         function_reason="@SUM(A1)"), T0, CLI)
    csv_text = services.insider_exports.export(org_a.tenant.id, section, "csv", None, CLI).decode("utf-8-sig")
    assert payload in csv_text and "'@SUM(A1)" in csv_text


def _every_read(services: Services, org: Org, planted: Planted) -> list[tuple[str, object]]:
    """Each way the list is read: the as-at view, the diff, each export, the person's own export,
    the persons known to the list; every one must refuse a rewritten chain."""
    tenant, when = org.tenant.id, T0 + dt.timedelta(days=2)
    history, exports = services.insider_history, services.insider_exports
    return [("as_at", lambda: history.as_at(tenant, when, CLI)),
            ("section as_at", lambda: history.as_at(tenant, when, CLI, planted.section)),
            ("diff", lambda: history.diff(tenant, T0, when, CLI)),
            ("csv", lambda: exports.export(tenant, planted.section, "csv", when, CLI)),
            ("xlsx", lambda: exports.export(tenant, None, "xlsx", None, CLI)),
            ("entry export", lambda: history.entry_export(tenant, planted.entries[0], CLI)),
            ("known persons", lambda: history.known_persons(tenant, CLI)),
            ("verify", lambda: history.verify(tenant))]


@pytest.mark.parametrize("attack", ["edit", "reorder", "early deletion", "section content deleted"])
def test_every_read_path_refuses_a_rewritten_chain(services: Services, org_a: Org, planted: Planted,
                                                    attack: str) -> None:
    created = _version(services, planted.entries[0], "created")
    changed = _version(services, planted.entries[0], "changed")
    ceased = _version(services, planted.entries[1], "ceased")
    if attack == "edit":  # back-date when Anna obtained access
        _sql(services, "UPDATE insider_versions SET started_at = :t WHERE id = :id",
             t=(T0 - dt.timedelta(days=30)).replace(tzinfo=None), id=_param(services, created.id))
    elif attack == "reorder":  # swap two versions' places on the chain
        a, b = created.seq, changed.seq
        for seq, new in ((a, -1), (b, a), (-1, b)):
            _sql(services, "UPDATE insider_versions SET seq = :new WHERE tenant_id = :t AND seq = :s",
                 new=new, s=seq, t=_param(services, org_a.tenant.id))
    elif attack == "early deletion":  # the provider's contact ceased two days ago, not five years
        _sql(services, "UPDATE insider_versions SET content_digest = :d, content_sealed = NULL, "
             "personal_sealed = NULL WHERE id = :id",
             d=hashlib.sha256(bytes(ceased.content_sealed or b"")).digest(), id=_param(services, ceased.id))
    else:
        head = services.session.execute(sa.select(InsiderVersion).where(
            InsiderVersion.section_id == planted.section, InsiderVersion.entry_id.is_(None))).scalars().first()
        assert head is not None
        _sql(services, "UPDATE insider_versions SET content_digest = :d, content_sealed = NULL WHERE id = :id",
             d=hashlib.sha256(bytes(head.content_sealed or b"")).digest(), id=_param(services, head.id))
    for name, read in _every_read(services, org_a, planted):
        with pytest.raises(InsiderListTampered):
            read()  # type: ignore[operator]
            pytest.fail(f"{name} read a rewritten chain ({attack})")
