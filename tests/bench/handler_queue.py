"""A handler's work queue over 10,000 cases, against the same query on a plaintext table.

The cases are sealed for real (a key pair and content key per case, the private key sealed
to the handler, every text field sealed with its AAD) and inserted in bulk. The plaintext variant is a table built
here with the same metadata columns and the report fields as plain text, the same
indexes, and the same keyset query (appliance/cases/queue.py) running on it.
Three queries: the first page (open cases, newest first), a page in the middle (by cursor),
and the first page of the overdue filter by deadline. Goal: each <= 1.2 x the plaintext
variant. Also times GET /staff/queue.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.audit.models import AuditEvent
from appliance.cases.access import _content_wrap, _context
from appliance.cases.models import Case, CasePrivateKeySeal, queue_columns
from appliance.cases.queue import PAGE_SIZE, QUEUE_COLUMNS, SORT_KEYS, CaseQueue, _beyond, queue_row
from appliance.cases.queue_filter import QueueFilter, QueueSort
from appliance.cases.read_models import QueueRow
from appliance.cases.workflow import Status
from appliance.clock import utcnow
from appliance.context import AppContext, build_context
from appliance.crypto import totp
from appliance.crypto.binding import KeyBinding
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.case_keys import CaseKey
from appliance.crypto.fields import Place
from appliance.crypto.sealing import fingerprint, new_private_key, public_key_of, seal_to
from appliance.db import GUID, NAMING, Digest, LongText, UTCDateTime
from appliance.services import Services
from appliance.tenants.models import ReportingChannel, Tenant
from tests.bench.common import BACKENDS, Figures, HttpsClient, fresh_database, median_seconds, parse_args, print_table
from webapp import create_app

GOAL = 1.2
CASES = 10_000
PASSWORD = "bench horse battery staple"
# (status, share): half the cases are closed, as in a queue that has run for a few years
STATUS_MIX = ((Status.RECEIVED, 0.08), (Status.ACKNOWLEDGED, 0.12), (Status.ASSESSING, 0.12),
              (Status.INVESTIGATING, 0.18), (Status.CLOSED, 0.50))
FIRST, MIDDLE, OVERDUE = "first page (open, newest first)", "a page in the middle", "overdue, by deadline"
QUERIES = ((FIRST, QueueFilter(open_only=True), False), (MIDDLE, QueueFilter(open_only=True), True),
           (OVERDUE, QueueFilter(open_only=True, overdue_only=True, sort=QueueSort.DEADLINE), False))


class PlainBase(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)  # not the appliance's schema


class PlainCase(PlainBase):
    """cases without encryption: no wrapped data key, report fields as plain text."""

    __tablename__ = "bench_plain_cases"
    __table_args__ = (sa.Index("ix_bench_plain_cases_tenant_status", "tenant_id", "status"),
                      sa.Index("ix_bench_plain_cases_tenant_due", "tenant_id", "next_due_at", "id"),
                      sa.Index("ix_bench_plain_cases_tenant_received", "tenant_id", "received_at", "id"),
                      sa.Index("ix_bench_plain_cases_tenant_rank", "tenant_id", "status_rank", "received_at", "id"))

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID)
    reference: Mapped[str] = mapped_column(sa.String(12), unique=True)
    category_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    status: Mapped[str] = mapped_column(sa.String(20))
    outcome: Mapped[str | None] = mapped_column(sa.String(30))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    feedback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_reporter_message_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handler_read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    case_key_index: Mapped[bytes] = mapped_column(Digest, unique=True)
    what: Mapped[str] = mapped_column(LongText)
    when: Mapped[str | None] = mapped_column(LongText)
    where: Mapped[str | None] = mapped_column(LongText)
    people: Mapped[str | None] = mapped_column(LongText)
    contact: Mapped[str | None] = mapped_column(LongText)
    conclusions: Mapped[str | None] = mapped_column(LongText)
    next_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_rank: Mapped[int] = mapped_column(sa.SmallInteger)
    reporting_channel_id: Mapped[uuid.UUID | None] = mapped_column(GUID)


class PlainCaseReader(PlainBase):
    """Who may read a case, as a plaintext product would keep it: the sealed copies' rows
    (case_private_key_seals) without the sealed key."""

    __tablename__ = "bench_plain_case_readers"
    __table_args__ = (sa.Index("ix_bench_plain_case_readers_user", "user_id", "case_id"),)

    case_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)


@functools.lru_cache(maxsize=16)
def _plain_statement(sort: QueueSort, descending: bool, open_only: bool, overdue: bool,
                     after: bool, access: bool) -> sa.Select[Any]:
    """CaseQueue's statement for one shape (appliance/cases/queue.py, _statement), on the
    plaintext table: built once, run with bound values. With ``access``, the same rule for
    channels with readers of their own, on the plaintext readers' table."""
    columns = [getattr(PlainCase, column.key) for column in QUEUE_COLUMNS if hasattr(PlainCase, column.key)]
    tenants: sa.BindParameter[Any] = sa.bindparam("tenants", expanding=True)
    query = sa.select(PlainCase.id, *columns).where(PlainCase.tenant_id.in_(tenants))
    if access:
        defaults = sa.select(ReportingChannel.id).where(ReportingChannel.is_default.is_(True),
                                                        ReportingChannel.tenant_id.in_(tenants))
        readable = sa.select(PlainCaseReader.case_id).where(PlainCaseReader.user_id == sa.bindparam("user"))
        query = query.where(sa.or_(PlainCase.reporting_channel_id.is_(None), PlainCase.reporting_channel_id.in_(defaults),
                                   PlainCase.id.in_(readable)))
    if open_only:
        query = query.where(PlainCase.status != Status.CLOSED.value)
    if overdue:
        query = query.where(PlainCase.next_due_at < sa.bindparam("now"))
    keys = [getattr(PlainCase, key.key) for key in SORT_KEYS[sort]]
    if after:
        query = query.where(_beyond(keys, [sa.bindparam(f"after_{i}") for i in range(len(keys))], descending))
    order = [key.desc() if descending else key.asc() for key in keys]
    return query.order_by(*order).limit(PAGE_SIZE + 1)


