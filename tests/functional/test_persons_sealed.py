"""Issue 12 (findings 3 and 5): persons named in a case are sealed to the case (both databases).

The attack gives a separate process everything the server holds (configuration, master key,
main database and person key vault): no name, e-mail or national ID of a person named in a case
opens, and no row or logbook event ties a person record to a case. A handler sees only what
the cases they can open recorded. Erasure still shreds every case's entry, in a copy of the
database taken before too, even for someone holding the case's key. Persons named before this
version are converted when a handler opens the case, or with the escrow key; retention deletes
a case's entries, and the escrow key finds the person records no case names any more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, StaffPrincipal
from appliance.audit.models import AuditEvent
from appliance.audit.stream import stop_routing, stream_events_to_stdout
from appliance.cases.case_subjects import identity_key, unconverted_cases
from appliance.context import AppContext, build_context
from appliance.crypto.fields import Place
from appliance.errors import AlreadyNamed, CaseLocked, DecryptionFailed, ErasureBlocked
from appliance.models import Base
from appliance.persons.models import CaseSubjectEntry, Person, PersonIdentifier, PersonLink
from appliance.persons.service import PersonDetails, clean_details
from appliance.services import Services
from tests.functional.conftest import Org, ReaderFactory, ReportFactory, copy_database
from tests.light import LIGHT_TOML
from tests.support import FrozenClock, install_escrow, pg_admin, pg_drop, pg_url

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

PASSPHRASE = "orchid tundra lantern basalt quiver"
NAME, EMAIL, NATIONAL_ID = "Zelda Q7-SEALED-NAME", "zelda.q7sealed@example.com", "Q7SEALED1234"
WITNESS, WITNESS_EMAIL = "Wim W8-SEALED-WITNESS", "wim.w8sealed@example.com"
MARKERS = (NAME, EMAIL, NATIONAL_ID, WITNESS, WITNESS_EMAIL, "Zelda", "q7sealed", "w8sealed")


def name(services: Services, handler: StaffPrincipal, case_id: uuid.UUID, name: str | None = NAME,
         email: str | None = EMAIL, national_id: str | None = NATIONAL_ID, role: str = "concerned") -> uuid.UUID:
    entry_id = services.case_subjects.add(handler, case_id, clean_details(name, email, national_id), role)
    services.session.commit()
    return entry_id


def person_id_of(services: Services, email: str) -> uuid.UUID:
    [match] = services.persons.find(PersonDetails(email=email))
    return match.person_id


# --- finding 3: the server's keys and files -------------------------------------------------------
def copy_installation_with_vault(backend: str, ctx: AppContext, target: Path) -> Path:
    """Everything the server holds: the configuration, the master key, the database and the vault."""
    target.mkdir()
    shutil.copyfile(ctx.settings.master_key_file, target / "master.key")
    (target / "master.key").chmod(0o400)
    ctx.vault.dispose()
    url = copy_database(backend, ctx, target)
    vault_line = ""
    if backend == "sqlite":  # vault.db beside the database
        shutil.copyfile(ctx.settings.data_dir / "vault.db", target / "vault.db")
    else:
        name = f"appliance_vcopy_{uuid.uuid4().hex[:10]}"
        pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{sa.make_url(ctx.settings.vault_database_url).database}"')
        vault_line = f'vault_database_url = "{pg_url(name)}"\n'
    (target / "appliance.toml").write_text(
        f'database_url = "{url}"\nmaster_key_file = "{target / "master.key"}"\ndata_dir = "{target}"\n{vault_line}'
        + LIGHT_TOML)
    return target / "appliance.toml"


def _forms(value: uuid.UUID) -> set[str]:
    return {str(value), value.hex}


def _texts(row: sa.Row[tuple[object, ...]]) -> set[str]:
    found = set()
    for value in row:
        if isinstance(value, uuid.UUID):
            found |= _forms(value)
        elif isinstance(value, str):
            found.add(value)
            found |= {part for part in value.replace("=", " ").replace("/", " ").split()}
        elif isinstance(value, (bytes, memoryview)):
            found.add(bytes(value).hex())
    return found


def _mentions(texts: set[str], value: uuid.UUID) -> bool:
    forms = _forms(value)
    return any(form in text for text in texts for form in forms) or value.bytes.hex() in "".join(texts)


@pytest.mark.fresh_database
def test_with_every_server_held_key_and_file_no_named_person_opens_and_none_is_tied_to_a_case(
        backend: str, ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory,
        tmp_path: Path) -> None:
    install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler, PASSPHRASE)
    services.session.commit()
    first, second = file_report(org_a).case_id, file_report(org_a).case_id
    name(services, org_a.handler, first)
    name(services, org_a.handler, first, WITNESS, WITNESS_EMAIL, None, "witness")
    name(services, org_a.handler, second, None, EMAIL, None, "other")  # the same person, in a second case
    persons = {person_id_of(services, EMAIL), person_id_of(services, WITNESS_EMAIL)}
    cases = {first, second}
    services.session.close()

    # No row of any table (the logbook aside, below) holds a person's id and a case's id.
    with ctx.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)):
                texts = _texts(row)
                named = {p for p in persons if _mentions(texts, p)}
                if named:
                    assert table.name in ("persons", "person_identifiers"), table.name
                    assert not any(_mentions(texts, c) for c in cases), table.name
                    assert not any(marker.lower() in text.lower() for text in texts for marker in MARKERS)
        # ... nor an event of the logbook: persons named in a case are never logged by id.
        for event in session.execute(sa.select(AuditEvent)).scalars():
            assert not any(_mentions({str(event.object_id), str(event.detail)}, p) for p in persons), event.action
        actions = [e.action for e in session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars()]
        assert actions.count("case.subject_added") == 3
        assert not session.execute(sa.select(AuditEvent).where(AuditEvent.action.like("person.%"),
                                                               AuditEvent.object_type == "case")).first()
        # ... and no clock time ties a new person record to the entry written with it: the day only.
        for moment in [*session.execute(sa.select(Person.created_at).where(Person.id.in_(persons))).scalars(),
                       *session.execute(sa.select(PersonIdentifier.created_at).where(
                           PersonIdentifier.person_id.in_(persons))).scalars()]:
            assert moment.time() == dt.time(0)
        # The sealed lengths tell neither the role nor one name from another of a similar size.
        lengths = {(len(e.entry_sealed), len(e.identity_sealed))
                   for e in session.execute(sa.select(CaseSubjectEntry)).scalars()}
        assert len(lengths) == 1, lengths
        values = session.execute(sa.select(Person.name_sealed, PersonIdentifier.value_sealed).join(
            PersonIdentifier, PersonIdentifier.person_id == Person.id).where(Person.id.in_(persons))).all()
        assert values and all(row == (None, None) for row in values)  # nothing but the blind index
    shares = {uuid.UUID(r["person_id"]): r for r in ctx.vault.export_rows()}
    assert all(dt.datetime.fromisoformat(shares[p]["created_at"]).time() == dt.time(0) for p in persons)
    assert not any(_mentions({json.dumps(r)}, c) for r in shares.values() for c in cases)

    config = copy_installation_with_vault(backend, ctx, tmp_path / "stolen")
    try:
        result = subprocess.run([sys.executable, "-m", "tests.functional.thief", str(config)],
                                capture_output=True, text=True, timeout=600, check=False,
                                cwd=Path(__file__).parents[2])
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
    finally:
        if backend == "postgres":
            for line in config.read_text().splitlines():
                if line.startswith(("database_url", "vault_database_url")):
                    pg_drop(str(sa.make_url(line.split('"')[1]).database))
    # The thief had every person's shredding key (four: the handler's and the admin's staff
    # accounts, two named) ...
    assert report["person_keys"] == 4
    # ... and opened only what the server may open by design: the staff account's fields.
    assert {o["where"] for o in report["opened"]} <= {"users.email_sealed", "users.totp_secret_sealed"}
    everything = (json.dumps(report) + result.stderr).lower()
    for marker in MARKERS:
        assert marker.lower() not in everything


@pytest.mark.fresh_database
def test_the_logbook_reads_the_same_whether_the_case_named_someone_new_or_known(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory) -> None:
    first, second = file_report(org_a).case_id, file_report(org_a).case_id
    services.session.close()

    def events_of_adding(case_id: uuid.UUID, email: str) -> list[tuple[str, str | None, str | None]]:
        with ctx.sessions() as session:  # a unit of work of its own, as each request is
            start = session.execute(sa.select(sa.func.max(AuditEvent.seq))).scalar_one()
            session.rollback()
            name(Services(ctx, session), org_a.handler, case_id, None, email, None)
            rows = session.execute(sa.select(AuditEvent).where(AuditEvent.seq > start).order_by(
                AuditEvent.seq)).scalars().all()
            return [(e.action, e.object_type, e.detail) for e in rows]

    new = events_of_adding(first, EMAIL)  # nobody with this address yet
    known = events_of_adding(second, EMAIL)  # the same person record
    assert new == known and ("key.unwrapped", "case_subject_key", "keys=1") in new
    assert ("case.subject_added", "case", None) in new and not any(a.startswith("person.") for a, _t, _d in new)


def test_markers_reach_no_log_logbook_export_or_stream_line(
        services: Services, org_a: Org, file_report: ReportFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    stream_events_to_stdout(stream)
    try:
        case_id = file_report(org_a).case_id
        entry = name(services, org_a.handler, case_id)
        assert services.case_subjects.list(org_a.handler, case_id)[0].name == NAME
        person_id = person_id_of(services, EMAIL)
        exported = json.dumps(services.person_export.export(person_id, CLI))
        services.case_subjects.remove(org_a.handler, case_id, entry)
        services.person_eraser.erase(person_id, CLI)
        services.session.commit()
    finally:
        stop_routing()
    logbook = json.dumps([[e.action, e.object_type, e.object_id, e.detail]
                          for e in services.session.execute(sa.select(AuditEvent)).scalars()])
    export = json.loads(exported)
    assert export["person"]["name"] is None and export["person"]["identifiers"] == {}
    assert export["person"]["indexed_identifiers"] == ["email", "national_id"]
    assert export["records"] == [] and "compliance team" in export["named_in_cases"]
    for text in (caplog.text, logbook, exported, stream.getvalue()):
        for marker in MARKERS:
            assert marker.lower() not in text.lower()
    assert "case.subject_added" in stream.getvalue() and "case.subject_removed" in logbook


# --- finding 5: a known e-mail opens nothing of another case --------------------------------------
def test_a_handler_who_types_a_known_email_sees_only_their_own_case(
        services: Services, org_a: Org, file_report: ReportFactory, make_reader: ReaderFactory) -> None:
    sealed_away = file_report(org_a).case_id  # sealed to org_a.handler only: the other handler is not there yet
    name(services, org_a.handler, sealed_away)
    other = make_reader(org_a)  # a second reader who receives new reports
    shared = file_report(org_a).case_id  # sealed to both handlers
    with pytest.raises(CaseLocked):
        services.case_subjects.list(other, sealed_away)

    # The attack of finding 5: only the e-mail, in a case the attacker can open.
    name(services, other, shared, None, EMAIL, None, "witness")
    [seen] = services.case_subjects.list(other, shared)
    assert (seen.name, seen.identifiers, seen.role) == (None, {"email": EMAIL}, "witness")
    assert NAME not in str(seen) and NATIONAL_ID not in str(seen)

    # The national ID of another recorded person, with the e-mail: no error tells it is known ...
    name(services, org_a.handler, sealed_away, WITNESS, None, "W8SEALED99", "witness")
    name(services, other, shared, "Typed here", WITNESS_EMAIL, "W8SEALED99", "other")
    assert {s.name for s in services.case_subjects.list(other, shared)} == {None, "Typed here"}
    # ... and what the attacker types never shows in the case sealed away from them.
    before = services.case_subjects.list(org_a.handler, sealed_away)
    assert sorted((s.name or "", s.identifiers) for s in before) == [
        (WITNESS, {"national_id": "W8SEALED99"}), (NAME, {"email": EMAIL, "national_id": NATIONAL_ID})]
    assert "Typed here" not in str(before) and WITNESS_EMAIL not in str(before)

    # The same person record all the same, so erasure by any identifier reaches every case.
    assert {m.person_id for m in services.persons.find(PersonDetails(email=EMAIL))} == {person_id_of(services, EMAIL)}
    # A second entry with an identifier this case already shows is refused, with this case's knowledge only.
    with pytest.raises(AlreadyNamed) as refused:
        services.case_subjects.add(other, shared, clean_details("Again", EMAIL.upper(), None), "other")
    assert refused.value.field == "email"
    services.session.rollback()


def test_an_entry_whose_identifiers_find_two_persons_is_shredded_by_erasing_either(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    case_id = file_report(org_a).case_id
    name(services, org_a.handler, case_id, "One", "one@example.com", None)
    name(services, org_a.handler, case_id, "Two", None, "ABC123")
    both = name(services, org_a.handler, file_report(org_a).case_id, "Both", "one@example.com", "ABC123")
    assert services.persons.find(PersonDetails(email="one@example.com")) != services.persons.find(
        PersonDetails(national_id="ABC123"))
    services.person_eraser.erase(person_id_of(services, "one@example.com"), CLI)
    services.session.commit()
    subjects = {s.name: s for s in services.case_subjects.list(org_a.handler, case_id)}
    assert set(subjects) == {None, "Two"} and subjects[None].erased
    [entry] = [s for c in services.session.execute(sa.select(CaseSubjectEntry.case_id).where(
        CaseSubjectEntry.id == both)).scalars() for s in services.case_subjects.list(org_a.handler, c)]
    assert entry.erased and entry.name is None and entry.identifiers == {}


# --- erasure shreds, in an old copy too, even with the case's key ----------------------------------
@pytest.fixture
def database_copy(backend: str, ctx: AppContext, services: Services,
                  tmp_path: Path) -> Callable[[], AbstractContextManager[Services]]:
    """database_copy() -> the services of a copy of the database as it is now (a backup),
    beside the live vault, as a restore would have it."""

    @contextmanager
    def copy() -> Iterator[Services]:
        services.session.close()
        url = copy_database(backend, ctx, tmp_path)
        restored = build_context(dataclasses.replace(ctx.settings, database_url=url), clock=ctx.clock)
        session = restored.sessions()
        try:
            yield Services(restored, session)
        finally:
            session.close()
            restored.close()
            if backend != "sqlite":
                pg_drop(url.rsplit("/", 1)[1])

    return copy


@pytest.mark.fresh_database
def test_erasure_shreds_the_entry_in_every_case_and_in_a_copy_from_before_even_with_the_case_key(
        services: Services, org_a: Org, file_report: ReportFactory,
        database_copy: Callable[[], AbstractContextManager[Services]]) -> None:
    first, second = file_report(org_a).case_id, file_report(org_a).case_id
    name(services, org_a.handler, first)
    name(services, org_a.handler, second, "Z.", None, NATIONAL_ID, "witness")
    name(services, org_a.handler, second, WITNESS, WITNESS_EMAIL, None, "witness")
    person_id = person_id_of(services, EMAIL)
    plan = services.person_eraser.plan(person_id)
    assert plan.deleted == {"identifiers": 2, "person key": 1} and plan.shreds_case_entries

    with database_copy() as old:  # a backup taken now, restored later beside the live vault
        services.person_eraser.erase(person_id, CLI)
        services.session.commit()
        # The case's readers see the entry as erased, in the live database ...
        live = sorted(services.case_subjects.list(org_a.handler, second), key=lambda s: s.erased, reverse=True)
        assert [(s.erased, s.role, s.name) for s in live] == [(True, "witness", None), (False, "witness", WITNESS)]
        # ... and in the old copy, which still holds the entry, the person and its wrapped key.
        for case_id in (first, second):
            for subject in old.case_subjects.list(org_a.handler, case_id):
                assert subject.erased == (subject.name != WITNESS)
                assert NAME not in str(subject) and NATIONAL_ID not in str(subject)
        # With the case's content key in hand, nothing derives the identity's key: the vault share is gone.
        _case, cipher = old.cases.opened(org_a.handler, first)
        person = old.session.get(Person, person_id)
        assert person is not None and cipher.content_key is not None
        assert old.persons.keys_for_case(org_a.tenant.id, [person], first, CLI) == {person_id: None}
        db_share = old.data_keys.unwrap(org_a.tenant.id, f"person/{person_id}", person.key_version,
                                        person.wrapped_key, CLI, "person_key", person_id)
        [entry] = old.session.execute(sa.select(CaseSubjectEntry).where(CaseSubjectEntry.case_id == first)).scalars()
        for guess in (db_share, cipher.content_key, b""):  # the database share alone is not the person's key
            with pytest.raises(DecryptionFailed):
                from appliance.crypto.fields import FieldCipher

                FieldCipher(identity_key(cipher.content_key, entry.id, [guess] if guess else []), 1).open_bytes(
                    entry.identity_sealed, Place("case_subjects", "identity", entry.id))
        old.session.rollback()
    # An erased entry can be taken off the case.
    services.case_subjects.remove(org_a.handler, second, live[0].entry_id)
    services.session.commit()
    assert [s.name for s in services.case_subjects.list(org_a.handler, second)] == [WITNESS]


def test_holds_on_cases_block_erasure_until_the_compliance_team_has_checked_them(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    named_in, other = file_report(org_a).case_id, file_report(org_a).case_id
    name(services, org_a.handler, named_in)
    reference = services.cases.summary(org_a.handler, other).reference
    hold = services.retention.place_hold(org_a.tenant.id, reference, "Matter 9", CLI)
    services.session.commit()
    person_id = person_id_of(services, EMAIL)
    # The server cannot tell which cases name the person: any held case blocks, with its reference.
    with pytest.raises(ErasureBlocked) as blocked:
        services.person_eraser.erase(person_id, CLI)
    assert f"case {reference} is under legal hold (Matter 9) and may name this person" in str(blocked.value)
    assert "--held-cases-checked" in str(blocked.value)
    services.person_eraser.erase(person_id, CLI, held_cases_checked=True)
    services.session.commit()
    [event] = services.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "person.erased")).scalars()
    assert event.detail == "links=0 held-cases-checked"
    # A hold on the whole organisation blocks whatever anyone confirms.
    services.retention.release_hold(hold.id, org_a.tenant.id, CLI)
    services.retention.place_hold(org_a.tenant.id, None, "Regulator 3", CLI)
    name(services, org_a.handler, named_in, "New", "new@example.com", None)
    with pytest.raises(ErasureBlocked, match=r"organisation is under legal hold \(Regulator 3\)"):
        services.person_eraser.erase(person_id_of(services, "new@example.com"), CLI, held_cases_checked=True)


# --- persons named before this version ----------------------------------------------------------
def name_the_old_way(services: Services, org: Org, case_id: uuid.UUID, details: PersonDetails, role: str) -> Person:
    """As the appliance stored a person named in a case before: identity under the person's key,
    a link with the case's id in clear, the role under the case's key."""
    _case, cipher = services.cases.opened(org.handler, case_id)
    person = services.persons.record(org.tenant.id, details, CLI)
    link_id = uuid.uuid4()
    services.persons.link(person, "case_subject", "case", case_id, CLI,
                          detail=cipher.seal(role, Place("person_links", "detail", link_id)), link_id=link_id)
    services.session.commit()
    return person


def test_persons_named_the_old_way_are_sealed_to_the_case_when_a_handler_opens_it(
        services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock) -> None:
    first, second = file_report(org_a).case_id, file_report(org_a).case_id
    clock.advance(minutes=7)
    person = name_the_old_way(services, org_a, first, PersonDetails(NAME, EMAIL, NATIONAL_ID), "concerned")
    name_the_old_way(services, org_a, second, PersonDetails(None, EMAIL, None), "witness")
    assert unconverted_cases(services.session) == {org_a.tenant.id: 2}
    assert services.persons.name_of(person, CLI) == NAME  # readable with server-held keys: the finding

    [subject] = services.case_subjects.list(org_a.handler, first)
    services.session.commit()
    assert (subject.name, subject.identifiers, subject.role) == (
        NAME, {"email": EMAIL, "national_id": NATIONAL_ID}, "concerned")
    links = services.session.execute(sa.select(PersonLink.object_id)).scalars().all()
    assert str(first) not in links and str(second) in links
    services.session.refresh(person)
    assert person.name_sealed is not None  # the second case still needs it until it is converted

    [subject] = services.case_subjects.list(org_a.handler, second)
    services.session.commit()
    assert subject.role == "witness" and subject.name == NAME  # what that case's page showed before
    assert unconverted_cases(services.session) == {}
    assert services.session.execute(sa.select(PersonLink).where(PersonLink.person_id == person.id)).first() is None
    services.session.refresh(person)
    assert person.name_sealed is None and person.created_at.time() == dt.time(0)
    assert all(r.value_sealed is None for r in services.session.execute(sa.select(PersonIdentifier).where(
        PersonIdentifier.person_id == person.id)).scalars())
    events = services.session.execute(sa.select(AuditEvent.action, AuditEvent.object_id, AuditEvent.detail).where(
        AuditEvent.action == "case.subjects_sealed")).all()
    assert sorted(tuple(e) for e in events) == sorted([("case.subjects_sealed", str(first), "entries=1"),
                                                       ("case.subjects_sealed", str(second), "entries=1")])
    # The identity survives only in the cases now: erasure still reaches it.
    services.person_eraser.erase(person.id, CLI)
    services.session.commit()
    assert [s.erased for s in services.case_subjects.list(org_a.handler, first)] == [True]


# --- retention and the escrow key -----------------------------------------------------------------
def test_retention_deletes_the_entries_and_the_escrow_key_deletes_persons_no_case_names(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock) -> None:
    escrow_text = install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler, PASSPHRASE)
    services.session.commit()
    deleted, kept = file_report(org_a).case_id, file_report(org_a).case_id
    name(services, org_a.handler, deleted)
    name(services, org_a.handler, deleted, WITNESS, WITNESS_EMAIL, None, "witness")
    name(services, org_a.handler, kept, None, WITNESS_EMAIL, None, "concerned")
    old_way = name_the_old_way(services, org_a, kept, PersonDetails("Old", "old@example.com", None), "other")
    only_there, elsewhere = person_id_of(services, EMAIL), person_id_of(services, WITNESS_EMAIL)

    services.retention.delete_case(deleted, "closed", CLI)
    services.session.commit()
    assert services.session.execute(sa.select(CaseSubjectEntry).where(CaseSubjectEntry.case_id == deleted)).first() \
        is None
    # The server cannot tell the person named only there: the record stays, holding nothing readable.
    assert services.session.get(Person, only_there) is not None

    unlocked = services.case_key_pairs.unlock_escrow(org_a.tenant, escrow_text, PASSPHRASE, CLI)
    reconciler = services.person_reconciler
    assert reconciler.cases_to_convert(org_a.tenant.id) == [kept]
    converted = reconciler.convert(org_a.tenant, unlocked.key.id, unlocked.private_key, [kept], CLI)
    assert (converted.opened, converted.converted, converted.locked) == (1, 1, [])
    swept = reconciler.sweep(org_a.tenant, unlocked.key.id, unlocked.private_key, CLI)
    services.session.commit()
    assert swept.deleted == {only_there} and swept.unreadable == []
    ctx.vault.delete(swept.deleted)
    assert services.session.get(Person, only_there) is None and only_there not in ctx.vault.person_ids()
    assert {elsewhere, old_way.id} <= ctx.vault.person_ids()
    assert services.persons.find(PersonDetails(email=EMAIL)) == []
    assert sorted((s.name or "", s.role) for s in services.case_subjects.list(org_a.handler, kept)) == [
        ("", "concerned"), ("Old", "other")]
    # A handler taking someone off the case leaves their record to the next sweep.
    for subject in services.case_subjects.list(org_a.handler, kept):
        services.case_subjects.remove(org_a.handler, kept, subject.entry_id)
    swept = reconciler.sweep(org_a.tenant, unlocked.key.id, unlocked.private_key, CLI)
    assert swept.deleted == {elsewhere, old_way.id}
    services.session.commit()
    events = services.session.execute(sa.select(AuditEvent.action, AuditEvent.detail).where(
        AuditEvent.action.in_(("person.swept", "case_key_pair.unsealed")))).all()
    assert ("person.swept", "persons=1") in [tuple(e) for e in events]
    assert ("case_key_pair.unsealed", "escrow") in [tuple(e) for e in events]


def test_a_case_the_escrow_key_cannot_open_stops_the_sweep(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    before_escrow = file_report(org_a).case_id  # no escrow copy: sealed before the key existed
    name(services, org_a.handler, before_escrow)
    escrow_text = install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler, PASSPHRASE)
    services.session.commit()
    gone = file_report(org_a).case_id
    name(services, org_a.handler, gone, WITNESS, WITNESS_EMAIL, None, "witness")
    services.retention.delete_case(gone, "closed", CLI)
    unlocked = services.case_key_pairs.unlock_escrow(org_a.tenant, escrow_text, PASSPHRASE, CLI)
    swept = services.person_reconciler.sweep(org_a.tenant, unlocked.key.id, unlocked.private_key, CLI)
    assert swept.deleted == set() and swept.unreadable == [services.cases.summary(org_a.handler, before_escrow).reference]
    assert services.persons.find(PersonDetails(email=WITNESS_EMAIL))  # kept: nothing proves no case names them
