"""The person chain on both databases: one person per identifier, found by blind index,
exported with every linked record, and erased so that no earlier copy of the database can
decrypt them again. Persons named in cases are sealed to them: tests/functional/test_persons_sealed.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.context import AppContext, build_context
from appliance.crypto.fields import Place
from appliance.errors import DecryptionFailed, ErasureBlocked, InvalidInput, NotFound, PersonConflict
from appliance.persons.chain import forget_object, sweep_vault
from appliance.persons.models import Person, PersonIdentifier, PersonLink
from appliance.persons.service import PersonDetails, clean_details
from appliance.retention.models import LegalHold
from appliance.services import Services
from appliance.users.models import Membership, User
from tests.functional.conftest import STAFF_PASSWORD, Org, ReaderFactory, ReportFactory, StaffFactory, copy_database
from tests.support import FrozenClock, pg_drop

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

MARKER = "Zq7-PERSON-MARKER"
EMAIL = "Kim.Larsson@Example.COM"


def name_in_case(services: Services, org: Org, case_id: uuid.UUID, name: str | None = f"Kim {MARKER}",
                 email: str | None = EMAIL, national_id: str | None = None, role: str = "concerned") -> uuid.UUID:
    entry_id = services.case_subjects.add(org.handler, case_id, clean_details(name, email, national_id), role)
    services.session.commit()
    return entry_id


def test_a_staff_account_is_a_person_whose_key_seals_its_address(services: Services, make_staff: StaffFactory,
                                                                 org_a: Org) -> None:
    officer = make_staff((org_a.tenant, Role.ADMIN), email="officer@example.com")
    user = services.users.get(officer.user_id)
    assert user.person_id is not None
    assert services.users.email_of(user) == "officer@example.com"
    [match] = services.persons.find(PersonDetails(email="OFFICER@example.com "))
    assert match.tenant is None and match.staff_user_id == user.id and match.identifiers == ("email",)
    assert [(link.kind, link.object_ids) for link in match.links] == [("staff_user", (str(user.id),))]


def test_the_same_identifier_finds_the_same_person_in_every_case_of_a_tenant(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory) -> None:
    first, second = file_report(org_a), file_report(org_a)
    name_in_case(services, org_a, first.case_id, national_id="19800101-1234")
    name_in_case(services, org_a, second.case_id, name="K. Larsson", email="kim.larsson@example.com", role="witness")
    other = file_report(org_b)
    name_in_case(services, org_b, other.case_id, email=EMAIL)  # another tenant: another person

    matches = services.persons.find(PersonDetails(email="kim.larsson@example.com"))
    assert sorted(m.tenant or "" for m in matches) == ["alpha", "beta"]
    alpha = next(m for m in matches if m.tenant == "alpha")
    assert alpha.identifiers == ("email", "national_id")
    # Which cases name them is sealed to the cases: nothing here says it.
    assert alpha.links == () and alpha.named_in_cases
    assert [m.person_id for m in services.persons.find(PersonDetails(national_id="198001011234"))] == [alpha.person_id]

    # Each case shows what was typed in it, not what another case recorded about the person.
    [subject] = services.case_subjects.list(org_a.handler, second.case_id)
    assert subject.name == "K. Larsson" and subject.role == "witness"
    assert subject.identifiers == {"email": "kim.larsson@example.com"}
    [subject] = services.case_subjects.list(org_a.handler, first.case_id)
    assert subject.name == f"Kim {MARKER}" and subject.role == "concerned"
    assert subject.identifiers == {"email": "kim.larsson@example.com", "national_id": "198001011234"}


def test_case_subjects_need_access_to_the_case(services: Services, org_a: Org, org_b: Org,
                                              file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    with pytest.raises(NotFound):
        services.case_subjects.add(org_b.handler, receipt.case_id, clean_details("X", None, None), "other")
    entry_id = name_in_case(services, org_a, receipt.case_id)
    with pytest.raises(NotFound):
        services.case_subjects.list(org_b.handler, receipt.case_id)
    with pytest.raises(NotFound):
        services.case_subjects.remove(org_b.handler, receipt.case_id, entry_id)
    other_case = file_report(org_a)
    with pytest.raises(NotFound):  # an entry of another case, through a case the handler may open
        services.case_subjects.remove(org_a.handler, other_case.case_id, entry_id)


@pytest.mark.parametrize(("name", "email", "national_id", "field"), [
    ("x" * 201, None, None, "name"), ("bad\x00name", None, None, "name"), (None, "not-an-address", None, "email"),
    (None, "a@b.c" + "c" * 260, None, "email"), (None, None, "12<script>", "national_id"), (None, None, None, "name"),
])
def test_bad_person_details_are_refused_with_the_field(services: Services, org_a: Org, file_report: ReportFactory,
                                                      name: str | None, email: str | None, national_id: str | None,
                                                      field: str) -> None:
    receipt = file_report(org_a)
    with pytest.raises(InvalidInput) as caught:
        services.case_subjects.add(org_a.handler, receipt.case_id, clean_details(name, email, national_id), "other")
    assert caught.value.field == field
    with pytest.raises(InvalidInput):
        services.case_subjects.add(org_a.handler, receipt.case_id, clean_details("Ok", None, None), "boss")


def test_two_identifiers_of_two_persons_are_no_conflict_for_a_case(services: Services, org_a: Org,
                                                                   file_report: ReportFactory) -> None:
    """Refusing would tell the handler that both are recorded, maybe in cases sealed away from
    them: the entry refers to both persons instead (erasing either shreds it)."""
    receipt = file_report(org_a)
    name_in_case(services, org_a, receipt.case_id, email="one@example.com")
    name_in_case(services, org_a, receipt.case_id, name="Two", email=None, national_id="ABC123")
    other = file_report(org_a).case_id
    name_in_case(services, org_a, other, "Both", "one@example.com", "ABC123", "other")
    [both] = services.case_subjects.list(org_a.handler, other)
    assert both.identifiers == {"email": "one@example.com", "national_id": "ABC123"}
    assert len({m.person_id for m in [*services.persons.find(PersonDetails(email="one@example.com")),
                                      *services.persons.find(PersonDetails(national_id="ABC123"))]}) == 2
    # The chain itself (staff accounts: one person per address) still refuses two persons at once.
    with pytest.raises(PersonConflict):
        services.persons.record(org_a.tenant.id, PersonDetails(None, "one@example.com", "ABC123"), CLI)


def test_export_holds_what_the_chain_holds_and_says_the_cases_are_sealed(
        services: Services, make_staff: StaffFactory, org_a: Org, file_report: ReportFactory) -> None:
    first, second = file_report(org_a), file_report(org_a)
    name_in_case(services, org_a, first.case_id, national_id="ABC123")
    name_in_case(services, org_a, second.case_id, email=None, national_id="ABC123", role="witness")
    [match] = services.persons.find(PersonDetails(national_id="abc-123"))
    document = services.person_export.export(match.person_id, CLI)
    # A person named in cases: only blind indexes on the chain, and no case named.
    assert document["person"]["name"] is None and document["person"]["scope"] == "alpha"
    assert document["person"]["identifiers"] == {}
    assert document["person"]["indexed_identifiers"] == ["email", "national_id"]
    assert document["records"] == [] and "compliance team" in document["named_in_cases"]
    for case_id in (first.case_id, second.case_id):
        assert str(case_id) not in str(document) and _reference(services, case_id) not in str(document)

    officer = make_staff((org_a.tenant, Role.HANDLER), (org_a.tenant, Role.ADMIN), email="officer@example.com")
    [staff] = services.persons.find(PersonDetails(email="officer@example.com"))
    exported = services.person_export.export(staff.person_id, CLI)
    account = exported["records"][0]["account"]
    assert account["email"] == "officer@example.com" and account["roles"] == [
        {"tenant": "alpha", "role": "admin"}, {"tenant": "alpha", "role": "handler"}]
    assert exported["person"]["identifiers"] == {"email": "officer@example.com"} and exported["named_in_cases"] is None
    assert officer.user_id == staff.staff_user_id
    services.session.commit()
    details = services.session.execute(sa.text("SELECT action, detail FROM audit_events")).all()
    assert ("person.exported", "records=0") in [tuple(row) for row in details]
    assert not any(MARKER in str(row) or "ABC123" in str(row) or "kim." in str(row) for row in details)


def _reference(services: Services, case_id: uuid.UUID) -> str:
    from appliance.cases.models import Case

    case = services.session.get(Case, case_id)
    assert case is not None
    return case.reference


def test_erasure_deletes_every_link_and_destroys_the_key(services: Services, org_a: Org,
                                                        file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    name_in_case(services, org_a, receipt.case_id, national_id="ABC123")
    [match] = services.persons.find(PersonDetails(email=EMAIL))
    plan = services.person_eraser.plan(match.person_id)
    assert not plan.blocked and plan.deleted == {"identifiers": 2, "person key": 1} and plan.shreds_case_entries

    services.person_eraser.erase(match.person_id, CLI)
    services.session.commit()
    assert services.persons.find(PersonDetails(email=EMAIL)) == []
    assert services.session.get(Person, match.person_id) is None
    for model in (PersonIdentifier, PersonLink):
        assert not services.session.execute(sa.select(model).where(model.person_id == match.person_id)).first()
    assert match.person_id not in services.ctx.vault.person_ids()
    [entry] = services.case_subjects.list(org_a.handler, receipt.case_id)  # shredded, and shown as such
    assert entry.erased and entry.name is None and entry.identifiers == {} and entry.role == "concerned"
    assert services.cases.open_case(org_a.handler, receipt.case_id).report.what  # the case itself stays
    events = services.session.execute(sa.text("SELECT action, object_id, detail FROM audit_events")).all()
    assert ("person.erased", str(match.person_id), "links=0") in [tuple(e) for e in events]
    assert not any(MARKER in str(e) or "ABC123" in str(e) for e in events)


def test_holds_and_legal_retention_block_erasure_with_a_reason(services: Services, org_a: Org,
                                                              file_report: ReportFactory, clock: FrozenClock) -> None:
    receipt = file_report(org_a)
    name_in_case(services, org_a, receipt.case_id)
    [match] = services.persons.find(PersonDetails(email=EMAIL))
    hold = LegalHold(tenant_id=org_a.tenant.id, case_id=receipt.case_id, reference="Court file B 123-26",
                     placed_by="cli", placed_at=clock())
    services.session.add(hold)
    services.session.commit()
    with pytest.raises(ErasureBlocked) as caught:
        services.person_eraser.erase(match.person_id, CLI)
    assert "legal hold (Court file B 123-26)" in str(caught.value)
    assert services.persons.find(PersonDetails(email=EMAIL))  # nothing changed

    hold.case_id = None  # the whole tenant
    services.session.commit()
    assert services.person_eraser.plan(match.person_id, held_cases_checked=True).blocked
    hold.released_at = clock()
    # A record kept by law (e.g. an insider-list entry, 5 years) blocks until then.
    services.persons.link(services.persons.get(match.person_id), "insider", "insider_entry", uuid.uuid4(), CLI,
                          retain_until=clock() + dt.timedelta(days=5 * 365))
    services.session.commit()
    [reason] = services.person_eraser.plan(match.person_id).blocked
    assert "kept by law until" in reason
    clock.advance(days=5 * 366)
    assert not services.person_eraser.plan(match.person_id).blocked


def test_erasing_a_staff_member_leaves_a_pseudonymous_account(services: Services, make_reader: ReaderFactory,
                                                              org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)  # sealed to org_a.handler only (no escrow key)
    user_id = org_a.handler.user_id
    email = services.users.email_of(services.users.get(user_id))
    [match] = services.persons.find(PersonDetails(email=email))
    with pytest.raises(ErasureBlocked, match="only key copy of 1 case"):
        services.person_eraser.erase(match.person_id, CLI)

    colleague = make_reader(org_a, receives=False)
    services.cases.share(org_a.handler, receipt.case_id, colleague.user_id)
    services.session.commit()
    services.person_eraser.erase(match.person_id, CLI)
    services.session.commit()
    user = services.users.get(user_id)
    assert services.users.email_of(user) == "(erased)" and user.disabled_at is not None
    assert services.session.execute(sa.select(Membership).where(Membership.user_id == user_id)).first() is None
    with pytest.raises(NotFound):
        services.users.by_email(email)
    again, _ = services.users.create_user(email, STAFF_PASSWORD, [(org_a.tenant.id, Role.HANDLER)], CLI)
    assert again.id != user_id  # the address is free for a new account


@pytest.fixture
def database_copy(backend: str, ctx: AppContext, services: Services,
                  tmp_path: Path) -> Callable[[], AbstractContextManager[Services]]:
    """database_copy() -> a context with the services of a copy of the database as it is now
    (what a backup holds), beside the live vault, as a restore would have it."""

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
def test_a_copy_of_the_database_from_before_the_erasure_cannot_decrypt_the_person(
        services: Services, org_a: Org, make_staff: StaffFactory,
        database_copy: Callable[[], AbstractContextManager[Services]]) -> None:
    """A staff account: its address is on the chain, under the person's key. (Persons named in
    a case: test_persons_sealed.py, with the case's key in hand too.)"""
    address = f"{MARKER.lower()}@example.com"
    officer = make_staff((org_a.tenant, Role.ADMIN), email=address)
    [match] = services.persons.find(PersonDetails(email=address))
    with database_copy() as old:  # a backup taken now, restored later beside the live vault
        services.person_eraser.erase(match.person_id, CLI)
        services.session.commit()
        person = old.session.get(Person, match.person_id)
        assert person is not None  # the old copy still holds the row and its wrapped key ...
        identifier = old.session.execute(sa.select(PersonIdentifier).where(
            PersonIdentifier.person_id == person.id)).scalars().first()
        assert identifier is not None and identifier.value_sealed is not None
        with pytest.raises(DecryptionFailed):  # ... but the vault share is gone
            old.persons.cipher(person, CLI)
        assert old.persons.find(PersonDetails(email=address))  # it can still be found, never read
        with pytest.raises(DecryptionFailed):
            old.users.email_of(old.users.get(officer.user_id))
        assert not any(match.person_id == i for i in old.ctx.vault.person_ids())


