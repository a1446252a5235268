"""Acknowledgement links: ask a person to confirm a notice, let them confirm it once, remind them.

The code is made when it is handed over (mailed by the job, or shown once to the manager for
a hand-over in person) and stored only as a keyed hash; a reminder makes a new code and the old
one stops working. A code is refused, with one and the same error, when it is unknown, of
another tenant, used, expired or withdrawn. The logbook gets ids only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.acknowledgements.codes import code_digest, new_code, normalise_code
from appliance.acknowledgements.models import AcknowledgementLink, AcknowledgementNotice
from appliance.acknowledgements.notices import FORM_PURPOSES, LANGUAGES, MAX_NOTICE, PURPOSES, default_notice
from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import ApplianceError, Conflict, InvalidInput, NotFound
from appliance.persons.models import Person

DEFAULT_VALID_DAYS = 7
MAX_VALID_DAYS = 60


class LinkRefused(ApplianceError):
    """This code is not valid (unknown, used, expired or withdrawn)."""


@dataclass(frozen=True)
class LinkView:
    """A link as the manager's pages show it: never its code."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    purpose: str
    subject_type: str
    subject_id: uuid.UUID
    person_id: uuid.UUID
    language: str
    created_at: dt.datetime
    expires_at: dt.datetime
    issued_at: dt.datetime | None
    reminders_sent: int
    confirmed_at: dt.datetime | None
    manager_told_at: dt.datetime | None
    withdrawn_at: dt.datetime | None

    def state(self, now: dt.datetime) -> str:
        """``confirmed``, ``withdrawn``, ``expired``, ``waiting`` (handed over) or ``new``."""
        if self.confirmed_at is not None:
            return "confirmed"
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.expires_at <= now:
            return "expired"
        return "waiting" if self.issued_at is not None else "new"


@dataclass(frozen=True)
class IssuedCode:
    """A code handed over now: shown once (or mailed), never again."""

    link: LinkView
    code: str = field(repr=False)


@dataclass(frozen=True)
class Pending:
    """What the public page shows to the holder of a valid code: the notice, nothing personal."""

    link: LinkView
    notice: str


