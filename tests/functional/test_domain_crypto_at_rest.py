"""Attacks on the data at rest: a disk thief, a DB admin with SELECT, a row swapper, a wrong key.

A unique marker is planted in every piece of text or file a person writes; the raw
database (SQLCipher file and WAL, or a pg_dump) and every column a DB admin can SELECT
must not contain any of them, in clear or hex-encoded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.audit.models import AuditEvent
from appliance.cases.models import CasePrivateKeySeal
from appliance.context import AppContext, build_context
from appliance.crypto.keys import MasterKey, sqlcipher_key
from appliance.errors import (
    AuthenticationFailed,
    CaseLocked,
    DatabaseUnavailable,
    DecryptionFailed,
    KeyBindingInvalid,
)
from appliance.models import Base
from appliance.services import Services
from appliance.settings import Settings
from tests.functional.conftest import STAFF_PASSWORD, Org, ReportFactory, ServicesOpener, drain, upload
from tests.support import FrozenClock, add_reader, database_name

CLIENT = "crypto-client"


def marker(label: str) -> str:
    return f"MK{label}{secrets.token_hex(6)}"


@dataclass
class Planted:
    """A case full of markers, and every secret the flow produced."""

    case_id: uuid.UUID
    other_case_id: uuid.UUID
    case_key: str
    handler: StaffPrincipal
    markers: dict[str, str]
    file_bytes: bytes
    private_keys: dict[uuid.UUID, bytes]  # each case's, as the reporter's session holds it

    @property
    def private_key(self) -> bytes:
        return self.private_keys[self.case_id]

    def needles(self) -> dict[str, bytes]:
        """What must never be found: each marker in clear and hex-encoded (pg_dump shows bytea as hex)."""
        found: dict[str, bytes] = {}
        for name, text in self.markers.items():
            found[name] = text.encode()
            found[f"{name} (hex)"] = text.encode().hex().encode()
        found["file bytes"] = self.file_bytes
        found["file bytes (hex)"] = self.file_bytes.hex().encode()
        return found


def plant(services: Services, org: Org, file_report: ReportFactory, clock: FrozenClock) -> Planted:
    m = {name: marker(name) for name in (
        "what", "when", "where", "people", "contact", "reply", "message", "note", "conclusions", "filename",
        "content", "replyfile", "staffemail", "notify")}
    file_bytes = os.urandom(1000) + b"RAWBYTES" + secrets.token_bytes(16) + os.urandom(1000)
    receipt = file_report(
        org, what=f"What: {m['what']}", when=m["when"], where=m["where"], people=m["people"],
        contact=f"{m['contact']}@example.org", notify=f"{m['notify']}@example.net",
        uploads=[upload(f"{m['filename']}.pdf", f"%PDF {m['content']} end".encode()),
                 upload("raw.bin", file_bytes, "application/octet-stream")])
    other = file_report(org, what="A second, unrelated report.")
    clock.advance(minutes=1)
    services.reporting.reply(org.tenant, receipt.case_id, receipt.private_key, m["reply"],
                             [upload(f"{m['replyfile']}.txt", m["replyfile"].encode(), "text/plain")])
    user, _ = services.users.create_user(f"{m['staffemail']}@example.com", STAFF_PASSWORD,
                                         [(org.tenant.id, Role.HANDLER)], CLI, chosen_by_user=True)
    handler = services.users.principal(user.id, services.users.unlock_private_key(user.id, STAFF_PASSWORD))
    add_reader(services, org.tenant.id, org.handler, user.id, receives=False)
    # The handler joined after both reports were filed: a colleague shares them.
    for case_id in (receipt.case_id, other.case_id):
        services.cases.share(org.handler, case_id, user.id)
    clock.advance(minutes=1)
    services.cases.change_status(handler, receipt.case_id, "acknowledged")
    clock.advance(minutes=1)
    services.cases.post_message(handler, receipt.case_id, m["message"], [], is_feedback=True)
    services.cases.add_note(handler, receipt.case_id, m["note"])
    services.cases.change_status(handler, receipt.case_id, "closed", outcome="substantiated",
                                 conclusions=m["conclusions"])
    services.session.commit()
    return Planted(receipt.case_id, other.case_id, receipt.case_key.display, handler, m, file_bytes,
                   {receipt.case_id: receipt.private_key, other.case_id: other.private_key})


@pytest.fixture
def planted(services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock) -> Planted:
    return plant(services, org_a, file_report, clock)


def assert_nothing_found(haystack: bytes, planted: Planted, where: str) -> None:
    leaks = [name for name, needle in planted.needles().items() if needle in haystack]
    assert leaks == [], f"{where} shows {leaks}"


# --- a disk thief and a DB admin ------------------------------------------------------------
def test_raw_storage_holds_no_plaintext(backend: str, ctx: AppContext, planted: Planted) -> None:
    """SQLite: the database file and its WAL as a disk thief reads them. PostgreSQL: pg_dump."""
    if backend == "sqlite":
        path = Path(sa.make_url(ctx.settings.database_url).database or "")
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
        assert path in files
        for file in files:
            assert_nothing_found(file.read_bytes(), planted, file.name)
        assert not path.read_bytes().startswith(b"SQLite format 3"), "the database file is not encrypted"
        return

    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    dump = subprocess.run([pg_dump, "-h", "127.0.0.1", "-U", "postgres", str(database_name(ctx))],
                          capture_output=True, check=True, timeout=120).stdout
    assert b"COPY public.cases" in dump and b"COPY public.attachment_chunks" in dump
    assert b"Alpha AB" in dump  # control: clear metadata (a tenant name) is found
    assert_nothing_found(dump, planted, "pg_dump")


def test_every_column_a_db_admin_can_select_is_free_of_plaintext(ctx: AppContext, planted: Planted) -> None:
    chunks: list[bytes] = []
    with ctx.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
        tables = {name for name in sa.inspect(connection).get_table_names() if name != "alembic_version"}
    assert tables == set(Base.metadata.tables)  # nothing escaped the scan
    haystack = b"\x00".join(chunks)
    assert b"Alpha AB" in haystack  # control: clear metadata (a tenant name) is found
    assert_nothing_found(haystack, planted, "SELECT *")


# --- a row swapper ----------------------------------------------------------------------------
def column_of(services: Services, column: str, case_id: uuid.UUID) -> bytes:
    return bytes(services.session.execute(
        sa.text(f"SELECT {column} FROM cases WHERE id = :id"), {"id": case_id_param(services, case_id)}).scalar_one())


def case_id_param(services: Services, case_id: uuid.UUID) -> object:
    """The id as the backend stores it (SQLite: 32 hex characters, PostgreSQL: uuid)."""
    return case_id.hex if services.session.get_bind().dialect.name == "sqlite" else case_id


def set_column(services: Services, column: str, case_id: uuid.UUID, value: bytes | None) -> None:
    result = services.session.execute(sa.text(f"UPDATE cases SET {column} = :v WHERE id = :id"),
                                      {"v": value, "id": case_id_param(services, case_id)})
    assert result.rowcount == 1  # type: ignore[attr-defined]


def test_ciphertext_swapped_between_cases_does_not_decrypt(
        services: Services, planted: Planted, org_a: Org, other_services: ServicesOpener) -> None:
    first, second = (column_of(services, "what_sealed", c) for c in (planted.case_id, planted.other_case_id))
    set_column(services, "what_sealed", planted.case_id, second)
    set_column(services, "what_sealed", planted.other_case_id, first)
    services.session.commit()

    with other_services() as fresh:
        for case_id in (planted.case_id, planted.other_case_id):
            with pytest.raises(DecryptionFailed):
                fresh.cases.open_case(planted.handler, case_id)
            with pytest.raises(DecryptionFailed):
                fresh.reporting.view(org_a.tenant, case_id, planted.private_keys[case_id])


def test_ciphertext_moved_between_columns_of_one_case_does_not_decrypt(
        services: Services, planted: Planted, org_a: Org, other_services: ServicesOpener) -> None:
    # Same row, same data key: only the AAD (table, column, row id) stands in the way.
    where, people = (column_of(services, c, planted.case_id) for c in ("where_sealed", "people_sealed"))
    set_column(services, "where_sealed", planted.case_id, people)
    set_column(services, "people_sealed", planted.case_id, where)
    services.session.commit()

    with other_services() as fresh:
        with pytest.raises(DecryptionFailed):
            fresh.cases.open_case(planted.handler, planted.case_id)
        with pytest.raises(DecryptionFailed):
            fresh.reporting.view(org_a.tenant, planted.case_id, planted.private_key)


def test_sealed_case_key_swapped_between_cases_does_not_open(
        services: Services, planted: Planted, other_services: ServicesOpener) -> None:
    """A handler's sealed copy moved to another case: the context binds it to its case."""
    def seal_of(case_id: uuid.UUID) -> CasePrivateKeySeal:
        return services.session.execute(sa.select(CasePrivateKeySeal).where(
            CasePrivateKeySeal.case_id == case_id, CasePrivateKeySeal.user_id == planted.handler.user_id)).scalar_one()

    first, second = seal_of(planted.case_id), seal_of(planted.other_case_id)
    first.sealed, second.sealed = second.sealed, first.sealed
    services.session.commit()

    with other_services() as fresh:
        for case_id in (planted.case_id, planted.other_case_id):
            with pytest.raises(DecryptionFailed) as failed:
                fresh.cases.open_case(planted.handler, case_id)
            assert failed.value.what == "sealed key"


