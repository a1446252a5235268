"""The world the web tests play in: builders and helpers (no tests here).

Two tenants (alpha, beta), one staff user per single role in alpha, a handler and an admin
in beta, and reports with attachments, messages and notes in both, all made through the
real services on the real database of the ``app``/``ctx``/``services``/``clock`` fixtures.
Tests take the ``world`` fixture (tests/functional/conftest.py); test_web_world.py checks the
world itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, url_for
from werkzeug.routing import Rule
from werkzeug.routing.converters import AnyConverter
from werkzeug.test import TestResponse

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.cases.attachments import Upload
from appliance.cases.models import Attachment, Case
from appliance.cases.queue_filter import QueueFilter
from appliance.cases.reporting import NewReport
from appliance.context import AppContext, build_context
from appliance.crypto import totp
from appliance.disclosures.service import DisclosureInput
from appliance.insiders.records import InsiderDetails
from appliance.persons.service import PersonDetails
from appliance.services import Services
from appliance.settings import Settings
from tests.functional.branding_support import logo_png
from tests.support import FrozenClock, add_reader, principal, start_reader_list
from tests.web import Browser, sign_in
from webapp import create_app
from webapp.policy import policy_of
from webapp.policy_guard import BUILTIN

PASSWORD = "correct horse battery staple"
ROLES = tuple(Role)
CONTENT_TABLES = ("cases", "attachments", "attachment_chunks", "case_messages", "case_notes", "case_subjects")


@dataclass(frozen=True)
class Staff:
    email: str
    user_id: uuid.UUID
    secret: str


@dataclass(frozen=True)
class Filed:
    """A report as the test knows it: ids, the case key and what was written."""

    id: uuid.UUID
    key: str
    reference: str
    what: str
    attachment_id: uuid.UUID  # the reporter's file
    attachment_name: str
    reply_attachment_id: uuid.UUID  # a handler's file in the thread
    note: str
    subject_entry_id: uuid.UUID  # a person named in the case


@dataclass(frozen=True)
class Org:
    slug: str
    tenant_id: uuid.UUID
    category_id: uuid.UUID
    staff: dict[Role, Staff]


@dataclass
class World:
    app: Flask
    ctx: AppContext
    clock: FrozenClock
    alpha: Org
    beta: Org
    alpha_case: Filed
    alpha_other_case: Filed
    beta_case: Filed
    target: Staff  # an alpha handler for administrators to act on
    signed_in: dict[uuid.UUID, Browser] = field(default_factory=dict)
    alpha_disclosure_id: uuid.UUID | None = None  # a delayed-disclosure record of alpha (MAR Art. 17(4))
    alpha_section_id: uuid.UUID | None = None  # an event section of alpha's insider list (MAR Art. 18)
    alpha_insider_id: uuid.UUID | None = None  # an insider on it
    alpha_redaction_id: uuid.UUID | None = None  # a retained redaction in a note of alpha's case (to purge)
    alpha_filter_id: uuid.UUID | None = None  # a queue search alpha's handler saved

    def browser(self, remote_addr: str = "127.0.0.1") -> Browser:
        browser = Browser(self.app)
        browser.client.environ_base["REMOTE_ADDR"] = remote_addr
        return browser

    def staff_browser(self, staff: Staff) -> Browser:
        """A browser signed in (password + TOTP over HTTP) as ``staff``; one per user."""
        if staff.user_id not in self.signed_in:
            browser = self.browser()
            response = sign_in(browser, staff.email, PASSWORD, staff.secret, self.clock)
            assert response.status_code == 303, browser.text()
            self.signed_in[staff.user_id] = browser
        return self.signed_in[staff.user_id]

    def reporter_browser(self, org: Org, case: Filed, remote_addr: str = "192.0.2.10") -> Browser:
        browser = self.browser(remote_addr)
        response = browser.post(f"/r/{org.slug}/follow-up", {"case_key": case.key})
        assert response.status_code == 303, browser.text()
        return browser


def make_staff(services: Services, clock: FrozenClock, grants: list[tuple[uuid.UUID, Role]],
               email: str | None = None) -> Staff:
    """A staff account with TOTP already enrolled (as the CLI and a first sign-in would leave it)."""
    address = email or f"staff-{uuid.uuid4().hex[:10]}@example.com"
    user, enrolment = services.users.create_user(address, PASSWORD, grants, CLI, with_totp=True,
                                                 chosen_by_user=True)
    assert enrolment is not None
    services.users.complete_enrolment(user.id, totp.current_code(enrolment.secret, clock()), "test-setup")
    services.session.commit()
    return Staff(address, user.id, enrolment.secret)


def make_org(services: Services, clock: FrozenClock, slug: str, roles: tuple[Role, ...]) -> Org:
    tenant = services.tenants.create_tenant(f"{slug.title()} Ltd", slug, CLI)
    services.session.commit()
    category = services.tenants.categories(tenant.id)[0]
    staff = {role: make_staff(services, clock, [(tenant.id, role)], f"{role.value}@{slug}.example.com")
             for role in roles}
    # The handler is the first reader; the organisation's administrator (or a compliance lead made
    # for it) confirms their fingerprint.
    lead = staff.get(Role.ADMIN) or make_staff(services, clock, [(tenant.id, Role.ADMIN)], f"lead@{slug}.example.com")
    start_reader_list(services, tenant.id, principal(services, staff[Role.HANDLER].user_id, PASSWORD),
                      principal(services, lead.user_id, PASSWORD))
    services.session.commit()
    return Org(slug, tenant.id, category.id, staff)


def file_case(services: Services, org: Org, label: str) -> Filed:
    """A report with a file, a handler's answer with a file, and an internal note."""
    what = f"{label} report text {uuid.uuid4().hex}"
    name = f"{label}-evidence.pdf"
    tenant = services.tenants.by_slug(org.slug)
    receipt = services.reporting.submit(tenant, NewReport(org.category_id, what, where=f"{label} warehouse"),
                                        [Upload(name, "application/pdf", io.BytesIO(b"%PDF " + label.encode() * 50))])
    handler_id = org.staff[Role.HANDLER].user_id
    handler = services.users.principal(handler_id, services.users.unlock_private_key(handler_id, PASSWORD))
    services.cases.post_message(handler, receipt.case_id, f"{label} handler answer",
                                [Upload(f"{label}-answer.txt", "text/plain", io.BytesIO(b"answer " * 20))])
    note = f"{label} internal note {uuid.uuid4().hex}"
    services.cases.add_note(handler, receipt.case_id, note)
    subject = services.case_subjects.add(handler, receipt.case_id,
                                         PersonDetails(f"{label} person", f"{label}-person@example.com"), "concerned")
    services.session.flush()
    rows = {source: attachment_id for attachment_id, source in services.session.execute(
        sa.select(Attachment.id, Attachment.source).where(Attachment.case_id == receipt.case_id))}
    reference = services.session.get_one(Case, receipt.case_id).reference
    services.session.commit()
    return Filed(receipt.case_id, receipt.case_key.display, reference, what, rows["reporter"], name, rows["handler"], note,
                 subject)


