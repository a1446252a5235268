"""Keeping insider lists (MAR Art. 18): sections, insiders, their every change as a new version.

Nothing is edited in place: adding, changing, ceasing an insider and closing a section each
append a version carrying the date and time of the change that triggered it (MAR Art. 18(4)),
on the tenant's MAC chain (appliance/insiders/chain.py). Every query names the tenant; an id of
another tenant's section or entry is "not found". Never commits; the logbook gets ids, kinds
and version numbers, never a name, a code, a description or a reason.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.blind_index import BlindIndex
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.insiders import formats
from appliance.insiders.chain import VersionChain
from appliance.insiders.models import InsiderEntry, InsiderSection, InsiderVersion
from appliance.insiders.records import InsiderDetails
from appliance.insiders.retention import ENTRY_OBJECT, INSIDER_LINK, retain_until
from appliance.insiders.section_keys import SectionKeys, content_place, open_json, personal_place, seal_json
from appliance.insiders.templates import EVENT, PERMANENT
from appliance.persons.models import Person, PersonLink
from appliance.persons.service import PersonDetails, PersonService
from appliance.tenants.models import Tenant

SECTION_OBJECT = "insider_section"
# MAR Art. 18(5) and ITS 2026/1291: kept five years after the person ceased to be on the list.
RETENTION = dt.timedelta(days=5 * 365 + 1)
CLOSE_REASONS = ("disclosed", "no_longer_inside")
MAX_CODE = 80
MAX_DESCRIPTION = 2000


class InsiderLists:
    """Writes to a tenant's insider list. Reads ("as at", diffs, exports) are in history.py."""

    def __init__(self, session: Session, persons: PersonService, keys: SectionKeys, chain: VersionChain,
                 blind_index: BlindIndex, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._persons = persons
        self._keys = keys
        self._chain = chain
        self._index = blind_index
        self._logbook = logbook
        self._clock = clock

    # --- sections -------------------------------------------------------------------
    def create_section(self, tenant_id: uuid.UUID, code: str, description: str, identified_at: dt.datetime,
                       actor: Actor) -> uuid.UUID:
        """A new event-based section: a piece of inside information, identified at a UTC minute."""
        content = {"code": formats.clean_text("code", code, required=True, limit=MAX_CODE),
                   "description": formats.clean_text("description", description, limit=MAX_DESCRIPTION)}
        identified = formats.past_minute("identified_at", identified_at, self._clock())
        return self._new_section(tenant_id, EVENT, content, identified, actor)

    def open_permanent_section(self, tenant_id: uuid.UUID, actor: Actor, since: dt.datetime | None = None) -> uuid.UUID:
        """The tenant's one permanent-insiders section (refused when it has one)."""
        self._lock(tenant_id)
        if self.permanent_section_id(tenant_id) is not None:
            raise Conflict("this organisation already has its permanent insiders section")
        started = formats.past_minute("since", since or self._clock(), self._clock())
        return self._new_section(tenant_id, PERMANENT, {}, started, actor)

    def permanent_section_id(self, tenant_id: uuid.UUID) -> uuid.UUID | None:
        return self._session.execute(sa.select(InsiderSection.id).where(
            InsiderSection.tenant_id == tenant_id, InsiderSection.kind == PERMANENT)).scalar_one_or_none()

    def _new_section(self, tenant_id: uuid.UUID, kind: str, content: dict[str, str | None], started: dt.datetime,
                     actor: Actor) -> uuid.UUID:
        self._lock(tenant_id)
        section = InsiderSection(id=uuid.uuid4(), tenant_id=tenant_id, kind=kind, created_at=self._clock())
        self._keys.new(section, actor)
        self._session.add(section)
        self._session.flush()
        version = self._version(section, None, "created", started, started, None, content, actor)
        self._logbook.record("insider.section_created", actor, tenant_id=tenant_id, object_type=SECTION_OBJECT,
                             object_id=section.id, detail=f"kind={kind} v={version.seq}")
        return section.id

    def close_section(self, tenant_id: uuid.UUID, section_id: uuid.UUID, at: dt.datetime, reason: str,
                      actor: Actor) -> int:
        """Close an event section (the information was disclosed, or is no longer inside
        information): every insider still on it ceases at ``at``. Returns how many ceased."""
        if reason not in CLOSE_REASONS:
            raise InvalidInput("reason", "one of " + ", ".join(CLOSE_REASONS))
        section = self._section(tenant_id, section_id)
        if section.kind != EVENT:
            raise Conflict("the permanent insiders section is not closed; cease its insiders one by one")
        current = self._current(section.id, None)
        if current.ended_at is not None:
            raise Conflict("this section is already closed")
        closed = formats.past_minute("closed_at", at, self._clock())
        if closed < current.started_at:
            raise InvalidInput("closed_at", "must not be before the information was identified")
        ceased = 0
        for entry in self._entries(section.id):
            version = self._current(section.id, entry.id)
            if version.ended_at is None:
                self._cease(section, entry, version, max(closed, version.started_at), actor)
                ceased += 1
        content = open_json(self._keys.cipher(section, actor), current.content_sealed, content_place(current.id))
        content["close_reason"] = reason
        version = self._version(section, None, "closed", closed, current.started_at, closed, content, actor)
        self._logbook.record("insider.section_closed", actor, tenant_id=tenant_id, object_type=SECTION_OBJECT,
                             object_id=section.id, detail=f"reason={reason} ceased={ceased} v={version.seq}")
        return ceased

    # --- insiders -------------------------------------------------------------------
    def add_insider(self, tenant_id: uuid.UUID, section_id: uuid.UUID, details: InsiderDetails,
                    obtained: dt.datetime, actor: Actor, ceased: dt.datetime | None = None,
                    person_id: uuid.UUID | None = None) -> uuid.UUID:
        """Put a person on a section: a new person, or one the tenant knows already (by
        ``person_id``, or found by e-mail or national ID on the person chain)."""
        section = self._section(tenant_id, section_id)
        now = self._clock()
        details = clean_details(details, now.date())
        obtained_at = formats.past_minute("obtained", obtained, now)
        ceased_at = self._check_ceased(obtained_at, ceased, now)
        head = self._current(section.id, None)
        if head.ended_at is not None:
            raise Conflict("this section is closed; open a new one for new inside information")
        if not details.first_name or not details.surname:
            raise InvalidInput("surname", "first name and surname are required")
        person = self._person(tenant_id, details, person_id, actor)
        if section.kind == EVENT and self._is_permanent_insider(tenant_id, person.id, obtained_at):
            raise Conflict("this person is a permanent insider: permanent insiders are not added to event sections")
        if self._on_section(section.id, person.id):
            raise Conflict("this person is already on this section; change or cease their entry instead")
        provider_lookup = self._provider_lookup(tenant_id, details.provider)
        if provider_lookup is not None and self._session.execute(sa.select(InsiderEntry.id).where(
                InsiderEntry.tenant_id == tenant_id, InsiderEntry.section_id == section.id,
                InsiderEntry.provider_lookup == provider_lookup)).first() is not None:
            raise Conflict("this service provider already has its contact person on this section (only one)")
        entry = InsiderEntry(id=uuid.uuid4(), tenant_id=tenant_id, section_id=section.id, person_id=person.id,
                             provider_lookup=provider_lookup, created_at=now)
        self._session.add(entry)
        self._session.flush()
        version = self._version(section, entry, "created", obtained_at, obtained_at, None, details.content(), actor,
                                person, details)
        self._persons.link(person, INSIDER_LINK, ENTRY_OBJECT, entry.id, actor, retain_until=None)
        self._logbook.record("insider.added", actor, tenant_id=tenant_id, object_type=ENTRY_OBJECT,
                             object_id=entry.id, detail=f"section={section.id} v={version.seq}")
        if ceased_at is not None:
            self._cease(section, entry, version, ceased_at, actor)
        return entry.id

    def change_insider(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, changes: InsiderDetails,
                       changed_at: dt.datetime, actor: Actor) -> int:
        """A new version with the fields ``changes`` gives ("" clears one), valid from
        ``changed_at`` (the time of the change). Returns its version number."""
        entry, section = self._entry(tenant_id, entry_id)
        current = self._current(section.id, entry.id)
        if current.ended_at is not None:
            raise Conflict("this insider has ceased; their entry is history now")
        now = self._clock()
        at = formats.past_minute("changed_at", changed_at, now)
        if at < current.valid_from:
            raise InvalidInput("changed_at", "must not be before the version it changes")
        person = self._person_of(entry)
        before = self._details(section, entry, current, person, actor)
        after = clean_details(before.merged(changes), now.date())
        if after.provider != before.provider:
            raise InvalidInput("provider", "a contact person stays with their provider; cease them and add the new one")
        version = self._version(section, entry, "changed", at, current.started_at, None, after.content(), actor,
                                person, after)
        self._logbook.record("insider.changed", actor, tenant_id=tenant_id, object_type=ENTRY_OBJECT,
                             object_id=entry.id, detail=f"v={version.seq}")
        return version.seq

    def cease_insider(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, ceased: dt.datetime, actor: Actor) -> int:
        """The insider no longer has access from ``ceased``. Returns the version number."""
        entry, section = self._entry(tenant_id, entry_id)
        current = self._current(section.id, entry.id)
        if current.ended_at is not None:
            raise Conflict("this insider has ceased already")
        at = self._check_ceased(current.started_at, ceased, self._clock())
        assert at is not None
        return self._cease(section, entry, current, at, actor).seq

    def _cease(self, section: InsiderSection, entry: InsiderEntry, current: InsiderVersion, at: dt.datetime,
               actor: Actor) -> InsiderVersion:
        version = self._copy(section, entry, current, "ceased", at, at, actor)
        if entry.person_id is not None:
            self._session.execute(sa.update(PersonLink).where(
                PersonLink.person_id == entry.person_id, PersonLink.kind == INSIDER_LINK,
                PersonLink.object_type == ENTRY_OBJECT, PersonLink.object_id == str(entry.id)).values(
                retain_until=retain_until(at)))
        self._logbook.record("insider.ceased", actor, tenant_id=section.tenant_id, object_type=ENTRY_OBJECT,
                             object_id=entry.id, detail=f"v={version.seq}")
        return version

    # --- helpers --------------------------------------------------------------------
    def _check_ceased(self, obtained: dt.datetime, ceased: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        if ceased is None:
            return None
        at = formats.past_minute("ceased", ceased, now)
        if at < obtained:
            raise InvalidInput("ceased", "must not be before the insider obtained access")
        return at

    def _person(self, tenant_id: uuid.UUID, details: InsiderDetails, person_id: uuid.UUID | None,
                actor: Actor) -> Person:
        if person_id is not None:
            person = self._session.get(Person, person_id)
            if person is None or person.tenant_id != tenant_id:
                raise NotFound("person", person_id)
            return person
        name = " ".join(p for p in (details.first_name, details.surname) if p)
        return self._persons.record(tenant_id, PersonDetails(name, details.email, details.national_id), actor)

    def _person_of(self, entry: InsiderEntry) -> Person | None:
        return self._session.get(Person, entry.person_id) if entry.person_id else None

    def _details(self, section: InsiderSection, entry: InsiderEntry, version: InsiderVersion, person: Person | None,
                 actor: Actor) -> InsiderDetails:
        if version.content_sealed is None:  # deleted by retention (a ceased entry: never changed again)
            return InsiderDetails()
        values = open_json(self._keys.cipher(section, actor), version.content_sealed, content_place(version.id))
        if version.personal_sealed is not None and person is not None:
            values |= open_json(self._persons.cipher(person, actor), version.personal_sealed,
                                personal_place(version.id))
        return InsiderDetails.of(values)

    def _copy(self, section: InsiderSection, entry: InsiderEntry, current: InsiderVersion, change: str,
              valid_from: dt.datetime, ended: dt.datetime | None, actor: Actor) -> InsiderVersion:
        """A new version with the same sealed values (re-sealed to the new row's place)."""
        person = self._person_of(entry)
        details = self._details(section, entry, current, person, actor)
        personal = person is not None and current.personal_sealed is not None
        return self._version(section, entry, change, valid_from, current.started_at, ended, details.content(), actor,
                             person if personal else None, details if personal else None)

    def _version(self, section: InsiderSection, entry: InsiderEntry | None, change: str, valid_from: dt.datetime,
                 started: dt.datetime, ended: dt.datetime | None, content: dict[str, str | None] | dict[str, str],
                 actor: Actor, person: Person | None = None, details: InsiderDetails | None = None) -> InsiderVersion:
        version = InsiderVersion(id=uuid.uuid4(), tenant_id=section.tenant_id, section_id=section.id,
                                 entry_id=entry.id if entry else None, valid_from=valid_from, change=change,
                                 started_at=started, ended_at=ended, recorded_at=self._clock(),
                                 recorded_by=actor.audit_id or actor.kind)
        version.content_sealed = seal_json(self._keys.cipher(section, actor), dict(content),
                                           content_place(version.id))
        if person is not None and details is not None:
            version.personal_sealed = seal_json(self._persons.cipher(person, actor), details.personal(),
                                                personal_place(version.id))
        return self._chain.append(version)

    def _lock(self, tenant_id: uuid.UUID) -> None:
        """Serialise writers of one tenant's list (the chain takes one place at a time)."""
        self._session.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())

    def _section(self, tenant_id: uuid.UUID, section_id: uuid.UUID) -> InsiderSection:
        self._lock(tenant_id)
        section = self._session.execute(sa.select(InsiderSection).where(
            InsiderSection.id == section_id, InsiderSection.tenant_id == tenant_id)).scalar_one_or_none()
        if section is None:
            raise NotFound("insider section", section_id)
        return section

    def _entry(self, tenant_id: uuid.UUID, entry_id: uuid.UUID) -> tuple[InsiderEntry, InsiderSection]:
        self._lock(tenant_id)
        entry = self._session.execute(sa.select(InsiderEntry).where(
            InsiderEntry.id == entry_id, InsiderEntry.tenant_id == tenant_id)).scalar_one_or_none()
        if entry is None:
            raise NotFound("insider", entry_id)
        return entry, self._section(tenant_id, entry.section_id)

    def _entries(self, section_id: uuid.UUID) -> list[InsiderEntry]:
        return list(self._session.execute(sa.select(InsiderEntry).where(InsiderEntry.section_id == section_id)
                                          .order_by(InsiderEntry.created_at, InsiderEntry.id)).scalars())

    def _current(self, section_id: uuid.UUID, entry_id: uuid.UUID | None) -> InsiderVersion:
        """The newest version recorded (the highest place on the chain) of a section or entry."""
        which = InsiderVersion.entry_id.is_(None) if entry_id is None else InsiderVersion.entry_id == entry_id
        row = self._session.execute(sa.select(InsiderVersion).where(InsiderVersion.section_id == section_id, which)
                                    .order_by(InsiderVersion.seq.desc()).limit(1)).scalar_one_or_none()
        if row is None:
            raise NotFound("insider version", entry_id or section_id)
        return row

    def _on_section(self, section_id: uuid.UUID, person_id: uuid.UUID) -> bool:
        return self._session.execute(sa.select(InsiderEntry.id).where(
            InsiderEntry.section_id == section_id, InsiderEntry.person_id == person_id)).first() is not None

    def _is_permanent_insider(self, tenant_id: uuid.UUID, person_id: uuid.UUID, at: dt.datetime) -> bool:
        permanent = self.permanent_section_id(tenant_id)
        if permanent is None:
            return False
        for entry_id in self._session.execute(sa.select(InsiderEntry.id).where(
                InsiderEntry.tenant_id == tenant_id, InsiderEntry.section_id == permanent,
                InsiderEntry.person_id == person_id)).scalars():
            current = self._current(permanent, entry_id)
            if current.started_at <= at and (current.ended_at is None or current.ended_at > at):
                return True
        return False

    def _provider_lookup(self, tenant_id: uuid.UUID, provider: str | None) -> bytes | None:
        if not provider:
            return None
        return self._index.compute("insider-provider", " ".join(provider.casefold().split()), tenant_id)


def clean_details(details: InsiderDetails, today: dt.date) -> InsiderDetails:
    """Validate and normalise every field; InvalidInput names the first one that is wrong."""
    text = formats.clean_text
    return InsiderDetails(
        first_name=text("first_name", details.first_name, limit=200),
        surname=text("surname", details.surname, limit=200),
        birth_surname=text("birth_surname", details.birth_surname, limit=200),
        professional_phone=formats.clean_phones("professional_phone", details.professional_phone),
        personal_phone=formats.clean_phones("personal_phone", details.personal_phone),
        national_id=formats.clean_national_id("national_id", details.national_id),
        date_of_birth=formats.clean_birth_date("date_of_birth", details.date_of_birth, today),
        home_address=text("home_address", details.home_address),
        email=text("email", details.email, limit=254),
        company_name_address=text("company_name_address", details.company_name_address),
        function_reason=text("function_reason", details.function_reason, limit=2000),
        provider=text("provider", details.provider, limit=200),
    )