def test_content_key_swapped_between_cases_does_not_open(
        services: Services, planted: Planted, other_services: ServicesOpener) -> None:
    first, second = (column_of(services, "content_key_sealed", c) for c in (planted.case_id, planted.other_case_id))
    set_column(services, "content_key_sealed", planted.case_id, second)
    set_column(services, "content_key_sealed", planted.other_case_id, first)
    services.session.commit()

    with other_services() as fresh:
        for case_id in (planted.case_id, planted.other_case_id):
            with pytest.raises(KeyBindingInvalid):  # the case's key MAC catches the swap first
                fresh.cases.open_case(planted.handler, case_id)


def test_tampered_attachment_chunks_do_not_decrypt(
        services: Services, planted: Planted, other_services: ServicesOpener) -> None:
    view = services.cases.open_case(planted.handler, planted.case_id)
    raw = next(a for a in view.report_attachments if a.filename == "raw.bin")
    named = next(a for a in view.report_attachments if a.filename != "raw.bin")
    assert drain(services.cases.download(planted.handler, planted.case_id, raw.id)) == planted.file_bytes
    ids = {a: a.hex if services.session.get_bind().dialect.name == "sqlite" else a for a in (raw.id, named.id)}
    services.session.rollback()

    # Move the chunk of one attachment under the other: AAD binds chunks to their attachment.
    services.session.execute(sa.text("DELETE FROM attachment_chunks WHERE attachment_id = :a"), {"a": ids[named.id]})
    services.session.execute(sa.text("UPDATE attachment_chunks SET attachment_id = :to WHERE attachment_id = :a"),
                             {"to": ids[named.id], "a": ids[raw.id]})
    services.session.commit()

    with other_services() as fresh:
        with pytest.raises(DecryptionFailed):
            drain(fresh.cases.download(planted.handler, planted.case_id, named.id))
        with pytest.raises(DecryptionFailed):
            drain(fresh.cases.download(planted.handler, planted.case_id, raw.id))