@pytest.mark.fresh_database
def test_retention_keeps_the_person_record_and_the_sweep_shreds_orphaned_shares(
        services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock) -> None:
    first, second = file_report(org_a), file_report(org_a)
    name_in_case(services, org_a, first.case_id)
    name_in_case(services, org_a, second.case_id, name="Only here", email="only@example.com")
    only = services.persons.find(PersonDetails(email="only@example.com"))[0].person_id
    services.retention.delete_case(second.case_id, "closed", CLI)
    services.session.commit()
    # The server cannot tell who was named only there (`person reconcile` can, with the escrow key).
    assert services.session.get(Person, only) is not None and only in services.ctx.vault.person_ids()
    assert forget_object(services.session, "case", first.case_id) == 0  # links are from before case-sealed entries

    # The vault sweep takes the shares of persons gone from the database, never a young one.
    stamped = clock().replace(hour=0, minute=0, second=0, microsecond=0)  # as a share of a named person is
    services.ctx.vault.new_share(uuid.uuid4(), stamped)  # a write that failed after its share was stored
    assert sweep_vault(services.session, services.ctx.vault, stamped) == 0
    assert sweep_vault(services.session, services.ctx.vault, stamped + dt.timedelta(seconds=1)) == 1
    assert only in services.ctx.vault.person_ids()


