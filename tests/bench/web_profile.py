"""Where a request's time goes, in process: the portal and report form pages, a report POST,
the handler's queue page and a case page with 20 messages (part of `./scripts/bench web`).

Each page is timed without a profiler (median per request), then run again under cProfile;
the profile's own time per function is summed by where the function lives: the database
(SQLAlchemy, the SQLCipher/psycopg drivers), crypto (cryptography, PyNaCl, argon2,
appliance/crypto, hashing), templates (Jinja2 and the compiled templates, MarkupSafe, Babel,
WTForms' widgets) and the rest (Flask, Werkzeug, the appliance's own code).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import uuid
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.cases.models import Case
from appliance.context import AppContext, build_context
from appliance.services import Services
from tests.bench.common import BACKENDS, Figures, HttpsClient, Multipart, fresh_database, median_seconds, print_table
from tests.bench.handler_queue import sign_in
from tests.bench.served import runtime_dir
from tests.support import install_escrow, principal, start_reader_list
from tests.web import CASE_KEY
from webapp import create_app

SLUG = "bench"
PASSWORD = "bench horse battery staple"
HANDLER = "handler@bench.example"  # tests/bench/handler_queue.sign_in signs this address in
MESSAGES = 20
TEXTS = {"what": "The regional manager approves his own expense claims and splits them under the limit. " * 12,
         "when": "Every month since last spring", "where": "Sales office, Gothenburg",
         "people": "The regional manager; the assistant who books the claims"}  # a report's 4 text fields
TOP = 25
SCAFFOLD = ("tests/", "werkzeug/test.py", "flask/testing.py", "flask/app.py", "~")
PARTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("database", re.compile(r"/sqlalchemy/|sqlcipher3|sqlite3|/psycopg|psycopg_binary")),
    ("crypto", re.compile(r"/cryptography/|/nacl/|/argon2|appliance/crypto/|_hashlib|'hmac'|/hmac\.py|_cffi")),
    ("templates", re.compile(r"/jinja2/|/markupsafe/|/babel/|/flask_babel/|/wtforms/|\.html|<template>")),
)
Request = Callable[[], object]


def setup(context: AppContext) -> tuple[HttpsClient, HttpsClient, uuid.UUID, str]:
    """A tenant whose handler (with TOTP) is the first reader; a signed-in handler client, a reporter
    client with a filed report and its session, the case's id with ``MESSAGES`` messages."""
    with context.unit_of_work() as session:
        services = Services(context, session)
        tenant = services.tenants.create_tenant("Bench AB", SLUG, CLI)
        handler, enrolment = services.users.create_user(HANDLER, PASSWORD, [(tenant.id, Role.HANDLER)], CLI,
                                                        with_totp=True, chosen_by_user=True)
        admin, _ = services.users.create_user("admin@bench.example", PASSWORD, [(tenant.id, Role.ADMIN)], CLI,
                                              chosen_by_user=True)
        assert enrolment is not None
        reader = principal(services, handler.id, PASSWORD)
        start_reader_list(services, tenant.id, reader, principal(services, admin.id, PASSWORD))
        install_escrow(services, tenant.id, SLUG, reader)
        category = str(services.tenants.categories(tenant.id)[0].id)
    app = create_app(context)
    reporter, staff = HttpsClient(app), HttpsClient(app)
    token = reporter.token(f"/r/{SLUG}/report")
    receipt = reporter.post(f"/r/{SLUG}/report", data=report_body(token, category), content_type=Multipart.content_type)
    key = CASE_KEY.search(receipt.get_data(as_text=True))
    if key is None:
        raise RuntimeError(f"the report was not accepted (HTTP {receipt.status_code})")
    opened = reporter.post(f"/r/{SLUG}/follow-up", data={"csrf_token": reporter.token(f"/r/{SLUG}/follow-up"),
                                                         "case_key": key.group(1)})
    if opened.status_code != 303:
        raise RuntimeError(f"the case key was refused (HTTP {opened.status_code})")
    sign_in(staff, enrolment.secret)
    case_id = _only_case(context)
    reply_token = reporter.token(f"/r/{SLUG}/case")
    staff_token = staff.token(f"/staff/cases/{case_id}")
    for number in range(MESSAGES):
        if number % 2:
            answer = staff.post(f"/staff/cases/{case_id}/messages",
                                data={"csrf_token": staff_token, "body": f"Question {number}: when did it start?"})
        else:
            answer = reporter.post(f"/r/{SLUG}/case/reply",
                                   data={"csrf_token": reply_token, "body": f"Answer {number}: in March."})
        if answer.status_code != 303:
            raise RuntimeError(f"message {number} answered {answer.status_code}")
    return reporter, staff, case_id, category