# --- a wrong master key --------------------------------------------------------------------------
@pytest.fixture
def wrong_key_settings(ctx: AppContext, tmp_path: Path) -> Settings:
    other = tmp_path / "elsewhere" / "master.key"
    MasterKey.create(other)
    return dataclasses.replace(ctx.settings, master_key_file=other)


def test_wrong_master_key_cannot_read_anything(
        backend: str, services: Services, planted: Planted, org_a: Org, wrong_key_settings: Settings,
        clock: FrozenClock) -> None:
    services.session.close()
    if backend == "sqlite":
        with pytest.raises(DatabaseUnavailable) as unavailable:
            build_context(wrong_key_settings, clock=clock)
        message = str(unavailable.value)
        assert "wrong master key" in message and "\n" not in message
        assert unavailable.value.__cause__ is None and unavailable.value.__suppress_context__
        return

    wrong = build_context(wrong_key_settings, clock=clock)
    try:
        with wrong.sessions() as session:
            thief = Services(wrong, session)
            # Case content never depended on the master key; without a handler's or the
            # reporter's key there is nothing to open (tests/functional/test_domain_sealed_keys.py).
            # Nor can anything be added: the case's key pair is bound by the real master key.
            with pytest.raises(KeyBindingInvalid):
                thief.reporting.view(org_a.tenant, planted.case_id, None)
            with pytest.raises(CaseLocked):
                thief.cases.open_case(dataclasses.replace(planted.handler, private_key=None), planted.case_id)
            with pytest.raises(DecryptionFailed):
                thief.users.email_of(thief.users.get(planted.handler.user_id))
            with pytest.raises(AuthenticationFailed):  # the blind index key differs too
                thief.reporting.open_with_key(org_a.tenant, planted.case_key, CLIENT)
            session.rollback()
    finally:
        wrong.close()


