"""Proposed insiders from uploaded access events (issue 15).

A person whose access events carry an open event section's code as their ``project`` (matched by
the events' blind index, never in clear) is proposed for that section, with their first access.
The manager accepts (the person goes on the section, obtained = that first access) or dismisses
with a reason (sealed under the section's data key). Rules:

- a person already on the section is never proposed: their access changes nothing;
- a dismissed person is proposed again only when they access the project *after* the dismissal
  (an event that happened later; their first such access is what the new proposal shows);
- an access after a person ceased to be on the section is flagged (``LateAccess``), never acted on.

The events live in a higher package (appliance/events/); this module gets their look-ups as
functions (``AccessLookups``), wired in services.py. Never commits; the logbook gets ids only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.fields import Place
from appliance.errors import NotFound
from appliance.insiders import formats
from appliance.insiders.models import InsiderEntry, InsiderProposalDecision, InsiderSection, InsiderVersion
from appliance.insiders.records import InsiderDetails
from appliance.insiders.section_keys import SectionKeys, content_place, open_json
from appliance.insiders.service import InsiderLists
from appliance.insiders.templates import EVENT
from appliance.persons.models import Person
from appliance.persons.service import PersonService

ACCEPTED, DISMISSED = "accepted", "dismissed"
MAX_REASON = 2000
PROPOSAL_OBJECT = "insider_proposal"
# (tenant, project code, since) -> {person: first access at or after since}; and the last access.
FirstAccess = Callable[[uuid.UUID, str, dt.datetime | None], dict[uuid.UUID, dt.datetime]]
LastAccess = Callable[[uuid.UUID, str], dict[uuid.UUID, dt.datetime]]


@dataclass(frozen=True)
class AccessLookups:
    first: FirstAccess
    last: LastAccess


@dataclass(frozen=True)
class Proposal:
    person_id: uuid.UUID
    first_access: dt.datetime
    email: str | None
    name: str | None
    again: bool  # dismissed before, and accessed the project after that


@dataclass(frozen=True)
class LateAccess:
    entry_id: uuid.UUID
    person_id: uuid.UUID
    email: str | None
    ceased: dt.datetime
    last_access: dt.datetime


@dataclass(frozen=True)
class Decision:
    person_id: uuid.UUID
    decision: str
    access_at: dt.datetime
    reason: str | None
    decided_at: dt.datetime
    email: str | None


@dataclass(frozen=True)
class SectionProposals:
    section_id: uuid.UUID
    code: str
    open: bool
    proposals: tuple[Proposal, ...]
    late: tuple[LateAccess, ...]
    decisions: tuple[Decision, ...]


class InsiderProposals:
    def __init__(self, session: Session, lists: InsiderLists, persons: PersonService, keys: SectionKeys,
                 lookups: AccessLookups, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._lists = lists
        self._persons = persons
        self._keys = keys
        self._lookups = lookups
        self._logbook = logbook
        self._clock = clock

    def for_section(self, tenant_id: uuid.UUID, section_id: uuid.UUID, actor: Actor) -> SectionProposals:
        """What the access events propose for one event section, what they flag, and what was decided."""
        section, head = self._event_section(tenant_id, section_id)
        code = str(open_json(self._keys.cipher(section, actor), head.content_sealed, content_place(head.id))
                   .get("code") or "")
        is_open = head.ended_at is None
        last = self._lookups.last(tenant_id, code)
        if not last:
            return SectionProposals(section.id, code, is_open, (), (), self._decisions(section, actor))
        on_section = self._entries(section)
        decided = {d.person_id: d for d in self._decision_rows(section)}
        proposed: list[Proposal] = []
        late: list[LateAccess] = []
        first = self._lookups.first(tenant_id, code, None) if is_open else {}
        for person_id, last_access in sorted(last.items(), key=lambda kv: kv[1]):
            entry = on_section.get(person_id)
            if entry is not None:
                entry_id, ceased = entry
                if ceased is not None and last_access > ceased:
                    late.append(LateAccess(entry_id, person_id, self._email(person_id, actor), ceased, last_access))
                continue
            if not is_open:
                continue
            decision = decided.get(person_id)
            if decision is None:
                proposed.append(self._proposal(person_id, first[person_id], False, actor))
            elif decision.decision == DISMISSED and last_access > decision.decided_at:
                since = decision.decided_at + dt.timedelta(microseconds=1)
                again = self._lookups.first(tenant_id, code, since).get(person_id, last_access)
                proposed.append(self._proposal(person_id, again, True, actor))
        proposed.sort(key=lambda p: (p.first_access, str(p.person_id)))
        return SectionProposals(section.id, code, is_open, tuple(proposed), tuple(late),
                                self._decisions(section, actor))

    def accept(self, tenant_id: uuid.UUID, section_id: uuid.UUID, person_id: uuid.UUID, details: InsiderDetails,
               actor: Actor) -> uuid.UUID:
        """Put the proposed person on the section, obtained at their first access (the proposal
        shown); ``details``: what the manager adds (names, function and reason). Returns the entry."""
        proposal = self._current(tenant_id, section_id, person_id, actor)
        if proposal.email and not details.email:
            details = replace(details, email=proposal.email)
        entry_id = self._lists.add_insider(tenant_id, section_id, details, proposal.first_access, actor,
                                           person_id=person_id)
        self._decide(tenant_id, section_id, proposal, ACCEPTED, None, entry_id, actor)
        return entry_id

    def dismiss(self, tenant_id: uuid.UUID, section_id: uuid.UUID, person_id: uuid.UUID, reason: str,
                actor: Actor) -> uuid.UUID:
        """Not an insider of this section: the reason is kept (sealed); proposed again only after a
        later access."""
        text = formats.clean_text("reason", reason, required=True, limit=MAX_REASON)
        assert text is not None
        proposal = self._current(tenant_id, section_id, person_id, actor)
        return self._decide(tenant_id, section_id, proposal, DISMISSED, text, None, actor)

    # --- helpers --------------------------------------------------------------------
    def _current(self, tenant_id: uuid.UUID, section_id: uuid.UUID, person_id: uuid.UUID,
                 actor: Actor) -> Proposal:
        found = self.for_section(tenant_id, section_id, actor)
        proposal = next((p for p in found.proposals if p.person_id == person_id), None)
        if proposal is None:
            raise NotFound("insider proposal", person_id)
        return proposal

    def _decide(self, tenant_id: uuid.UUID, section_id: uuid.UUID, proposal: Proposal, decision: str,
                reason: str | None, entry_id: uuid.UUID | None, actor: Actor) -> uuid.UUID:
        section, _head = self._event_section(tenant_id, section_id)
        row = InsiderProposalDecision(id=uuid.uuid4(), tenant_id=tenant_id, section_id=section.id,
                                      person_id=proposal.person_id, decision=decision,
                                      access_at=proposal.first_access, entry_id=entry_id, decided_at=self._clock(),
                                      decided_by=actor.audit_id or actor.kind)
        if reason is not None:
            row.reason_sealed = self._keys.cipher(section, actor).seal(reason, _reason_place(row.id))
        self._session.add(row)
        self._session.flush()
        self._logbook.record(f"insider.proposal_{decision}", actor, tenant_id=tenant_id, object_type=PROPOSAL_OBJECT,
                             object_id=row.id, detail=f"section={section.id}")
        return row.id

    def _event_section(self, tenant_id: uuid.UUID, section_id: uuid.UUID) -> tuple[InsiderSection, InsiderVersion]:
        section = self._session.execute(sa.select(InsiderSection).where(
            InsiderSection.id == section_id, InsiderSection.tenant_id == tenant_id,
            InsiderSection.kind == EVENT)).scalar_one_or_none()
        if section is None:
            raise NotFound("insider section", section_id)
        head = self._session.execute(sa.select(InsiderVersion).where(
            InsiderVersion.tenant_id == tenant_id, InsiderVersion.section_id == section.id,
            InsiderVersion.entry_id.is_(None)).order_by(InsiderVersion.seq.desc()).limit(1)).scalar_one()
        return section, head

    def _entries(self, section: InsiderSection) -> dict[uuid.UUID, tuple[uuid.UUID, dt.datetime | None]]:
        """Each person on the section: (entry, when they ceased per the newest version, or None)."""
        rows = self._session.execute(
            sa.select(InsiderEntry.person_id, InsiderEntry.id, InsiderVersion.ended_at)
            .join(InsiderVersion, InsiderVersion.entry_id == InsiderEntry.id)
            .where(InsiderEntry.tenant_id == section.tenant_id, InsiderEntry.section_id == section.id,
                   InsiderVersion.tenant_id == section.tenant_id)
            .order_by(InsiderVersion.seq)).all()
        return {person_id: (entry_id, ended) for person_id, entry_id, ended in rows if person_id is not None}

    def _decision_rows(self, section: InsiderSection) -> list[InsiderProposalDecision]:
        return list(self._session.execute(sa.select(InsiderProposalDecision).where(
            InsiderProposalDecision.tenant_id == section.tenant_id,
            InsiderProposalDecision.section_id == section.id).order_by(
            InsiderProposalDecision.decided_at, InsiderProposalDecision.id)).scalars())

    def _decisions(self, section: InsiderSection, actor: Actor) -> tuple[Decision, ...]:
        cipher = self._keys.cipher(section, actor)
        return tuple(Decision(r.person_id, r.decision, r.access_at,
                              cipher.open(r.reason_sealed, _reason_place(r.id)) if r.reason_sealed else None,
                              r.decided_at, self._email(r.person_id, actor))
                     for r in self._decision_rows(section))

    def _proposal(self, person_id: uuid.UUID, first_access: dt.datetime, again: bool, actor: Actor) -> Proposal:
        person = self._session.get(Person, person_id)
        name = self._persons.name_of(person, actor) if person is not None else None
        return Proposal(person_id, first_access, self._email(person_id, actor), name, again)

    def _email(self, person_id: uuid.UUID, actor: Actor) -> str | None:
        person = self._session.get(Person, person_id)
        if person is None:
            return None
        return self._persons.identifiers_of(person, actor).get("email")


def _reason_place(decision_id: uuid.UUID) -> Place:
    return Place("insider_proposal_decisions", "reason", decision_id)


def forget_person_decisions(session: Session, person_id: uuid.UUID) -> int:
    """Delete the proposal decisions about this person (erasure); returns how many."""
    result = session.execute(sa.delete(InsiderProposalDecision).where(InsiderProposalDecision.person_id == person_id))
    return int(result.rowcount)  # type: ignore[attr-defined]