def test_accounts_from_before_the_person_chain_are_linked_once(services: Services, make_staff: StaffFactory,
                                                               org_a: Org) -> None:
    from appliance.keys.keyring import installation_cipher
    from appliance.keys.secrets import INSTALLATION_DATA

    officer = make_staff((org_a.tenant, Role.ADMIN), email="legacy@example.com")
    user = services.users.get(officer.user_id)
    person_id = user.person_id
    assert person_id is not None
    # as the account was stored before: address under the installation key, no person
    user.person_id = None
    user.email_sealed = installation_cipher(services.ctx.secret(INSTALLATION_DATA)).seal("legacy@example.com",
                                                                      Place("users", "email", user.id))
    services.session.execute(sa.delete(PersonLink).where(PersonLink.person_id == person_id))
    services.session.execute(sa.delete(PersonIdentifier).where(PersonIdentifier.person_id == person_id))
    services.session.execute(sa.delete(Person).where(Person.id == person_id))
    services.session.commit()
    assert services.users.email_of(services.users.get(officer.user_id)) == "legacy@example.com"
    linked = services.users.link_existing_to_persons(CLI)
    services.session.commit()
    assert linked >= 1 and services.users.link_existing_to_persons(CLI) == 0
    relinked = services.session.get(User, officer.user_id)
    assert relinked is not None and relinked.person_id is not None
    assert services.users.email_of(relinked) == "legacy@example.com"