def _only_case(context: AppContext) -> uuid.UUID:
    with context.unit_of_work() as session:
        return session.execute(sa.select(Case.id)).scalar_one()


def report_body(token: str, category: str) -> bytes:
    return Multipart.fields({"csrf_token": token, "category": category, **TEXTS}) + Multipart.end()


def shares(profile: pstats.Stats) -> dict[str, float]:
    """Each part's share of the profile's own time (the rest is "other")."""
    totals = dict.fromkeys([name for name, _ in PARTS] + ["other"], 0.0)
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in profile.stats.items():  # type: ignore[attr-defined]
        where = f"{filename} {function}"
        part = next((name for name, pattern in PARTS if pattern.search(where)), "other")
        totals[part] += own
    whole = sum(totals.values()) or 1.0
    return {name: value / whole for name, value in totals.items()}


def top_functions(profile: pstats.Stats, requests: int) -> list[tuple[str, float, float]]:
    """(function, cumulative ms per request, own ms per request), by cumulative time."""
    rows = []
    for (filename, line, function), (_cc, _nc, own, cumulative, _callers) in profile.stats.items():  # type: ignore[attr-defined]
        short = re.sub(r".*/(site-packages|wt-[^/]+|lib/python3[^/]*)/", "", filename)
        if short.startswith(SCAFFOLD):  # the test client and Flask's dispatch around every request
            continue
        rows.append((f"{short}:{line}({function})", cumulative * 1000 / requests, own * 1000 / requests))
    rows.sort(key=lambda row: -row[1])
    return rows[:TOP]


def profiled(request: Request, count: int) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        request()
    profiler.disable()
    return pstats.Stats(profiler)


def expect(client: HttpsClient, method: str, path: str, status: int, **kw: object) -> Request:
    def request() -> None:
        response = client.get(path, **kw) if method == "GET" else client.post(path, **kw)
        if response.status_code != status:
            raise RuntimeError(f"{method} {path} answered {response.status_code}, expected {status}")
    return request


def measure(backend: str, count: int) -> dict[str, tuple[float, dict[str, float], pstats.Stats]]:
    limits = {"report_limit_per_client": 10**9, "report_limit_per_channel": 10**9}
    with runtime_dir() as runtime, fresh_database(backend, runtime_dir=runtime, **limits) as settings:
        context = build_context(settings)
        try:
            reporter, staff, case_id, category = setup(context)
            token = reporter.token(f"/r/{SLUG}/report")
            pages: dict[str, Request] = {
                "portal GET": expect(reporter, "GET", f"/r/{SLUG}/", 200),
                "form GET": expect(reporter, "GET", f"/r/{SLUG}/report", 200),
                "report POST": expect(reporter, "POST", f"/r/{SLUG}/report", 200, data=report_body(token, category),
                                      content_type=Multipart.content_type),
                "queue page": expect(staff, "GET", "/staff/queue", 200),
                f"case page, {MESSAGES} messages": expect(staff, "GET", f"/staff/cases/{case_id}", 200),
            }
            results: dict[str, tuple[float, dict[str, float], pstats.Stats]] = {}
            for name, request in pages.items():
                seconds = median_seconds(request, count)
                profile = profiled(request, count)
                results[name] = (seconds, shares(profile), profile)
        finally:
            context.close()
    return results


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    count = 3 if quick else int(os.environ.get("BENCH_WEB_PROFILE_REQUESTS", "200"))
    figures: Figures = {}
    rows = []
    tops: list[tuple[str, list[tuple[str, float, float]]]] = []
    for backend in backends:
        for name, (seconds, parts, profile) in measure(backend, count).items():
            slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
            figures |= {f"{backend}.{slug}_ms": seconds * 1000,
                        **{f"{backend}.{slug}_{part}_share": share for part, share in parts.items()}}
            rows.append((backend, name, seconds * 1000, *(f"{parts[p] * 100:.0f} %" for p in parts)))
            if name in ("form GET", "report POST"):
                tops.append((f"{backend}, {name}", top_functions(profile, count)))
    print_table(f"Web in process: time per request (median of {count}, no profiler) and where it goes "
                f"(own time under cProfile, {count} requests)",
                "state the per-request time and the share in the database, crypto and templates (no figure to meet)",
                ("backend", "page", "ms", "database", "crypto", "templates", "other"), rows,
                ["one thread, Flask's test client against create_app() (no HTTP server); the report POST has 4 text "
                 "fields and is sealed to the handler and the escrow key; the case page shows the report and "
                 f"{MESSAGES} messages (half the reporter's, half the handler's)"])
    for title, top in tops:
        print_table(f"Top functions by cumulative time: {title} (ms per request under cProfile)", "(profile)",
                    ("function", "cumulative ms", "own ms"), top)
    return figures