def build_world(app: Flask, ctx: AppContext, services: Services, clock: FrozenClock) -> World:
    alpha = make_org(services, clock, "alpha", ROLES)
    beta = make_org(services, clock, "beta", (Role.ADMIN, Role.HANDLER))
    target = make_staff(services, clock, [(alpha.tenant_id, Role.HANDLER)], "target@alpha.example.com")
    # A second reader who receives every new report: what administrators act on.
    add_reader(services, alpha.tenant_id, principal(services, alpha.staff[Role.HANDLER].user_id, PASSWORD),
               target.user_id)
    world = World(app, ctx, clock, alpha, beta, file_case(services, alpha, "alpha"),
                  file_case(services, alpha, "alpha-two"), file_case(services, beta, "beta"), target)
    world.alpha_disclosure_id = record_disclosure(services, clock, alpha.tenant_id, "alpha")
    world.alpha_section_id, world.alpha_insider_id = open_insider_section(services, clock, alpha.tenant_id, "alpha")
    world.alpha_redaction_id = redact_a_note(services, alpha, world.alpha_case.id)
    services.branding.set_logo(alpha.tenant_id, logo_png(), CLI)  # /r/alpha/logo answers in the route walks
    world.alpha_filter_id = services.saved_queue_filters.save(
        principal(services, alpha.staff[Role.HANDLER].user_id, PASSWORD), "alpha overdue",
        QueueFilter(overdue_only=True)).id
    services.session.commit()
    return world


