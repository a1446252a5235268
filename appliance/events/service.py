"""Upload and read access events (issue 14): idempotent batches, look-ups by project.

An upload is checked event by event: a bad event is rejected with its index and a reason (never
its value) and the others go in. Each event is identified per tenant by (source, id), kept only
as a keyed hash: the same event uploaded again is counted as a duplicate and changes nothing.
The actor's address finds (or makes) their person record and is sealed under that person's key,
so erasing the person shreds it; what the event says besides is sealed under the batch's data
key, wrapped under the tenant's key-encryption key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.blind_index import EMAIL_ADDRESS, BlindIndex, normalise_email
from appliance.crypto.fields import FieldCipher, Place
from appliance.errors import ApplianceError, InvalidInput
from appliance.events.models import AccessEvent, EventBatch
from appliance.keys.keyring import DataKeys
from appliance.persons.models import Person
from appliance.persons.service import MAX_EMAIL, PERSON_FIELD_VERSION, PersonService
from appliance.tenants.models import Tenant

MAX_BATCH = 1000
MAX_SOURCE = 64
MAX_ID = 128
MAX_ACTION = 64
MAX_OBJECT = 512
MAX_PROJECT = 64
MAX_PAGE = 1000
INDEX_BATCH = 5000  # events given their source's blind index at each upload (migration 0023)
# Clocks of the systems that upload drift; a day ahead is a wrong clock or a wrong zone.
FUTURE_SLACK = dt.timedelta(minutes=15)
BATCH_FIELD_VERSION = 1
ACTOR_KEY = "event_actor_key"
BATCH_KEY = "event_batch_key"
# Unicode category Cc (C0, DEL, C1) and lone surrogates: a regex, not a loop over characters.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_EVENTS = cast(sa.Table, AccessEvent.__table__)
_IN_CHUNK = 500  # SQL Server takes at most 2,100 parameters in one statement


class CursorInvalid(ApplianceError):
    """The cursor is not one this listing gave."""


@dataclass(frozen=True)
class NewEvent:
    """One access event as an uploader sends it."""

    id: str
    source: str
    occurred_at: dt.datetime
    actor_email: str
    action: str
    object: str
    project: str


@dataclass(frozen=True)
class Rejected:
    index: int
    reason: str  # names the field and the rule, never the value


@dataclass
class UploadResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    batch_id: uuid.UUID | None = None  # None when nothing was new


@dataclass(frozen=True)
class EventView:
    """A stored event, opened. ``actor_email`` is None once the actor was erased."""

    row_id: uuid.UUID
    id: str
    source: str
    occurred_at: dt.datetime
    actor_email: str | None
    action: str
    object: str
    project: str
    person_id: uuid.UUID


@dataclass(frozen=True)
class EventPage:
    events: list[EventView]
    next_cursor: str | None


def check_event(event: NewEvent, now: dt.datetime) -> NewEvent:
    """The event with its address normalised; InvalidInput naming the field otherwise."""
    for name, value, limit in (("id", event.id, MAX_ID), ("source", event.source, MAX_SOURCE),
                               ("action", event.action, MAX_ACTION), ("object", event.object, MAX_OBJECT),
                               ("project", event.project, MAX_PROJECT)):
        if not value.strip() or len(value) > limit:
            raise InvalidInput(name, f"give 1 to {limit} characters")
        if _CONTROL.search(value):
            raise InvalidInput(name, "must not contain control characters")
    email = normalise_email(event.actor_email)
    if len(email) > MAX_EMAIL or not EMAIL_ADDRESS.match(email) or not email.isprintable():
        raise InvalidInput("actor_email", "not an e-mail address")
    occurred = event.occurred_at
    if occurred.tzinfo is None or occurred.utcoffset() is None:
        raise InvalidInput("occurred_at", "give a time with an offset (RFC 3339)")
    if occurred > now + FUTURE_SLACK:
        raise InvalidInput("occurred_at", "is in the future")
    return NewEvent(event.id, event.source, occurred.astimezone(dt.UTC), email, event.action, event.object,
                    event.project)


class AccessEvents:
    """A tenant's access events. Never commits; logs counts and ids, never what an event says."""

    def __init__(self, session: Session, persons: PersonService, data_keys: DataKeys, blind_index: BlindIndex,
                 logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._persons = persons
        self._keys = data_keys
        self._index = blind_index
        self._logbook = logbook
        self._clock = clock

    # --- upload ---------------------------------------------------------------------
    def upload(self, tenant_id: uuid.UUID, events: Sequence[NewEvent | Rejected], actor: Actor) -> UploadResult:
        """Store the new events of one batch. ``events``: in the order sent, each an event or
        its rejection by the caller's own parsing (kept with its index). Events seen before, in
        this batch or earlier, are counted as duplicates."""
        if len(events) > MAX_BATCH:
            raise InvalidInput("events", f"at most {MAX_BATCH} events in one batch")
        now = self._clock()
        result = UploadResult()
        fresh: dict[bytes, NewEvent] = {}
        for index, item in enumerate(events):
            if isinstance(item, Rejected):
                result.rejected.append(item)
                continue
            try:
                event = check_event(item, now)
            except InvalidInput as exc:
                result.rejected.append(Rejected(index, f"{exc.field}: {exc.reason}"))
                continue
            dedupe = self._index.compute("access-event", f"{event.source}\x1f{event.id}", tenant_id)
            if dedupe in fresh:
                result.duplicates += 1
            else:
                fresh[dedupe] = event
        for seen in self._existing(tenant_id, list(fresh)):
            del fresh[seen]
            result.duplicates += 1
        if fresh:
            result.batch_id = self._store(tenant_id, fresh, now, actor)
            result.accepted = len(fresh)
        self.index_sources(tenant_id, actor)  # events stored before migration 0023, a batch at a time
        self._logbook.record("events.uploaded", actor, tenant_id=tenant_id, object_type="event_batch",
                             object_id=result.batch_id, detail=f"accepted={result.accepted} "
                             f"duplicates={result.duplicates} rejected={len(result.rejected)}")
        return result

    def _existing(self, tenant_id: uuid.UUID, dedupes: list[bytes]) -> set[bytes]:
        seen: set[bytes] = set()
        for start in range(0, len(dedupes), _IN_CHUNK):
            seen.update(bytes(d) for d in self._session.execute(sa.select(AccessEvent.dedupe).where(
                AccessEvent.tenant_id == tenant_id, AccessEvent.dedupe.in_(dedupes[start:start + _IN_CHUNK]))).scalars())
        return seen

    def _store(self, tenant_id: uuid.UUID, events: dict[bytes, NewEvent], now: dt.datetime, actor: Actor) -> uuid.UUID:
        batch_id = uuid.uuid4()
        data_key = secrets.token_bytes(32)
        wrapped, version = self._keys.wrap(tenant_id, batch_key_owner(batch_id), data_key, actor)
        self._session.add(EventBatch(id=batch_id, tenant_id=tenant_id, key_version=version, wrapped_key=wrapped,
                                     received_at=now))
        self._session.flush()
        persons = self._persons.record_by_email(tenant_id, {e.actor_email for e in events.values()}, actor)
        keys = self._persons.keys_for_use(tenant_id, list({p.id: p for p in persons.values()}.values()), ACTOR_KEY,
                                          batch_id, actor)
        actor_ciphers = {person_id: FieldCipher(key, PERSON_FIELD_VERSION) for person_id, key in keys.items() if key is not None}
        batch_cipher = FieldCipher(data_key, BATCH_FIELD_VERSION)
        projects: dict[str, bytes] = {}
        sources: dict[str, bytes] = {}
        rows: list[dict[str, Any]] = []
        for dedupe, event in events.items():
            row_id = uuid.uuid4()
            person = persons[event.actor_email]
            project = projects.get(event.project)
            if project is None:
                project = projects[event.project] = self.project_lookup(tenant_id, event.project)
            source = sources.get(event.source)
            if source is None:
                source = sources[event.source] = self.source_lookup(tenant_id, event.source)
            content = json.dumps({"id": event.id, "source": event.source, "action": event.action,
                                  "object": event.object, "project": event.project}, ensure_ascii=False)
            rows.append({
                "id": row_id, "tenant_id": tenant_id, "batch_id": batch_id, "person_id": person.id, "dedupe": dedupe,
                "project_lookup": project, "source_lookup": source, "occurred_at": event.occurred_at, "received_at": now,
                "actor_sealed": actor_ciphers[person.id].seal(event.actor_email, _actor_place(row_id)),
                "content_sealed": batch_cipher.seal(content, _content_place(row_id)),
            })
        # Core, not the ORM's bulk path: the rows are complete, and the ORM's per-row work doubled the time.
        self._session.execute(sa.insert(_EVENTS), rows)
        return batch_id

    def project_lookup(self, tenant_id: uuid.UUID, project: str) -> bytes:
        return self._index.compute("access-event-project", project, tenant_id)

    def source_lookup(self, tenant_id: uuid.UUID, source: str) -> bytes:
        """The source's blind index: the project's construction, under its own purpose."""
        return self._index.compute("access-event-source", source, tenant_id)

    def index_sources(self, tenant_id: uuid.UUID, actor: Actor, limit: int = INDEX_BATCH) -> int:
        """Fill in the source's blind index of up to ``limit`` of the tenant's events stored before
        it existed (migration 0023), opening each one's sealed content; returns how many. The
        logbook has the batch keys' unwraps, never a source."""
        rows = list(self._session.execute(sa.select(AccessEvent).where(
            AccessEvent.tenant_id == tenant_id, AccessEvent.source_lookup.is_(None)).limit(limit)).scalars())
        contents = self._contents(tenant_id, rows, actor, tenant_id)
        lookups: dict[str, bytes] = {}
        for row in rows:
            source = contents[row.id]["source"]
            if source not in lookups:
                lookups[source] = self.source_lookup(tenant_id, source)
            row.source_lookup = lookups[source]
        if rows:
            self._session.flush()
        return len(rows)

    def labels(self, tenant_id: uuid.UUID, row_ids: Collection[uuid.UUID], actor: Actor) -> dict[uuid.UUID, tuple[str, str]]:
        """(source, project) of each of these events of the tenant, opened for display."""
        rows: list[AccessEvent] = []
        ids = list(row_ids)
        for start in range(0, len(ids), _IN_CHUNK):
            rows += self._session.execute(sa.select(AccessEvent).where(
                AccessEvent.tenant_id == tenant_id, AccessEvent.id.in_(ids[start:start + _IN_CHUNK]))).scalars()
        contents = self._contents(tenant_id, rows, actor, tenant_id)
        return {row_id: (content["source"], content["project"]) for row_id, content in contents.items()}

    # --- reading --------------------------------------------------------------------
    def events_for_project(self, tenant_id: uuid.UUID, project: str, since: dt.datetime | None, actor: Actor,
                           limit: int = MAX_PAGE, cursor: str | None = None) -> EventPage:
        """The tenant's events for one project code at or after ``since``, oldest first (then
        by row id), ``limit`` at a time; ``cursor`` continues where the previous page ended
        (CursorInvalid for one this listing did not give)."""
        limit = max(1, min(limit, MAX_PAGE))
        lookup = self.project_lookup(tenant_id, project)
        scope = f"{lookup.hex()}|{since.isoformat() if since else '-'}"
        query = sa.select(AccessEvent).where(AccessEvent.tenant_id == tenant_id, AccessEvent.project_lookup == lookup)
        if since is not None:
            query = query.where(AccessEvent.occurred_at >= since)
        if cursor is not None:
            after, after_id = self._read_cursor(tenant_id, scope, cursor)
            query = query.where(sa.or_(AccessEvent.occurred_at > after,
                                       sa.and_(AccessEvent.occurred_at == after, AccessEvent.id > after_id)))
        rows = list(self._session.execute(query.order_by(AccessEvent.occurred_at, AccessEvent.id)
                                          .limit(limit + 1)).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        views = self._open(tenant_id, rows, actor, tenant_id)
        next_cursor = self._cursor(tenant_id, scope, rows[-1]) if more else None
        return EventPage(views, next_cursor)

    def first_access_by_person(self, tenant_id: uuid.UUID, project: str,
                               since: dt.datetime | None = None) -> dict[uuid.UUID, dt.datetime]:
        """When each person first accessed the project (for insider-list proposals)."""
        query = sa.select(AccessEvent.person_id, sa.func.min(AccessEvent.occurred_at)).where(
            AccessEvent.tenant_id == tenant_id, AccessEvent.project_lookup == self.project_lookup(tenant_id, project))
        if since is not None:
            query = query.where(AccessEvent.occurred_at >= since)
        return {person_id: first for person_id, first in self._session.execute(
            query.group_by(AccessEvent.person_id)).all()}

    def last_access_by_person(self, tenant_id: uuid.UUID, project: str) -> dict[uuid.UUID, dt.datetime]:
        """When each person last accessed the project (access after ceasing, or after a dismissal)."""
        query = sa.select(AccessEvent.person_id, sa.func.max(AccessEvent.occurred_at)).where(
            AccessEvent.tenant_id == tenant_id, AccessEvent.project_lookup == self.project_lookup(tenant_id, project))
        return {person_id: last for person_id, last in self._session.execute(
            query.group_by(AccessEvent.person_id)).all()}

    def events_of_person(self, person: Person, actor: Actor) -> list[EventView]:
        """Every event whose actor is this person (GDPR export), oldest first."""
        if person.tenant_id is None:
            return []
        rows = list(self._session.execute(sa.select(AccessEvent).where(
            AccessEvent.tenant_id == person.tenant_id, AccessEvent.person_id == person.id).order_by(
            AccessEvent.occurred_at, AccessEvent.id)).scalars())
        return self._open(person.tenant_id, rows, actor, person.id)

    def _contents(self, tenant_id: uuid.UUID, rows: list[AccessEvent], actor: Actor,
                  use: uuid.UUID) -> dict[uuid.UUID, dict[str, str]]:
        """Each row's sealed content (id, source, action, object, project), opened under its batch's key."""
        if not rows:
            return {}
        batches = {b.id: b for b in self._session.execute(sa.select(EventBatch).where(
            EventBatch.tenant_id == tenant_id, EventBatch.id.in_({r.batch_id for r in rows}))).scalars()}
        ordered = list(batches.values())
        opened = self._keys.unwrap_many(tenant_id, [(batch_key_owner(b.id), b.key_version, b.wrapped_key)
                                                    for b in ordered], actor, BATCH_KEY, use)
        ciphers = {b.id: FieldCipher(key, BATCH_FIELD_VERSION) for b, key in zip(ordered, opened, strict=True)}
        return {row.id: json.loads(ciphers[row.batch_id].open(row.content_sealed, _content_place(row.id)))
                for row in rows}

    def _open(self, tenant_id: uuid.UUID, rows: list[AccessEvent], actor: Actor,
              use: uuid.UUID) -> list[EventView]:
        if not rows:
            return []
        contents = self._contents(tenant_id, rows, actor, use)
        persons = list(self._session.execute(sa.select(Person).where(
            Person.tenant_id == tenant_id, Person.id.in_({r.person_id for r in rows}))).scalars())
        keys = self._persons.keys_for_use(tenant_id, persons, ACTOR_KEY, use, actor)
        actor_ciphers = {person_id: FieldCipher(key, PERSON_FIELD_VERSION) for person_id, key in keys.items() if key is not None}
        views = []
        for row in rows:
            content = contents[row.id]
            actor_cipher = actor_ciphers.get(row.person_id)
            email = actor_cipher.open(row.actor_sealed, _actor_place(row.id)) if actor_cipher else None
            views.append(EventView(row.id, content["id"], content["source"], row.occurred_at, email,
                                   content["action"], content["object"], content["project"], row.person_id))
        return views

    # --- cursors --------------------------------------------------------------------
    def _cursor(self, tenant_id: uuid.UUID, scope: str, row: AccessEvent) -> str:
        payload = f"{row.occurred_at.isoformat()}|{row.id.hex}"
        mac = self._index.compute("access-event-cursor", f"{scope}|{payload}", tenant_id)[:16]
        return base64.urlsafe_b64encode(payload.encode() + b"|" + mac).decode().rstrip("=")

    def _read_cursor(self, tenant_id: uuid.UUID, scope: str, cursor: str) -> tuple[dt.datetime, uuid.UUID]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            payload, mac = raw[:-17].decode("ascii"), raw[-16:]
            expected = self._index.compute("access-event-cursor", f"{scope}|{payload}", tenant_id)[:16]
            if len(cursor) > 200 or raw[-17:-16] != b"|" or not hmac.compare_digest(mac, expected):
                raise CursorInvalid()
            moment, row_id = payload.split("|")
            return dt.datetime.fromisoformat(moment), uuid.UUID(hex=row_id)
        except (ValueError, UnicodeDecodeError):
            raise CursorInvalid() from None


def batch_key_owner(batch_id: uuid.UUID) -> str:
    """The owner a batch's data key is wrapped for (``DataKeys.wrap``'s ``owner``)."""
    return f"event-batch/{batch_id}"


def _actor_place(row_id: uuid.UUID) -> Place:
    return Place("access_events", "actor_email", row_id)


def _content_place(row_id: uuid.UUID) -> Place:
    return Place("access_events", "content", row_id)


def forget_person(session: Session, person_id: uuid.UUID) -> int:
    """Delete the events whose actor is this person (erasure); returns how many."""
    result = session.execute(sa.delete(AccessEvent).where(AccessEvent.person_id == person_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def old_events(session: Session, cutoff: dt.datetime) -> int:
    """How many events, of every tenant, happened before ``cutoff`` (a retention dry run)."""
    return int(session.execute(sa.select(sa.func.count()).select_from(AccessEvent).where(
        AccessEvent.occurred_at < cutoff)).scalar_one())


def delete_old_events(session: Session, cutoff: dt.datetime) -> int:
    """Delete the events that happened before ``cutoff``, tenant by tenant, and the batches left
    without events (their keys with them); returns how many events went."""
    deleted = 0
    for tenant_id in session.execute(sa.select(Tenant.id)).scalars():
        result = session.execute(sa.delete(AccessEvent).where(AccessEvent.tenant_id == tenant_id,
                                                              AccessEvent.occurred_at < cutoff))
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
        session.execute(sa.delete(EventBatch).where(EventBatch.tenant_id == tenant_id, ~sa.exists(
            sa.select(AccessEvent.id).where(AccessEvent.batch_id == EventBatch.id))))
    return deleted