# --- the logbook and the logs ---------------------------------------------------------------------
def unseals(services: Services, case_id: uuid.UUID) -> list[tuple[str, str | None]]:
    rows = services.session.execute(
        sa.select(AuditEvent.actor_type, AuditEvent.actor_id).where(
            AuditEvent.action == "case_key_pair.unsealed", AuditEvent.object_type == "case",
            AuditEvent.object_id == str(case_id)).order_by(AuditEvent.seq)).all()
    return [(actor_type, actor_id) for actor_type, actor_id in rows]


def test_every_case_key_unseal_is_in_the_logbook(
        services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock) -> None:
    receipt = file_report(org_a, uploads=[upload("a.pdf", b"evidence")])
    # Filing makes the case key and seals it; nothing is unsealed on that path.
    assert unseals(services, receipt.case_id) == []
    handler = org_a.handler
    handler_actor = ("user", str(handler.user_id))
    attachment_id = services.cases.open_case(handler, receipt.case_id).report_attachments[0].id

    steps = {
        "reporter sign-in": (lambda: services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT),
                             ("reporter", None)),
        "open case": (lambda: services.cases.open_case(handler, receipt.case_id), handler_actor),
        "acknowledge": (lambda: services.cases.change_status(handler, receipt.case_id, "acknowledged"), handler_actor),
        "message": (lambda: services.cases.post_message(handler, receipt.case_id, "hi", []), handler_actor),
        "note": (lambda: services.cases.add_note(handler, receipt.case_id, "n"), handler_actor),
        "download": (lambda: drain(services.cases.download(handler, receipt.case_id, attachment_id)), handler_actor),
    }
    for name, (step, actor) in steps.items():
        clock.advance(seconds=1)
        before = len(unseals(services, receipt.case_id))
        step()
        after = unseals(services, receipt.case_id)
        assert len(after) > before, f"{name} unsealed the case key without a logbook event"
        assert set(after[before:]) == {actor}, name
    # The server's own keys play no part in opening a sealed case (they do unwrap staff
    # persons' keys, which hold the staff's e-mail addresses, when accounts are made).
    assert services.session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "key.unwrapped",
        AuditEvent.object_type.in_(("tenant_key", "content_key", "case_key")))).scalar_one() == 0  # case_key: before 0.4
    assert services.logbook.verify().ok


def test_logbook_holds_no_markers(services: Services, planted: Planted) -> None:
    events = services.session.execute(sa.select(AuditEvent)).scalars().all()
    assert events
    text = "\n".join(repr([e.action, e.actor_type, e.actor_id, e.object_type, e.object_id, e.detail, e.tenant_id])
                     for e in events).encode()
    assert_nothing_found(text, planted, "the logbook")
    assert planted.case_key.encode() not in text


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy pins its own logger to WARNING; at DEBUG it logs every statement, its
    # parameters and the rows read: exactly what would leak plaintext handed to the DB.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    yield caplog


def test_logs_hold_no_markers_or_keys(
        all_logs: pytest.LogCaptureFixture, ctx: AppContext, services: Services, org_a: Org,
        file_report: ReportFactory, clock: FrozenClock) -> None:
    services.session.rollback()  # give the connection back, so dispose() closes it
    ctx.engine.dispose()  # the connect hook (SQLCipher key) runs again while logs are captured
    planted = plant(services, org_a, file_report, clock)
    case = services.cases.open_case(planted.handler, planted.case_id)
    for info in case.report_attachments:
        drain(services.cases.download(planted.handler, planted.case_id, info.id))
    services.reporting.open_with_key(org_a.tenant, planted.case_key, CLIENT)
    services.reporting.view(org_a.tenant, planted.case_id, planted.private_key)
    services.session.commit()

    records = all_logs.records
    assert any(r.name.startswith("sqlalchemy.engine") for r in records), "statement logging was not captured"
    assert any(r.name == "appliance.audit" for r in records)
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records).encode()
    assert_nothing_found(text, planted, "the log")
    secrets_seen = [name for name, secret in {
        "case key": planted.case_key, "case key (plain)": planted.case_key.replace("-", ""),
        "staff password": STAFF_PASSWORD, "sqlcipher key": sqlcipher_key(ctx.master).hex(),
    }.items() if secret.encode() in text]
    assert secrets_seen == []