def redact_a_note(services: Services, org: Org, case_id: uuid.UUID) -> uuid.UUID:
    """A second note of the case with a passage redacted and kept (retained), for the route walks."""
    handler_id = org.staff[Role.HANDLER].user_id
    handler = services.users.principal(handler_id, services.users.unlock_private_key(handler_id, PASSWORD))
    passage = f"redactable {uuid.uuid4().hex}"
    services.cases.add_note(handler, case_id, f"A second note: {passage}.")
    note = next(n for n in services.cases.open_case(handler, case_id).notes if passage in n.body)
    return services.redactions.redact_text(handler, case_id, "note", str(note.id), passage, "not relevant",
                                           purge=False)


def record_disclosure(services: Services, clock: FrozenClock, tenant_id: uuid.UUID, label: str) -> uuid.UUID:
    """A delayed-disclosure record (version 1); its id."""
    now = clock()
    version = services.disclosures.record(tenant_id, DisclosureInput(
        subject=f"{label} acquisition talks", first_existed_at=now - dt.timedelta(days=2),
        decided_at=now - dt.timedelta(days=1), planned_disclosure_at=now + dt.timedelta(days=20),
        conditions_met=f"{label} conditions", monitoring=f"{label} monitoring",
        confidentiality=f"{label} barriers", persons={"decision": (f"{label} chair",),
                                                      "monitoring": (f"{label} counsel",)}), CLI)
    services.session.commit()
    return version.disclosure_id


def open_insider_section(services: Services, clock: FrozenClock, tenant_id: uuid.UUID,
                         label: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An event section of the insider list with one insider on it; (section id, entry id)."""
    now = clock()
    # The project code the access events of the proposals tests name.
    section_id = services.insider_lists.create_section(tenant_id, f"{label.upper()}-DEAL", f"{label}'s deal",
                                                       now - dt.timedelta(days=1), CLI)
    entry_id = services.insider_lists.add_insider(tenant_id, section_id, InsiderDetails(
        first_name=f"{label} first", surname=f"{label} insider", function_reason="adviser"),
        now - dt.timedelta(hours=20), CLI)
    services.session.commit()
    return section_id, entry_id


# --- reading the database between requests ------------------------------------------
def scalar(ctx: AppContext, sql: str, **params: object) -> object:
    """One value read in its own short transaction (SQLite's BEGIN IMMEDIATE would block the app)."""
    with ctx.sessions() as session:
        # Raw SQL needs the stored form of a GUID: 32 hex digits on SQLite, a uuid on PostgreSQL.
        sqlite = session.get_bind().dialect.name == "sqlite"
        bound = {k: (v.hex if sqlite and isinstance(v, uuid.UUID) else v) for k, v in params.items()}
        try:
            return session.execute(sa.text(sql), bound).scalar()
        finally:
            session.rollback()


def count(ctx: AppContext, table: str, where: str = "", **params: object) -> int:
    return int(scalar(ctx, f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else ""),  # type: ignore[arg-type]
                      **params))


def content_counts(ctx: AppContext) -> dict[str, int]:
    return {table: count(ctx, table) for table in CONTENT_TABLES}


# --- looking at responses ---------------------------------------------------------------
def location_path(response: TestResponse) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def is_redirect_to(response: TestResponse, path: str) -> bool:
    return response.status_code in (301, 302, 303, 307, 308) and location_path(response) == path


def with_settings(settings: Settings, **overrides: object) -> Settings:
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


# --- walking the URL map -------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    endpoint: str
    method: str
    url: str
    policy: str

    def __str__(self) -> str:
        return f"{self.method} {self.url} ({self.endpoint}, {self.policy})"


def policy_for(app: Flask, endpoint: str) -> str | None:
    return BUILTIN.get(endpoint) or policy_of(app.view_functions.get(endpoint))


def routes_without_policy(app: Flask) -> list[str]:
    return sorted(f"{rule.rule} -> {rule.endpoint}" for rule in app.url_map.iter_rules()
                  if policy_for(app, rule.endpoint) is None)


NOBODY = uuid.UUID(int=1)


def fill_values(world: World) -> dict[str, str]:
    """A real object of alpha for every URL parameter the app has."""
    return {
        "slug": world.alpha.slug,
        "case_id": str(world.alpha_case.id),
        "attachment_id": str(world.alpha_case.attachment_id),
        "user_id": str(world.target.user_id),
        "category_id": str(world.alpha.category_id),
        "entry_id": str(world.alpha_case.subject_entry_id),
        "change_id": str(uuid.UUID(str(scalar(  # the request that started alpha's reader list
            world.ctx, "SELECT id FROM reader_changes WHERE tenant_id = :t AND kind = 'start'",
            t=world.alpha.tenant_id)))),
        "filename": "app.css",
        "disclosure_id": str(world.alpha_disclosure_id),
        "reference": world.alpha_case.reference,
        "section_id": str(world.alpha_section_id),
        "insider_id": str(world.alpha_insider_id),
        "person_id": str(NOBODY),
        "question_key": "q1",
        "channel_id": str(uuid.UUID(str(scalar(  # alpha's default reporting channel
            world.ctx, "SELECT id FROM reporting_channels WHERE tenant_id = :t AND is_default = :d",
            t=world.alpha.tenant_id, d=True)))),
        "request_id": str(NOBODY),  # a consent request (none exists: the policy is what is walked)
        "redaction_id": str(world.alpha_redaction_id),
        "filter_id": str(world.alpha_filter_id),
    }


def calls(app: Flask, values: dict[str, str]) -> Iterator[Call]:
    """Every (method, concrete URL) of the URL map; an ``any`` parameter yields each choice."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        missing = rule.arguments - values.keys() - _choice_arguments(rule).keys()
        assert not missing, f"no test value for {sorted(missing)} in {rule.rule}; add one to fill_values()"
        for choice in _choices(rule):
            with app.test_request_context():
                url = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments if a not in choice}, **choice)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield Call(rule.endpoint, method, url, policy_for(app, rule.endpoint) or "none")


def assert_other_roles_refused(world: World, routes: Iterable[tuple[str, str]], *allowed: Role) -> None:
    """Every alpha staff member without one of the ``allowed`` roles gets 403 on every (method, url)
    of ``routes``: a GET as it is, a POST with a valid CSRF token (so the refusal is the role's)."""
    routes = list(routes)
    assert routes, "no routes to try"
    for role, staff in world.alpha.staff.items():
        if role in allowed:
            continue
        browser = world.staff_browser(staff)
        token = browser.token("/staff/account")
        for method, url in routes:
            response = browser.get(url) if method == "GET" else browser.post(url, {"csrf_token": token}, csrf=False)
            assert response.status_code == 403, f"{role.value} on {method} {url}: {response.status_code}"


def _choice_arguments(rule: Rule) -> dict[str, AnyConverter]:
    return {name: conv for name, conv in (rule._converters or {}).items() if isinstance(conv, AnyConverter)}


def _choices(rule: Rule) -> list[dict[str, str]]:
    choices: list[dict[str, str]] = [{}]
    for name, converter in _choice_arguments(rule).items():
        choices = [{**c, name: item} for c in choices for item in sorted(converter.items)]
    return choices


def audit_details(ctx: AppContext, action: str) -> list[str | None]:
    with ctx.sessions() as session:
        try:
            return list(session.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action == action)
                                        .order_by(AuditEvent.seq)))
        finally:
            session.rollback()


