"""Links for persons on an insider list (MAR Art. 18): the notice of their legal duties and the
sanctions, which they confirm (Art. 18(2)), and a form for their own personal details, which they
fill in without a staff account (self-service).

Both are acknowledgement links: single-use codes that the mail job sends (seven days, up to three
reminders, the managers told when one expires). A details code opens only the form for the
fields the entry's template asks of the person; what they submit is a new version of their entry,
dated when they submitted it. Nothing of what they type reaches the logbook.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.acknowledgements.entry import CODE_HOLDER, CodeEntry
from appliance.acknowledgements.notices import INSIDER_DETAILS, INSIDER_OBLIGATIONS
from appliance.acknowledgements.service import AcknowledgementLinks, LinkRefused, LinkView
from appliance.actors import Actor
from appliance.clock import Clock
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.insiders.models import InsiderEntry, InsiderSection
from appliance.insiders.records import InsiderDetails, InsiderView
from appliance.insiders.service import InsiderLists
from appliance.insiders.templates import template_for
from appliance.persons.models import Person

OBLIGATIONS_SUBJECT = "insider_entry"
DETAILS_SUBJECT = "insider_details"
# What a person may fill in about themselves; the template in force decides which of them it asks.
SELF_SERVICE_FIELDS = ("national_id", "date_of_birth", "personal_phone", "home_address", "birth_surname")
# The birth surname is asked "if different": an empty one is not missing.
OPTIONAL_FIELDS = frozenset({"birth_surname"})


@dataclass(frozen=True)
class DetailsRequest:
    """What the holder of a valid details code is asked: field names, never what is on file."""

    link: LinkView
    fields: tuple[str, ...]


class InsiderLinks:
    def __init__(self, session: Session, links: AcknowledgementLinks, entry: CodeEntry, lists: InsiderLists,
                 clock: Clock) -> None:
        self._session = session
        self._links = links
        self._entry = entry
        self._lists = lists
        self._clock = clock

    # --- the manager's side ---------------------------------------------------------
    def notify_obligations(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, language: str,
                           actor: Actor) -> LinkView:
        """Send the insider the notice of their duties and the sanctions (the tenant's text)."""
        entry, person, _kind = self._open_entry(tenant_id, entry_id)
        return self._links.request(tenant_id, INSIDER_OBLIGATIONS, OBLIGATIONS_SUBJECT, entry.id, person, language,
                                   actor)

    def request_details(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, language: str, actor: Actor) -> LinkView:
        """Send the insider a code for the form of their own personal details."""
        entry, person, _kind = self._open_entry(tenant_id, entry_id)
        return self._links.request(tenant_id, INSIDER_DETAILS, DETAILS_SUBJECT, entry.id, person, language, actor)

    def links_of(self, tenant_id: uuid.UUID, entry_ids: list[uuid.UUID]) -> dict[str, dict[uuid.UUID, LinkView]]:
        """The newest notice link and details link of each entry, by purpose."""
        return {INSIDER_OBLIGATIONS: self._links.of_subjects(tenant_id, OBLIGATIONS_SUBJECT, entry_ids),
                INSIDER_DETAILS: self._links.of_subjects(tenant_id, DETAILS_SUBJECT, entry_ids)}

    def requested_fields(self, section_kind: str) -> tuple[str, ...]:
        """The personal fields the template in force asks of a person on a section of this kind."""
        shown = template_for(section_kind, self._clock()).fields
        return tuple(f for f in SELF_SERVICE_FIELDS if f in shown)

    def missing(self, insider: InsiderView, section_kind: str) -> tuple[str, ...]:
        """The requested fields still empty on the insider's current version."""
        return tuple(f for f in self.requested_fields(section_kind)
                     if f not in OPTIONAL_FIELDS and getattr(insider.details, f) in (None, ""))

    # --- the person's side ----------------------------------------------------------
    def open_details(self, tenant_id: uuid.UUID, typed: str, client: str) -> DetailsRequest:
        """What a valid details code asks (LinkRefused, counted against the client, otherwise)."""
        link = self._entry.check(tenant_id, typed, client, INSIDER_DETAILS)
        _entry, _person, kind = self._open_entry(tenant_id, link.subject_id, refused=True)
        return DetailsRequest(link, self.requested_fields(kind))

    def submit_details(self, tenant_id: uuid.UUID, typed: str, client: str, values: dict[str, str]) -> LinkView:
        """Record what the person filled in as a new version of their entry, dated now; the code
        is spent. InvalidInput names the first field in a wrong format (the code stays good)."""
        request = self.open_details(tenant_id, typed, client)
        given = {f: value.strip() for f in request.fields if (value := values.get(f) or "").strip()}
        if not given:
            raise InvalidInput(request.fields[0] if request.fields else "details", "fill in at least one field")
        try:
            self._lists.change_insider(tenant_id, request.link.subject_id, InsiderDetails(**given), self._clock(),
                                       CODE_HOLDER)
        except Conflict:  # the entry ceased meanwhile: the code is of no use any more
            raise LinkRefused() from None
        return self._entry.spend(tenant_id, typed, client, INSIDER_DETAILS)

    # --- inside ---------------------------------------------------------------------
    def _open_entry(self, tenant_id: uuid.UUID, entry_id: uuid.UUID,
                    refused: bool = False) -> tuple[InsiderEntry, Person, str]:
        row = self._session.execute(sa.select(InsiderEntry, InsiderSection.kind).join(
            InsiderSection, InsiderSection.id == InsiderEntry.section_id).where(
            InsiderEntry.id == entry_id, InsiderEntry.tenant_id == tenant_id,
            InsiderSection.tenant_id == tenant_id)).one_or_none()
        person = self._session.get(Person, row[0].person_id) if row is not None and row[0].person_id else None
        if row is None or person is None or person.tenant_id != tenant_id:
            if refused:
                raise LinkRefused()
            raise NotFound("insider", entry_id)
        return row[0], person, row[1]