def plain_page(session: Session, principal: StaffPrincipal, filters: QueueFilter, now: dt.datetime,
               after: list[Any] | None = None, access: bool = False) -> list[QueueRow]:
    """CaseQueue.page() line for line (forwards), on the plaintext table."""
    values: dict[str, Any] = {"tenants": sorted(principal.tenants_with(Role.HANDLER)), "now": now,
                              "user": principal.user_id}
    if after is not None:
        values |= {f"after_{i}": value for i, value in enumerate(after)}
    statement = _plain_statement(filters.sort, filters.is_descending, filters.open_only, filters.overdue_only,
                                 after is not None, access)
    cases: list[Any] = list(session.execute(statement, values).all())
    return [queue_row(case, now) for case in cases[:PAGE_SIZE]]


class BulkCaseKeyPairs:
    """What CaseAccess.create_keys() and the sealing to a recipient do, as bulk-insert rows."""

    def __init__(self, tenant_id: uuid.UUID, handler_id: uuid.UUID, handler_public: bytes, binding: KeyBinding) -> None:
        self._tenant_id = tenant_id
        self._handler_id = handler_id
        self._handler_public = handler_public
        self._binding = binding

    def new_key_pair(self, case_id: uuid.UUID) -> tuple[CaseCipher, dict[str, Any], dict[str, Any]]:
        private = new_private_key()
        content_key = secrets.token_bytes(32)
        columns: dict[str, Any] = {"public_key": public_key_of(private), "content_key_sealed": _content_wrap(private).seal(
            content_key, Place("cases", "content_key", case_id))}
        columns["keys_mac"] = self._binding.tag("case-keys", case_id.bytes, columns["public_key"],
                                                bytes(columns["content_key_sealed"]))
        seal = {"id": uuid.uuid4(), "case_id": case_id, "tenant_id": self._tenant_id, "kind": "handler",
                "user_id": self._handler_id, "recipient_fingerprint": fingerprint(self._handler_public),
                "sealed": seal_to(self._handler_public, private, _context(case_id, "handler")), "created_at": utcnow()}
        return CaseCipher(content_key, private), columns, seal