def audit_trail(ctx: AppContext, object_id: object) -> list[tuple[str, str, str | None]]:
    """(action, actor type, actor id) of every logbook event about one object, oldest first."""
    with ctx.sessions() as session:
        try:
            return [tuple(row) for row in session.execute(  # type: ignore[misc]
                sa.select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_id)
                .where(AuditEvent.object_id == str(object_id)).order_by(AuditEvent.seq))]
        finally:
            session.rollback()


LOGGERS = ("", "appliance", "appliance.audit", "webapp", "flask.app", "werkzeug", "sqlalchemy", "flask_wtf")


class Markers:
    """One unique, searchable marker per place a reporter or handler can write."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.all: dict[str, str] = {}

    def __getitem__(self, place: str) -> str:
        return self.all.setdefault(place, f"mk{self.run}{place.replace('-', '')}{uuid.uuid4().hex[:6]}")


def app_with(ctx: AppContext, clock: FrozenClock, **overrides: object) -> Iterator[Flask]:
    """A second app on the same database with other settings."""
    other = build_context(dataclasses.replace(ctx.settings, **overrides), clock=clock)  # type: ignore[arg-type]
    application = create_app(other)
    application.config["TESTING"] = True
    yield application
    other.close()


def assert_hardened(response: TestResponse, *, page: bool = True) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.path} ({response.status_code})"
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp or "default-src 'none'" in csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "frame-ancestors 'none'" in csp or "sandbox" in csp, where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    if page:
        assert "no-store" in headers.get("Cache-Control", ""), where
