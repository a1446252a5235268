"""MAR registers through their services, on both databases: acknowledgement links (single use,
expiry, tenant-bound, reminders), delayed-disclosure versions and exports, the PDMR register and
the financial calendar with its closed-period notices."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import uuid
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
import sqlalchemy as sa

from appliance.acknowledgements.mails import MAX_REMINDERS, AcknowledgementMails
from appliance.acknowledgements.models import AcknowledgementLink
from appliance.acknowledgements.notices import PDMR_OBLIGATIONS, default_notice
from appliance.acknowledgements.service import LinkRefused
from appliance.actors import CLI, Role
from appliance.disclosures.export import history_csv, history_pdf
from appliance.disclosures.service import DisclosureInput
from appliance.errors import Conflict, ErasureBlocked, InvalidInput, NotFound
from appliance.insiders.records import InsiderDetails
from appliance.notify.mailer import Mailer
from appliance.pdmr.notices import ClosedPeriodNotices
from appliance.services import Services
from tests.functional.conftest import Inbox, Org, StaffFactory
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session
T0 = dt.datetime(2026, 2, 20, 8, 0, tzinfo=dt.UTC)


def mailer(inbox: tuple[Inbox, int]) -> Mailer:
    return Mailer(f"smtp://127.0.0.1:{inbox[1]}", "appliance@example.org")


def mails(services: Services, inbox: tuple[Inbox, int]) -> AcknowledgementMails:
    return AcknowledgementMails(services.session, services.acknowledgements, services.persons, services.users,
                                mailer(inbox), services.ctx.clock, "https://appliance.example")


def code_in(message: bytes) -> str:
    body = message_from_bytes(message).get_payload(decode=True).decode()  # type: ignore[union-attr]
    return next(line.rsplit(": ", 1)[1] for line in body.splitlines() if ": " in line and "-" in line.rsplit(": ", 1)[1])


def disclosure(**changes: object) -> DisclosureInput:
    base = DisclosureInput(
        subject="Takeover talks with a competitor", first_existed_at=T0, decided_at=T0 + dt.timedelta(hours=2),
        planned_disclosure_at=T0 + dt.timedelta(days=30), conditions_met="Disclosure would prejudice the talks.",
        monitoring="Daily check of press and price.", confidentiality="Project room; insider list section.",
        disclosure_arrangements="Holding statement ready.",
        persons={"decision": ("Anna Andersson", "Bo Berg"), "monitoring": ("Cecilia Carlsson",)})
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --- acknowledgement links --------------------------------------------------------------

def test_a_code_works_once_and_only_in_its_tenant(services: Services, org_a: Org, org_b: Org) -> None:
    entry = services.pdmrs.add(org_a.tenant.id, "Dana Dahl", "dana@example.org", "CFO", CLI)
    link = services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "sv", CLI)
    issued = services.acknowledgements.issue(org_a.tenant.id, link.id, CLI)
    assert issued.code not in repr(issued)
    row = services.session.get_one(AcknowledgementLink, link.id)
    assert issued.code.encode() not in b"".join(v for v in row.__dict__.values() if isinstance(v, bytes))
    with pytest.raises(LinkRefused):
        services.acknowledgements.open(org_b.tenant.id, issued.code)  # another tenant's page
    pending = services.acknowledgements.open(org_a.tenant.id, issued.code.lower().replace("-", " "))
    assert pending.notice == default_notice(PDMR_OBLIGATIONS, "sv")
    confirmed = services.acknowledgements.confirm(org_a.tenant.id, issued.code, CLI)
    assert confirmed.confirmed_at == services.ctx.clock()
    for again in (issued.code, "", "x" * 500, "0000-0000-0000-0000-0000"):
        with pytest.raises(LinkRefused):
            services.acknowledgements.confirm(org_a.tenant.id, again, CLI)
    with pytest.raises(Conflict):
        services.acknowledgements.issue(org_a.tenant.id, link.id, CLI)
    with pytest.raises(NotFound):
        services.acknowledgements.get(org_b.tenant.id, link.id)


def test_an_expired_or_superseded_code_is_refused(services: Services, org_a: Org, clock: FrozenClock) -> None:
    entry = services.pdmrs.add(org_a.tenant.id, "Erik Ek", "erik@example.org", "CEO", CLI)
    link = services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "en", CLI)
    first = services.acknowledgements.issue(org_a.tenant.id, link.id, CLI)
    second = services.acknowledgements.issue(org_a.tenant.id, link.id, CLI)
    with pytest.raises(LinkRefused):
        services.acknowledgements.open(org_a.tenant.id, first.code)
    clock.advance(days=7)
    with pytest.raises(LinkRefused):
        services.acknowledgements.confirm(org_a.tenant.id, second.code, CLI)
    assert services.acknowledgements.get(org_a.tenant.id, link.id).state(clock()) == "expired"


def test_reminders_stop_after_three_and_the_managers_are_told(services: Services, org_a: Org, clock: FrozenClock,
                                                               make_staff: StaffFactory,
                                                               inbox: tuple[Inbox, int]) -> None:
    received, _port = inbox
    make_staff((org_a.tenant, Role.INSIDER_MANAGER), email="legal@alpha.example")
    entry = services.pdmrs.add(org_a.tenant.id, "Fia Fors", "fia@example.org", "Board member", CLI)
    services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "en", CLI)
    job = mails(services, inbox)
    assert job.deliver() == 1 and job.deliver() == 0
    codes = [code_in(received.messages[0])]
    for _day in range(6):
        clock.advance(days=1)
        job.remind()
    reminders = [m for m in received.messages[1:] if b"Reminder" in m]
    assert len(reminders) == MAX_REMINDERS
    codes += [code_in(m) for m in reminders]
    assert len(set(codes)) == 4, "each reminder carries a new code"
    for old in codes[:-1]:
        with pytest.raises(LinkRefused):
            services.acknowledgements.open(org_a.tenant.id, old)
    assert not [m for m in received.messages if b"legal@alpha.example" in m]
    clock.advance(days=1)  # expired, never confirmed
    assert job.remind().managers_told == 1
    assert job.remind().managers_told == 0, "told once"
    told = [m for m in received.messages if message_from_bytes(m)["To"] == "legal@alpha.example"]
    assert len(told) == 1 and b"Fia" not in told[0] and b"fia@" not in told[0]


def test_the_notice_text_is_the_tenants_own_or_the_default(services: Services, org_a: Org, org_b: Org) -> None:
    acks = services.acknowledgements
    acks.set_notice(org_a.tenant.id, PDMR_OBLIGATIONS, "en", "Our own wording.", CLI)
    assert acks.notice(org_a.tenant.id, PDMR_OBLIGATIONS, "en") == "Our own wording."
    assert acks.notice(org_b.tenant.id, PDMR_OBLIGATIONS, "en") == default_notice(PDMR_OBLIGATIONS, "en")
    acks.set_notice(org_a.tenant.id, PDMR_OBLIGATIONS, "en", "  ", CLI)
    assert acks.is_default(org_a.tenant.id, PDMR_OBLIGATIONS, "en")
    for purpose, language, text in (("x", "en", "t"), (PDMR_OBLIGATIONS, "fr", "t"),
                                    (PDMR_OBLIGATIONS, "en", "a\x00b"), (PDMR_OBLIGATIONS, "en", "x" * 20_001)):
        with pytest.raises(InvalidInput):
            acks.set_notice(org_a.tenant.id, purpose, language, text, CLI)


# --- delayed disclosures ----------------------------------------------------------------

def test_a_change_is_a_new_version_and_the_old_one_stays(services: Services, org_a: Org, org_b: Org,
                                                         clock: FrozenClock) -> None:
    first = services.disclosures.record(org_a.tenant.id, disclosure(), CLI)
    recorded_at = clock()
    clock.advance(days=3)
    second = services.disclosures.amend(org_a.tenant.id, first.disclosure_id, disclosure(
        disclosed_at=clock(), change_note="Leak risk: disclosed.",
        persons={"decision": ("Anna Andersson",), "monitoring": ("Cecilia Carlsson", "Dag Dahl")}), CLI)
    history = services.disclosures.history(org_a.tenant.id, first.disclosure_id, CLI)
    assert [(v.version, v.recorded_at) for v in history] == [(1, recorded_at), (2, clock())]
    assert history[0].moments["disclosed_at"] is None and history[1].moments["disclosed_at"] == clock()
    assert history[0].persons["decision"] == ("Anna Andersson", "Bo Berg")
    assert history[1].persons["monitoring"] == ("Cecilia Carlsson", "Dag Dahl")
    assert second.texts["change_note"] == "Leak risk: disclosed." and history[0].texts["change_note"] == ""
    assert [r.reference for r in services.disclosures.records(org_a.tenant.id)] == ["DD-1"]
    assert services.disclosures.records(org_b.tenant.id) == []
    with pytest.raises(NotFound):
        services.disclosures.history(org_b.tenant.id, first.disclosure_id, CLI)
    with pytest.raises(NotFound):
        services.disclosures.amend(org_b.tenant.id, first.disclosure_id, disclosure(), CLI)


@pytest.mark.parametrize("change", [
    {"subject": " "}, {"decided_at": None}, {"conditions_met": "x" * 10_001}, {"monitoring": "a\x07b"},
    {"persons": {"decision": ("A",)}}, {"persons": {"decision": ("A",), "monitoring": ("B",), "other": ("C",)}},
    {"decided_at": T0 - dt.timedelta(days=1)}, {"planned_disclosure_at": dt.datetime(2026, 3, 1)}])
def test_incomplete_or_malformed_records_are_refused(services: Services, org_a: Org, change: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        services.disclosures.record(org_a.tenant.id, disclosure(**change), CLI)


def test_the_persons_named_cannot_be_erased_while_the_record_is_kept(services: Services, org_a: Org) -> None:
    services.disclosures.record(org_a.tenant.id, disclosure(persons={"decision": ("Gun Gren",),
                                                                      "monitoring": ("Gun Gren",)}), CLI)
    links = services.session.execute(sa.text("SELECT person_id FROM person_links WHERE kind = 'disclosure'")).all()
    assert len(links) == 1, "one person for one name"
    with pytest.raises(ErasureBlocked):
        services.person_eraser.erase(uuid.UUID(str(links[0][0])), CLI)


def test_exports_hold_every_version_with_the_fields_of_article_4_3(services: Services, org_a: Org,
                                                                   clock: FrozenClock) -> None:
    first = services.disclosures.record(org_a.tenant.id, disclosure(subject="=HYPERLINK(1)"), CLI)
    clock.advance(hours=5)
    services.disclosures.amend(org_a.tenant.id, first.disclosure_id, disclosure(change_note="Planned date moved"), CLI)
    history = services.disclosures.history(org_a.tenant.id, first.disclosure_id, CLI)
    rows = list(csv.reader(io.StringIO(history_csv(history).decode("utf-8-sig"))))
    header, *versions = rows
    assert len(versions) == 2 and header[:3] == ["Record", "Version", "Version recorded at"]
    assert "Decision to delay" in header and "Responsible for monitoring the conditions" in header
    assert versions[0][header.index("Responsible for deciding the delay and its likely end")] == "Anna Andersson; Bo Berg"
    assert versions[1][header.index("What changed in this version")] == "Planned date moved"
    assert versions[0][header.index("Inside information (description)")] == "'=HYPERLINK(1)"
    pdf = history_pdf(history, "Alpha AB", clock())
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1000


# --- PDMRs and the financial calendar ---------------------------------------------------

def test_pdmrs_and_associates_are_registered_per_tenant(services: Services, org_a: Org, org_b: Org) -> None:
    pdmr = services.pdmrs.add(org_a.tenant.id, "Hugo Holm", "hugo@example.org", "CEO", CLI)
    spouse = services.pdmrs.add(org_a.tenant.id, "Ida Holm", "ida@example.org", "Spouse", CLI, associate_of=pdmr.id)
    entries = services.pdmrs.entries(org_a.tenant.id, CLI)
    assert [(e.name, e.email, e.detail, e.kind) for e in entries] == [
        ("Hugo Holm", "hugo@example.org", "CEO", "pdmr"), ("Ida Holm", "ida@example.org", "Spouse", "associate")]
    assert entries[1].associate_of == pdmr.id
    assert services.pdmrs.entries(org_b.tenant.id, CLI) == []
    with pytest.raises(Conflict):
        services.pdmrs.add(org_a.tenant.id, "Hugo H.", "HUGO@example.org", "", CLI)
    with pytest.raises(InvalidInput):
        services.pdmrs.add(org_a.tenant.id, "X", "x@example.org", "", CLI, associate_of=spouse.id)
    with pytest.raises(NotFound):
        services.pdmrs.add(org_b.tenant.id, "X", "x@example.org", "", CLI, associate_of=pdmr.id)
    with pytest.raises(NotFound):
        services.pdmrs.notify_obligations(org_b.tenant.id, pdmr.id, "en", CLI)
    services.pdmrs.remove(org_a.tenant.id, pdmr.id, CLI)
    assert [e.name for e in services.pdmrs.entries(org_a.tenant.id, CLI)] == ["Ida Holm"]


def test_each_pdmr_is_told_once_before_a_closed_period(services: Services, org_a: Org, org_b: Org,
                                                       clock: FrozenClock, inbox: tuple[Inbox, int]) -> None:
    received, _port = inbox
    services.pdmrs.add(org_a.tenant.id, "Jon Jarl", "jon@example.org", "CFO", CLI)
    pdmr = services.pdmrs.add(org_a.tenant.id, "Kim Kvist", "kim@example.org", "COO", CLI)
    services.pdmrs.add(org_a.tenant.id, "Lo Kvist", "lo@example.org", "Partner", CLI, associate_of=pdmr.id)
    services.pdmrs.add(org_b.tenant.id, "Max Mo", "max@example.org", "CEO", CLI)
    announce_on = clock().date() + dt.timedelta(days=40)
    services.financial_calendar.add(org_a.tenant.id, "interim", announce_on, "Q1 2026", CLI)
    job = ClosedPeriodNotices(services.session, services.financial_calendar, services.pdmrs, mailer(inbox), clock)
    assert job.send() == 0  # 40 days ahead: the period starts in 10, the notice goes 7 days before it
    clock.advance(days=3)
    assert job.send() == 2 and job.send() == 0
    assert received.recipients() == ["jon@example.org", "kim@example.org"]
    assert services.financial_calendar.current_closed_periods(org_a.tenant.id) == []
    clock.advance(days=7)
    assert [a.label for a in services.financial_calendar.current_closed_periods(org_a.tenant.id)] == ["Q1 2026"]
    with pytest.raises(InvalidInput):
        services.financial_calendar.add(org_a.tenant.id, "interim", clock().date() - dt.timedelta(days=1), "old", CLI)
    with pytest.raises(InvalidInput):
        services.financial_calendar.add(org_a.tenant.id, "quarterly", announce_on, "Q", CLI)


def test_a_link_sent_again_replaces_the_one_before(services: Services, org_a: Org, clock: FrozenClock) -> None:
    """A re-sent notice or self-service link withdraws the older one of the same insider and purpose:
    its code is refused exactly like a used one (the same error, the same words)."""
    acks = services.acknowledgements
    entry = services.pdmrs.add(org_a.tenant.id, "Nils Nord", "nils@example.org", "CFO", CLI)
    used = acks.issue(org_a.tenant.id, services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "en", CLI).id,
                      CLI)
    acks.confirm(org_a.tenant.id, used.code, CLI)
    with pytest.raises(LinkRefused) as spent:
        acks.open(org_a.tenant.id, used.code)
    first = services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "en", CLI)
    old = acks.issue(org_a.tenant.id, first.id, CLI)
    second = services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "sv", CLI)
    for attempt in (lambda: acks.open(org_a.tenant.id, old.code), lambda: acks.confirm(org_a.tenant.id, old.code, CLI)):
        with pytest.raises(LinkRefused) as replaced:
            attempt()
        assert (type(replaced.value), str(replaced.value)) == (type(spent.value), str(spent.value))
    assert acks.get(org_a.tenant.id, first.id).state(clock()) == "withdrawn"
    assert acks.get(org_a.tenant.id, used.link.id).state(clock()) == "confirmed", "a confirmed link stays confirmed"
    new = acks.issue(org_a.tenant.id, second.id, CLI)
    assert acks.confirm(org_a.tenant.id, new.code, CLI).confirmed_at is not None
    with pytest.raises(Conflict):
        acks.issue(org_a.tenant.id, first.id, CLI)  # the replaced link cannot be revived


def test_a_self_service_link_sent_again_replaces_the_one_before(services: Services, org_a: Org,
                                                                 clock: FrozenClock) -> None:
    clock.now = dt.datetime(2026, 9, 2, 8, 0, tzinfo=dt.UTC)
    lists, links = services.insider_lists, services.insider_links
    section = lists.create_section(org_a.tenant.id, "Falcon", "", clock() - dt.timedelta(hours=1), CLI)
    insider = lists.add_insider(org_a.tenant.id, section, InsiderDetails(first_name="Olle", surname="Ost",
                                                                         email="olle@example.org"),
                                clock() - dt.timedelta(hours=1), CLI)
    other = lists.add_insider(org_a.tenant.id, section, InsiderDetails(first_name="Pia", surname="Pil"),
                              clock() - dt.timedelta(hours=1), CLI)
    first = services.acknowledgements.issue(org_a.tenant.id, links.request_details(org_a.tenant.id, insider, "en",
                                                                                   CLI).id, CLI)
    notice = services.acknowledgements.issue(org_a.tenant.id, links.notify_obligations(org_a.tenant.id, insider,
                                                                                       "en", CLI).id, CLI)
    elsewhere = services.acknowledgements.issue(org_a.tenant.id, links.request_details(org_a.tenant.id, other, "en",
                                                                                       CLI).id, CLI)
    links.request_details(org_a.tenant.id, insider, "sv", CLI)
    with pytest.raises(LinkRefused):
        links.open_details(org_a.tenant.id, first.code, "client")
    # Another purpose and another insider keep their links.
    assert services.acknowledgements.open(org_a.tenant.id, notice.code).link.id == notice.link.id
    assert links.open_details(org_a.tenant.id, elsewhere.code, "client").link.id == elsewhere.link.id


def test_the_mar_mails_are_in_the_recipients_language(services: Services, org_a: Org, clock: FrozenClock,
                                                      make_staff: StaffFactory, inbox: tuple[Inbox, int]) -> None:
    """Swedish for a PDMR whose notification went in Swedish (the code mail, the closed-period notice),
    the installation's language for the managers and for a PDMR never notified."""
    received, _port = inbox
    make_staff((org_a.tenant, Role.INSIDER_MANAGER), email="legal@alpha.example")
    swede = services.pdmrs.add(org_a.tenant.id, "Rut Ros", "rut@example.org", "CFO", CLI)
    services.pdmrs.add(org_a.tenant.id, "Sam Sand", "sam@example.org", "CEO", CLI)
    services.pdmrs.notify_obligations(org_a.tenant.id, swede.id, "sv", CLI)
    job = AcknowledgementMails(services.session, services.acknowledgements, services.persons, services.users,
                               mailer(inbox), clock, "https://appliance.example", "sv")
    assert job.deliver() == 1
    code_mail = message_from_bytes(received.messages[-1])
    body = code_mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert code_mail["Subject"] and "Bekräfta att du har läst" in str(make_header(decode_header(code_mail["Subject"])))
    assert "ange den här koden" in body and "https://appliance.example/r/" in body
    services.financial_calendar.add(org_a.tenant.id, "interim", clock().date() + dt.timedelta(days=37), "Q1", CLI)
    assert ClosedPeriodNotices(services.session, services.financial_calendar, services.pdmrs, mailer(inbox),
                               clock).send() == 2
    notices = {message_from_bytes(m)["To"]: message_from_bytes(m) for m in received.messages[-2:]}
    swedish = notices["rut@example.org"].get_payload(decode=True).decode()  # type: ignore[union-attr]
    english = notices["sam@example.org"].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Stängd period (artikel 19.11 MAR)" in swedish and "Delårsrapport, Q1" in swedish
    assert "Closed period (MAR Art. 19(11))" in english and "Interim report, Q1" in english
    assert "Stängd" not in english and "Closed period (MAR" not in swedish
    clock.advance(days=8)  # the link expired unconfirmed: the managers are told, in Swedish here
    job.remind()
    told = [message_from_bytes(m) for m in received.messages if message_from_bytes(m)["To"] == "legal@alpha.example"]
    assert len(told) == 1
    told_body = told[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "löpte ut" in told_body and "Rut" not in told_body and "rut@" not in told_body