def fill(context: AppContext, count: int) -> tuple[Tenant, StaffPrincipal, str]:
    """A tenant with ``count`` sealed cases (and their plaintext twins), and its handler."""
    rng = random.Random(20260302)
    now = utcnow()
    with context.unit_of_work() as session:
        services = Services(context, session)
        tenant = services.tenants.create_tenant("Bench AB", "bench", CLI)
        user, enrolment = services.users.create_user("handler@bench.example", PASSWORD,
                                                     [(tenant.id, Role.HANDLER)], CLI, with_totp=True,
                                                     chosen_by_user=True)
        assert enrolment is not None
        categories = [c.id for c in services.tenants.categories(tenant.id)]
    PlainBase.metadata.create_all(context.engine)
    assert user.public_key is not None
    sealer = BulkCaseKeyPairs(tenant.id, user.id, user.public_key, context.binding)
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    for start in range(0, count, 500):
        sealed_rows: list[dict[str, Any]] = []
        seal_rows: list[dict[str, Any]] = []
        plain_rows: list[dict[str, Any]] = []
        with context.unit_of_work() as session:
            for number in range(start, min(start + 500, count)):
                case_id = uuid.uuid4()
                cipher, key_columns, seal = sealer.new_key_pair(case_id)
                seal_rows.append(seal)
                status = rng.choices(statuses, weights)[0]
                received = now - dt.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
                acknowledged = None if status == Status.RECEIVED else received + dt.timedelta(days=rng.randrange(7))
                closed = received + dt.timedelta(days=rng.randrange(30, 200)) if status == Status.CLOSED else None
                texts = {
                    "what": rng.choice(("Invoices ", "Expense claims ", "Safety checks ")) * rng.randrange(40, 160),
                    "when": "Between March and May" if rng.random() < 0.8 else "",
                    "where": "Warehouse 4, night shift" if rng.random() < 0.7 else "",
                    "people": "The shift manager and two team leaders" if rng.random() < 0.6 else "",
                    "contact": f"reporter{number}@mail.example" if rng.random() < 0.3 else "",
                    "conclusions": "Substantiated; the process was changed. " * 5 if closed else "",
                }
                feedback = acknowledged + dt.timedelta(days=40) if acknowledged and rng.random() < 0.5 else None
                metadata = {
                    **queue_columns(received, acknowledged, feedback, status.value),
                    "id": case_id, "tenant_id": tenant.id, "reference": f"{number:04d}-{number * 7919 % 10000:04d}",
                    "category_id": rng.choice(categories), "status": status.value,
                    "outcome": "substantiated" if closed else None, "received_at": received,
                    "acknowledged_at": acknowledged, "feedback_at": feedback, "closed_at": closed,
                    "updated_at": closed or acknowledged or received,
                    "last_reporter_message_at": received + dt.timedelta(days=3) if rng.random() < 0.3 else None,
                    "handler_read_at": received + dt.timedelta(days=1) if acknowledged else None,
                    "assignee_id": user.id if rng.random() < 0.4 else None,
                    "case_key_index": context.blind_index.compute("case-key", CaseKey.new().normalised, tenant.id),
                }
                sealed_rows.append({**metadata, **key_columns, **{
                    f"{name}_sealed": cipher.seal(value, Place("cases", name, case_id)) if value else None
                    for name, value in texts.items()}})
                plain_rows.append({**metadata, **{name: value or None for name, value in texts.items()}})
            session.execute(sa.insert(Case), sealed_rows)
            session.execute(sa.insert(CasePrivateKeySeal), seal_rows)
            session.execute(sa.insert(PlainCase), plain_rows)
            session.execute(sa.insert(PlainCaseReader), [{"case_id": seal["case_id"], "user_id": seal["user_id"]}
                                                         for seal in seal_rows])
    with context.sessions() as session:
        services = Services(context, session)
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        # the rows are sealed for real: a handler can open them (rolled back: no read mark)
        if services.cases.open_case(principal, case_id).report.what != texts["what"]:
            raise RuntimeError("a bulk-inserted case does not open to its text")
        session.rollback()
    return tenant, principal, enrolment.secret


def sign_in(client: HttpsClient, secret: str) -> None:
    response = client.post("/staff/login", data={"csrf_token": client.token("/staff/login"),
                                                  "email": "handler@bench.example", "password": PASSWORD})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in answered {response.status_code}")
    target = response.headers["Location"]
    response = client.post(target, data={"csrf_token": client.token(target),
                                         "code": totp.current_code(secret, utcnow())})
    if response.status_code != 200:
        raise RuntimeError(f"the second factor answered {response.status_code}")