class AcknowledgementLinks:
    """Links of every tenant; every method names the tenant. ``key``: the preserved secret the
    codes are hashed under."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock, key: bytes) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock
        self._key = key

    # --- the manager's side ---------------------------------------------------------
    def request(self, tenant_id: uuid.UUID, purpose: str, subject_type: str, subject_id: uuid.UUID, person: Person,
                language: str, actor: Actor, valid_days: int = DEFAULT_VALID_DAYS) -> LinkView:
        """Ask ``person`` (a person of this tenant) to confirm the notice of ``purpose``. The code
        is made when it is handed over: by the mail job or ``issue``."""
        if purpose not in PURPOSES + FORM_PURPOSES:
            raise InvalidInput("purpose", "unknown notice")
        if language not in LANGUAGES:
            raise InvalidInput("language", f"one of {', '.join(LANGUAGES)}")
        if not 1 <= valid_days <= MAX_VALID_DAYS:
            raise InvalidInput("valid_days", f"from 1 to {MAX_VALID_DAYS}")
        if person.tenant_id != tenant_id:
            raise NotFound("person", person.id)
        now = self._clock()
        replaced = self._replace_open(tenant_id, purpose, subject_type, subject_id, now)
        row = AcknowledgementLink(id=uuid.uuid4(), tenant_id=tenant_id, purpose=purpose, subject_type=subject_type,
                                  subject_id=subject_id, person_id=person.id, language=language, created_at=now,
                                  created_by=actor.audit_id or actor.kind,
                                  expires_at=now + dt.timedelta(days=valid_days), reminders_sent=0)
        self._session.add(row)
        self._session.flush()
        for earlier in replaced:
            self._logbook.record("acknowledgement.withdrawn", actor, tenant_id=tenant_id,
                                 object_type="acknowledgement", object_id=earlier, detail=f"replaced_by={row.id}")
        self._logbook.record("acknowledgement.requested", actor, tenant_id=tenant_id,
                             object_type="acknowledgement", object_id=row.id, detail=f"purpose={purpose}")
        return _view(row)

    def issue(self, tenant_id: uuid.UUID, link_id: uuid.UUID, actor: Actor) -> IssuedCode:
        """A new code for a link still open (any earlier code stops working); shown once."""
        row = self._open_row(tenant_id, link_id)
        code = self._new_code(row)
        self._logbook.record("acknowledgement.issued", actor, tenant_id=tenant_id, object_type="acknowledgement",
                             object_id=row.id)
        return IssuedCode(_view(row), code)

    def withdraw(self, tenant_id: uuid.UUID, link_id: uuid.UUID, actor: Actor) -> LinkView:
        row = self._open_row(tenant_id, link_id)
        row.withdrawn_at = self._clock()
        row.hash = None
        self._session.flush()
        self._logbook.record("acknowledgement.withdrawn", actor, tenant_id=tenant_id, object_type="acknowledgement",
                             object_id=row.id)
        return _view(row)

    def get(self, tenant_id: uuid.UUID, link_id: uuid.UUID) -> LinkView:
        return _view(self._row(tenant_id, link_id))

    def of_subjects(self, tenant_id: uuid.UUID, subject_type: str,
                    subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, LinkView]:
        """The newest link of each subject, for the register pages."""
        if not subject_ids:
            return {}
        rows = self._session.execute(sa.select(AcknowledgementLink).where(
            AcknowledgementLink.tenant_id == tenant_id, AcknowledgementLink.subject_type == subject_type,
            AcknowledgementLink.subject_id.in_(subject_ids)).order_by(AcknowledgementLink.created_at)).scalars()
        return {row.subject_id: _view(row) for row in rows}

    # --- notices --------------------------------------------------------------------
    def notice(self, tenant_id: uuid.UUID, purpose: str, language: str) -> str:
        row = self._session.get(AcknowledgementNotice, (tenant_id, purpose, language))
        return row.body if row is not None else default_notice(purpose, language)

    def is_default(self, tenant_id: uuid.UUID, purpose: str, language: str) -> bool:
        return self._session.get(AcknowledgementNotice, (tenant_id, purpose, language)) is None

    def set_notice(self, tenant_id: uuid.UUID, purpose: str, language: str, text: str | None, actor: Actor) -> None:
        """The tenant's wording of a notice; an empty text returns to the default."""
        if purpose not in PURPOSES:
            raise InvalidInput("purpose", "unknown notice")
        if language not in LANGUAGES:
            raise InvalidInput("language", f"one of {', '.join(LANGUAGES)}")
        text = (text or "").replace("\r\n", "\n").strip()
        if len(text) > MAX_NOTICE:
            raise InvalidInput("text", f"at most {MAX_NOTICE} characters")
        if any(ord(c) < 32 and c not in "\n\t" for c in text):
            raise InvalidInput("text", "must not contain control characters")
        row = self._session.get(AcknowledgementNotice, (tenant_id, purpose, language))
        if not text:
            if row is not None:
                self._session.delete(row)
        elif row is None:
            self._session.add(AcknowledgementNotice(tenant_id=tenant_id, purpose=purpose, language=language, body=text,
                                                    updated_at=self._clock(), updated_by=actor.audit_id or actor.kind))
        else:
            row.body, row.updated_at, row.updated_by = text, self._clock(), actor.audit_id or actor.kind
        self._session.flush()
        self._logbook.record("acknowledgement.notice_changed", actor, tenant_id=tenant_id,
                             object_type="acknowledgement_notice", object_id=f"{purpose}/{language}")

    # --- the person's side ----------------------------------------------------------
    def open(self, tenant_id: uuid.UUID, typed: str) -> Pending:
        """The notice a valid code asks to confirm (nothing changes). LinkRefused otherwise."""
        row = self._valid_row(tenant_id, typed, PURPOSES)
        return Pending(_view(row), self.notice(tenant_id, row.purpose, row.language))

    def confirm(self, tenant_id: uuid.UUID, typed: str, actor: Actor) -> LinkView:
        """Record that the holder of a valid code read the notice, now. The code is spent."""
        return self._spend(self._valid_row(tenant_id, typed, PURPOSES), actor)

    # --- a code that opens a form (FORM_PURPOSES) --------------------------------------
    def check(self, tenant_id: uuid.UUID, typed: str, purpose: str) -> LinkView:
        """The link a valid code of ``purpose`` stands for (nothing changes). LinkRefused otherwise."""
        return _view(self._valid_row(tenant_id, typed, (purpose,)))

    def spend(self, tenant_id: uuid.UUID, typed: str, purpose: str, actor: Actor) -> LinkView:
        """The form was submitted: the code of ``purpose`` is spent, the time recorded."""
        return self._spend(self._valid_row(tenant_id, typed, (purpose,)), actor)

    def _spend(self, row: AcknowledgementLink, actor: Actor) -> LinkView:
        row.confirmed_at = self._clock()
        row.hash = None
        self._session.flush()
        self._logbook.record("acknowledgement.confirmed", actor, tenant_id=row.tenant_id,
                             object_type="acknowledgement", object_id=row.id, detail=f"purpose={row.purpose}")
        return _view(row)

    # --- for the mail job -----------------------------------------------------------
    def undelivered(self) -> list[LinkView]:
        """Open links whose code was never handed over (every tenant)."""
        now = self._clock()
        rows = self._session.execute(sa.select(AcknowledgementLink).where(
            AcknowledgementLink.issued_at.is_(None), AcknowledgementLink.confirmed_at.is_(None),
            AcknowledgementLink.withdrawn_at.is_(None), AcknowledgementLink.expires_at > now)).scalars()
        return [_view(row) for row in rows]

    def due_reminders(self, max_reminders: int, every: dt.timedelta) -> list[LinkView]:
        """Open links handed over at least ``every`` ago and reminded fewer than ``max_reminders`` times."""
        now = self._clock()
        rows = self._session.execute(sa.select(AcknowledgementLink).where(
            AcknowledgementLink.issued_at.is_not(None), AcknowledgementLink.issued_at <= now - every,
            AcknowledgementLink.confirmed_at.is_(None), AcknowledgementLink.withdrawn_at.is_(None),
            AcknowledgementLink.expires_at > now, AcknowledgementLink.reminders_sent < max_reminders)).scalars()
        return [_view(row) for row in rows]

    def never_confirmed(self) -> list[LinkView]:
        """Expired links nobody confirmed, whose manager was not told yet."""
        now = self._clock()
        rows = self._session.execute(sa.select(AcknowledgementLink).where(
            AcknowledgementLink.expires_at <= now, AcknowledgementLink.confirmed_at.is_(None),
            AcknowledgementLink.withdrawn_at.is_(None), AcknowledgementLink.manager_told_at.is_(None))).scalars()
        return [_view(row) for row in rows]

    def hand_over(self, link: LinkView, reminder: bool) -> str:
        """A new code for the mail job to send (a reminder counts as one)."""
        row = self._open_row(link.tenant_id, link.id)
        code = self._new_code(row)
        if reminder:
            row.reminders_sent += 1
        self._session.flush()
        return code

    def manager_told(self, link: LinkView) -> None:
        row = self._row(link.tenant_id, link.id)
        row.manager_told_at = self._clock()
        self._session.flush()

    # --- inside ---------------------------------------------------------------------
    def _new_code(self, row: AcknowledgementLink) -> str:
        code = new_code()
        normalised = normalise_code(code)
        assert normalised is not None
        row.hash = code_digest(self._key, row.tenant_id, normalised)
        row.issued_at = self._clock()
        self._session.flush()
        return code

    def _replace_open(self, tenant_id: uuid.UUID, purpose: str, subject_type: str, subject_id: uuid.UUID,
                      now: dt.datetime) -> list[uuid.UUID]:
        """Withdraw the open links of the same subject and purpose: a link sent again replaces the
        one before, whose code is then refused like a used one (a mail that went astray stays useless)."""
        rows = self._session.execute(sa.select(AcknowledgementLink).where(
            AcknowledgementLink.tenant_id == tenant_id, AcknowledgementLink.purpose == purpose,
            AcknowledgementLink.subject_type == subject_type, AcknowledgementLink.subject_id == subject_id,
            AcknowledgementLink.confirmed_at.is_(None), AcknowledgementLink.withdrawn_at.is_(None),
            AcknowledgementLink.expires_at > now)).scalars().all()
        for row in rows:
            row.withdrawn_at = now
            row.hash = None
        self._session.flush()
        return [row.id for row in rows]

    def _valid_row(self, tenant_id: uuid.UUID, typed: str, purposes: tuple[str, ...]) -> AcknowledgementLink:
        normalised = normalise_code(typed)
        # The HMAC is computed for malformed input too, so timing tells nothing either.
        digest = code_digest(self._key, tenant_id, normalised or "-")
        row = None
        if normalised is not None:
            row = self._session.execute(sa.select(AcknowledgementLink).where(
                AcknowledgementLink.tenant_id == tenant_id, AcknowledgementLink.hash == digest)).scalar_one_or_none()
        if row is None or row.hash is None or not hmac.compare_digest(bytes(row.hash), digest):
            raise LinkRefused()
        if row.confirmed_at is not None or row.withdrawn_at is not None or row.expires_at <= self._clock():
            raise LinkRefused()
        if row.purpose not in purposes:  # a details code on the notice page, or the other way round
            raise LinkRefused()
        return row

    def _row(self, tenant_id: uuid.UUID, link_id: uuid.UUID) -> AcknowledgementLink:
        row = self._session.execute(sa.select(AcknowledgementLink).where(
            AcknowledgementLink.id == link_id, AcknowledgementLink.tenant_id == tenant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("acknowledgement", link_id)
        return row

    def _open_row(self, tenant_id: uuid.UUID, link_id: uuid.UUID) -> AcknowledgementLink:
        row = self._row(tenant_id, link_id)
        if _view(row).state(self._clock()) not in ("new", "waiting"):
            raise Conflict("the acknowledgement is no longer open")
        return row


def _view(row: AcknowledgementLink) -> LinkView:
    return LinkView(row.id, row.tenant_id, row.purpose, row.subject_type, row.subject_id, row.person_id, row.language,
                    row.created_at, row.expires_at, row.issued_at, row.reminders_sent, row.confirmed_at,
                    row.manager_told_at, row.withdrawn_at)
