"""Reading an insider list "as at" any moment, and what changed between two moments.

The version of a section or entry valid at a moment is the one with the latest ``valid_from``
not after it (the change recorded last wins a tie). Every read first verifies the tenant's
chain: a history that was rewritten with SQL is refused, never shown. Versions whose data the
retention run deleted show their times and ``erased``, never a gap that looks like an empty field.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.models import AuditEvent
from appliance.clock import Clock
from appliance.errors import InvalidInput, NotFound
from appliance.insiders import formats
from appliance.insiders.chain import SignedVersion, VersionChain, erased
from appliance.insiders.models import InsiderEntry, InsiderSection, InsiderTransmission, InsiderVersion
from appliance.insiders.records import (
    FieldChange,
    InsiderChange,
    InsiderDetails,
    InsiderView,
    ListAsAt,
    ListDiff,
    SectionAsAt,
    SectionView,
)
from appliance.insiders.section_keys import SectionKeys, content_place, open_json, personal_place
from appliance.persons.models import Person
from appliance.persons.service import PersonService

_VERSION_NUMBER = re.compile(r"\bv=(\d+)\b")
Key = tuple[uuid.UUID, uuid.UUID | None]  # (section, entry or None for the section itself)


class InsiderHistory:
    def __init__(self, session: Session, persons: PersonService, keys: SectionKeys, chain: VersionChain,
                 clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock
        self._persons = persons
        self._keys = keys
        self._chain = chain

    def verify(self, tenant_id: uuid.UUID) -> int:
        """Check the tenant's whole chain against itself and the logbook; return its length."""
        return self._chain.verify(tenant_id, self._announced(tenant_id), self._now())

    def as_at(self, tenant_id: uuid.UUID, moment: dt.datetime, actor: Actor,
              section_id: uuid.UUID | None = None) -> ListAsAt:
        """The list (or one section) exactly as its versions stood at ``moment`` (UTC minute)."""
        return self._as_at(tenant_id, self._verified(tenant_id), formats.utc_minute("as_at", moment), actor,
                           section_id)

    def _as_at(self, tenant_id: uuid.UUID, rows: list[SignedVersion], at: dt.datetime, actor: Actor,
               section_id: uuid.UUID | None) -> ListAsAt:
        if section_id is not None and not any(r.section_id == section_id for r in rows):
            raise NotFound("insider section", section_id)
        current = _valid_at(rows, at)
        sections = {s.id: s for s in self._session.execute(sa.select(InsiderSection).where(
            InsiderSection.tenant_id == tenant_id)).scalars()}
        entries = {e.id: e for e in self._session.execute(sa.select(InsiderEntry).where(
            InsiderEntry.tenant_id == tenant_id)).scalars()}
        shown = []
        for (sid, entry_id), version in sorted(current.items(), key=lambda kv: (kv[1].started_at, kv[1].seq)):
            if entry_id is not None or (section_id is not None and sid != section_id):
                continue
            section = sections[sid]
            insiders = tuple(self._insider(section, entries[eid], v, actor)
                             for (s, eid), v in sorted(current.items(), key=lambda kv: (kv[1].started_at, kv[1].seq))
                             if s == sid and eid is not None)
            updated = max((v.valid_from for (s, _e), v in current.items() if s == sid), default=version.valid_from)
            shown.append(SectionAsAt(self._section(section, version, updated, actor), insiders,
                                     self._transmitted(tenant_id, sid, at)))
        return ListAsAt(at, tuple(shown))

    def diff(self, tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime, actor: Actor,
             section_id: uuid.UUID | None = None) -> ListDiff:
        """Who was added, whose fields changed (which, from what to what) and who ceased between two moments."""
        a, b = formats.utc_minute("since", since), formats.utc_minute("until", until)
        if b < a:
            raise InvalidInput("until", "must not be before since")
        rows = self._verified(tenant_id)  # once for both moments: one read, one verification
        before = {i.entry_id: i for s in self._as_at(tenant_id, rows, a, actor, section_id).sections
                  for i in s.insiders}
        after = [i for s in self._as_at(tenant_id, rows, b, actor, section_id).sections for i in s.insiders]
        added, changed, ceased = [], [], []
        for now in after:
            then = before.get(now.entry_id)
            if then is None:
                added.append(InsiderChange(now.entry_id, now.section_id, "added"))
                continue
            if then.ceased is None and now.ceased is not None:
                ceased.append(InsiderChange(now.entry_id, now.section_id, "ceased"))
            fields = [FieldChange(name, _text(getattr(then.details, name)), _text(getattr(now.details, name)))
                      for name in InsiderDetails.__dataclass_fields__
                      if getattr(then.details, name) != getattr(now.details, name)]
            if fields:
                changed.append(InsiderChange(now.entry_id, now.section_id, "changed", tuple(fields)))
        return ListDiff(a, b, tuple(added), tuple(changed), tuple(ceased))

    def known_persons(self, tenant_id: uuid.UUID, actor: Actor) -> dict[uuid.UUID, InsiderView]:
        """Every person on the tenant's list now, with their newest entry (to add them elsewhere)."""
        known: dict[uuid.UUID, InsiderView] = {}
        for part in self.as_at(tenant_id, self._now(), actor).sections:
            for insider in part.insiders:
                if insider.person_id is not None and insider.details.surname:
                    held = known.get(insider.person_id)
                    if held is None or insider.version > held.version:
                        known[insider.person_id] = insider
        return known

    def section_of(self, tenant_id: uuid.UUID, entry_id: uuid.UUID) -> uuid.UUID:
        """The section an insider's entry is on (NotFound for another tenant's or an unknown one)."""
        section_id = self._session.execute(sa.select(InsiderEntry.section_id).where(
            InsiderEntry.id == entry_id, InsiderEntry.tenant_id == tenant_id)).scalar_one_or_none()
        if section_id is None:
            raise NotFound("insider", entry_id)
        return section_id

    def versions(self, tenant_id: uuid.UUID, entry_id: uuid.UUID) -> list[tuple[int, str, dt.datetime, dt.datetime]]:
        """Every version of one entry: (number, change, valid from, recorded at); ids and times only."""
        rows = self._session.execute(sa.select(InsiderVersion).where(
            InsiderVersion.tenant_id == tenant_id, InsiderVersion.entry_id == entry_id).order_by(
            InsiderVersion.seq)).scalars().all()
        if not rows:
            raise NotFound("insider", entry_id)
        return [(r.seq, r.change, r.valid_from, r.recorded_at) for r in rows]

    def entry_export(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, actor: Actor) -> dict[str, Any] | None:
        """One entry with every version of it, for the person's access request (GDPR Art. 15)."""
        entry = self._session.execute(sa.select(InsiderEntry).where(
            InsiderEntry.id == entry_id, InsiderEntry.tenant_id == tenant_id)).scalar_one_or_none()
        if entry is None:
            return None
        section = self._session.execute(sa.select(InsiderSection).where(
            InsiderSection.id == entry.section_id, InsiderSection.tenant_id == tenant_id)).scalar_one()
        rows = [r for r in self._verified(tenant_id) if r.entry_id == entry.id]
        versions = []
        for row in rows:
            view = self._insider(section, entry, row, actor)
            versions.append({"version": row.seq, "change": row.change, "valid_from": row.valid_from.isoformat(),
                             "obtained": view.obtained.isoformat(),
                             "ceased": view.ceased.isoformat() if view.ceased else None,
                             "erased": view.erased,
                             "details": {k: _text(v) for k, v in asdict(view.details).items() if v is not None}})
        return {"section": str(section.id), "section_kind": section.kind, "versions": versions}

    # --- helpers --------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return self._clock() if self._clock is not None else dt.datetime.now(dt.UTC)

    def _verified(self, tenant_id: uuid.UUID) -> list[SignedVersion]:
        return self._chain.verified_rows(tenant_id, self._announced(tenant_id), self._now())

    def _announced(self, tenant_id: uuid.UUID) -> int | None:
        """The newest version number the logbook announced for this tenant (None: none kept)."""
        details = self._session.execute(sa.select(AuditEvent.detail).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action.like("insider.%"),
            AuditEvent.detail.like("%v=%")).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
        found = _VERSION_NUMBER.search(details or "")
        return int(found.group(1)) if found else None

    def _section(self, section: InsiderSection, version: SignedVersion, updated: dt.datetime,
                 actor: Actor) -> SectionView:
        assert version.content_sealed is not None  # the chain refuses a section without its content
        content = open_json(self._keys.cipher(section, actor), version.content_sealed, content_place(version.id))
        return SectionView(section.id, section.kind, content.get("code"), content.get("description"),
                           version.started_at, version.ended_at, content.get("close_reason"), updated)

    def _insider(self, section: InsiderSection, entry: InsiderEntry, version: SignedVersion,
                 actor: Actor) -> InsiderView:
        if erased(version):  # retention deleted it (the chain checked that its time had come)
            return InsiderView(entry.id, section.id, None, InsiderDetails(), version.started_at, version.ended_at,
                               version.seq, erased=True)
        values = open_json(self._keys.cipher(section, actor), version.content_sealed, content_place(version.id))
        person = self._session.get(Person, entry.person_id) if entry.person_id else None
        if person is not None and version.personal_sealed is not None:
            values |= open_json(self._persons.cipher(person, actor), version.personal_sealed,
                                personal_place(version.id))
        return InsiderView(entry.id, section.id, entry.person_id, InsiderDetails.of(values), version.started_at,
                           version.ended_at, version.seq)

    def _transmitted(self, tenant_id: uuid.UUID, section_id: uuid.UUID, at: dt.datetime) -> dt.date | None:
        return self._session.execute(sa.select(InsiderTransmission.transmitted_on).where(
            InsiderTransmission.tenant_id == tenant_id, InsiderTransmission.as_at <= at,
            sa.or_(InsiderTransmission.section_id == section_id, InsiderTransmission.section_id.is_(None)))
            .order_by(InsiderTransmission.transmitted_on.desc()).limit(1)).scalar_one_or_none()


def _valid_at(rows: Iterable[SignedVersion], at: dt.datetime) -> dict[Key, SignedVersion]:
    current: dict[Key, SignedVersion] = {}
    for row in rows:  # in chain order: a later row with the same valid_from wins
        if row.valid_from > at:
            continue
        key = (row.section_id, row.entry_id)
        held = current.get(key)
        if held is None or row.valid_from >= held.valid_from:
            current[key] = row
    return current


def _text(value: object) -> str | None:
    return None if value is None else str(value)