def measure(backend: str, count: int, repeat: int) -> dict[str, Any]:
    with fresh_database(backend) as settings:
        context = build_context(settings)
        try:
            started = time.perf_counter()
            _, principal, secret = fill(context, count)
            fill_seconds = time.perf_counter() - started
            if backend == "postgres":
                # Planner statistics, as autovacuum keeps them on a running server; right after
                # a bulk insert the planner guesses blind (the appliance never runs ANALYZE on
                # SQLite, so neither does this).
                with context.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
            result: dict[str, Any] = {"fill_s": fill_seconds, "filters": []}
            with context.unit_of_work() as session:
                events_before = session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()
            middle = middle_position(context, principal)
            cursor = CaseQueue(Session(), utcnow, context.master.derive("queue-cursor/v1"))._cursor(
                principal, QueueFilter(open_only=True), PAGE_SIZE, False,
                [middle[0].isoformat(), str(middle[1])])
            for label, filters, in_the_middle in QUERIES:
                found: list[int] = []

                def sealed(filters: QueueFilter = filters, found: list[int] = found,
                           start: str | None = cursor if in_the_middle else None) -> None:
                    with context.sessions() as session:
                        found.append(len(Services(context, session).cases.queue_page(principal, filters, start).rows))
                        session.rollback()

                def plain(filters: QueueFilter = filters, after: list[Any] | None = middle if in_the_middle
                          else None, access: bool = False) -> None:
                    with context.sessions() as session:
                        plain_page(session, principal, filters, utcnow(), after, access)
                        session.rollback()

                def plain_with_access(filters: QueueFilter = filters) -> None:
                    plain(filters, middle if in_the_middle else None, True)

                # alternate them, so drift in machine load hits each alike
                sealed_times, plain_times, access_times = [], [], []
                sealed(), plain(), plain_with_access()
                for _ in range(repeat):
                    sealed_times.append(_timed(sealed))
                    plain_times.append(_timed(plain))
                    access_times.append(_timed(plain_with_access))
                result["filters"].append((label, found[-1], statistics.median(sealed_times),
                                          statistics.median(plain_times), statistics.median(access_times)))
            with context.unit_of_work() as session:
                events_after = session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()
            result["queue_events"] = events_after - events_before

            client = HttpsClient(create_app(context))
            sign_in(client, secret)
            page_size = [0]

            def page() -> None:
                response = client.get("/staff/queue")
                if response.status_code != 200:
                    raise RuntimeError(f"GET /staff/queue answered {response.status_code}")
                page_size[0] = len(response.data)

            result["page_s"] = median_seconds(page, repeat)
            result["page_bytes"] = page_size[0]
        finally:
            context.close()
    return result


def middle_position(context: AppContext, principal: StaffPrincipal) -> list[Any]:
    """(received_at, id) of the open case halfway down the queue, newest first."""
    with context.sessions() as session:
        rows = session.execute(sa.select(PlainCase.received_at, PlainCase.id).where(
            PlainCase.tenant_id.in_(sorted(principal.tenants_with(Role.HANDLER))),
            PlainCase.status != Status.CLOSED.value).order_by(PlainCase.received_at.desc(), PlainCase.id.desc())).all()
    received_at, case_id = rows[len(rows) // 2]
    return [received_at, case_id]


def _timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    count, repeat = (300, 3) if quick else (CASES, 15)
    figures: Figures = {}
    queue_rows, page_rows, notes = [], [], []
    for backend in backends:
        result = measure(backend, count, repeat)
        for index, (label, found, sealed_s, plain_s, access_s) in enumerate(result["filters"]):
            ratio = sealed_s / plain_s
            queue_rows.append((backend, label, found, sealed_s * 1000, plain_s * 1000, ratio,
                               "yes" if ratio <= GOAL else "NO", access_s * 1000, sealed_s / access_s))
            key = ("first", "middle", "overdue")[index]
            figures.update({f"{backend}.queue_{key}_ms": sealed_s * 1000,
                            f"{backend}.plain_queue_{key}_ms": plain_s * 1000, f"{backend}.ratio_{key}": ratio,
                            f"{backend}.plain_access_queue_{key}_ms": access_s * 1000,
                            f"{backend}.ratio_to_access_{key}": sealed_s / access_s})
        page_rows.append((backend, result["page_s"] * 1000, result["filters"][0][1], result["page_bytes"] / 1024))
        figures[f"{backend}.page_ms"] = result["page_s"] * 1000
        notes.append(f"{backend}: {count:,} cases sealed and inserted in {result['fill_s']:.1f} s; "
                     f"logbook events written by {2 * repeat + 2} queue calls: {result['queue_events']}")
    print_table(
        f"2. Handler queue over {count:,} cases (median of {repeat}, each call in a new session)",
        f"CaseQueue.page() <= {GOAL} x the same query on a plaintext table",
        ("backend", "filter", "rows", "encrypted ms", "plaintext ms", "ratio", "goal met",
         "plaintext + access rule ms", "ratio to it"), queue_rows,
        ["the queue reads metadata only: it decrypts nothing, unseals no key and fetches only "
         "QUEUE_COLUMNS (no sealed column); the sealed variant also looks up, for the page's rows, "
         "the handler's sealed copy (to mark the cases they cannot open), and checks the page's signed cursor",
         f"keyset pages of {PAGE_SIZE} (CaseQueue.page): every filter in SQL, one index per sort",
         "plaintext table: the same columns and indexes, report fields as plain text, no wrapped key",
         "plaintext + access rule: the same statement also keeps out cases of a channel with readers of its own "
         "that the handler is not a reader of, from a plaintext readers' table (as CaseQueue does from the sealed "
         "copies); the goal is judged on the ratio to the plaintext table without it",
         *notes])
    print_table(f"2b. Queue page GET /staff/queue, signed-in handler (median of {repeat})",
                "(no goal; for reference)", ("backend", "page ms", "rows", "page KB"), page_rows)
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
