"""Report submissions per second through the whole web stack, against a no-op POST.

A submission is 4 text fields and a 100 KB attachment, posted with a CSRF token to
/r/<slug>/report of create_app() on a real database: CSRF check, form validation, the
encrypted upload spool, per-case data key, sealed fields, sealed attachment chunks,
logbook, commit and the receipt page. The baseline posts the same multipart body to a
CSRF-exempt route that only parses and reads it and answers 204; that route is added
here to this app instance only, never to the real webapp.
Goal: submissions/s >= 0.5 x no-op POSTs/s.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, request

from appliance.actors import CLI, Role
from appliance.audit.models import AuditHead
from appliance.audit.service import HEAD_ROW
from appliance.cases.models import Case
from appliance.context import AppContext, build_context
from appliance.services import Services
from tests.bench.common import (
    BACKENDS,
    Figures,
    HttpsClient,
    Multipart,
    form_references,
    fresh_database,
    median_seconds,
    parse_args,
    print_table,
)
from tests.support import add_reader, install_escrow, tenant_with_reader
from webapp import create_app
from webapp.policy import access

GOAL = 0.5
ATTACHMENT_BYTES = 100 * 1024
SLUG = "bench"
NOOP_PATH = "/__bench/noop"
ROUNDS = 2  # each side is measured ROUNDS times, alternating; the best round counts


def noop_blueprint() -> Blueprint:
    blueprint = Blueprint("bench_noop", __name__)

    @blueprint.post(NOOP_PATH)
    @access("public")
    def noop() -> Response:
        _ = request.form  # parse the whole body, as the report view does
        for storage in request.files.getlist("attachments"):
            while storage.stream.read(1024 * 1024):
                pass
        return Response(status=204)

    return blueprint


def bench_app(context: AppContext) -> Flask:
    app = create_app(context)
    blueprint = noop_blueprint()
    app.extensions["csrf"].exempt(blueprint)
    app.register_blueprint(blueprint)
    return app


def submission_body(csrf_token: str, category_id: uuid.UUID, form_ref: str) -> bytes:
    return (Multipart.fields({
        "csrf_token": csrf_token,
        "form_ref": form_ref,
        "category": str(category_id),
        "what": "The regional manager approves his own expense claims and splits them under the limit. " * 12,
        "when": "Every month since last spring",
        "where": "Sales office, Gothenburg",
        "people": "The regional manager; the assistant who books the claims",
    }) + Multipart.file_head("attachments", "expenses.pdf", "application/pdf") + os.urandom(ATTACHMENT_BYTES)
        + Multipart.end())


def posts_per_second(client: HttpsClient, path: str, bodies: Sequence[bytes], expected: int) -> float:
    """Each body once (a report form of its own each: the same form sent again would file nothing)."""
    start = time.perf_counter()
    for body in bodies:
        response = client.post(path, data=body, content_type=Multipart.content_type)
        if response.status_code != expected:
            raise RuntimeError(f"POST {path} answered {response.status_code}, expected {expected}")
    return len(bodies) / (time.perf_counter() - start)


def bare_commit_seconds(context: AppContext, repeat: int) -> float:
    """One durable write transaction that does (almost) nothing: the floor under any submission."""

    def touch() -> None:
        with context.unit_of_work() as session:
            session.execute(sa.update(AuditHead).where(AuditHead.id == HEAD_ROW).values(seq=AuditHead.seq))

    return median_seconds(touch, repeat)


def measure(backend: str, count: int) -> tuple[float, float, float]:
    """(submissions/s, no-op POSTs/s, bare commit s) on a fresh database of ``backend``."""
    # One client posts every report: limits high enough never to refuse it (the admission itself,
    # a write to the runtime store, is still on the measured path).
    with fresh_database(backend, report_limit_per_client=10**9, report_limit_per_channel=10**9) as settings:
        context = build_context(settings)
        try:
            with context.unit_of_work() as session:
                services = Services(context, session)
                tenant, first_reader, _admin = tenant_with_reader(services, "Bench AB", SLUG,
                                                                  password="bench horse battery staple")
                category_id = services.tenants.categories(tenant.id)[0].id
                # Each report is sealed as in production: to two handlers, the reporter and the escrow key.
                second, _ = services.users.create_user("handler1@bench.example", "bench horse battery staple",
                                                       [(tenant.id, Role.HANDLER)], CLI, chosen_by_user=True)
                add_reader(services, tenant.id, first_reader, second.id)
                install_escrow(services, tenant.id, SLUG, first_reader)
            client = HttpsClient(bench_app(context))
            token = client.token(f"/r/{SLUG}/report")
            references = iter(form_references(context, SLUG, 1 + ROUNDS * count))
            first = client.post(f"/r/{SLUG}/report", data=submission_body(token, category_id, next(references)),
                                content_type=Multipart.content_type)
            receipt = client.get(f"/r/{SLUG}/receipt")
            if first.status_code != 303 or 'data-testid="case-key"' not in receipt.get_data(as_text=True):
                raise RuntimeError(f"the report was not accepted (HTTP {first.status_code})")
            real = noop = 0.0
            for _ in range(ROUNDS):  # the bodies are made before the clock starts
                bodies = [submission_body(token, category_id, next(references)) for _ in range(count)]
                if not noop:
                    posts_per_second(client, NOOP_PATH, bodies[:2], 204)
                real = max(real, posts_per_second(client, f"/r/{SLUG}/report", bodies, 303))
                noop = max(noop, posts_per_second(client, NOOP_PATH, bodies, 204))
            with context.unit_of_work() as session:
                cases = session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()
            if cases != 1 + ROUNDS * count:
                raise RuntimeError(f"{cases} cases stored, expected {1 + ROUNDS * count}")
            commit = bare_commit_seconds(context, count)
        finally:
            context.close()
    return real, noop, commit


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    count = 3 if quick else 150
    figures: Figures = {}
    rows = []
    for backend in backends:
        real, noop, commit = measure(backend, count)
        ratio = real / noop
        figures.update({f"{backend}.submissions_per_s": real, f"{backend}.noop_posts_per_s": noop,
                        f"{backend}.ratio": ratio, f"{backend}.bare_commit_ms": commit * 1000})
        rows.append((backend, real, 1000 / real, noop, 1000 / noop, ratio, "yes" if ratio >= GOAL else "NO",
                     commit * 1000))
    print_table(
        f"1. Report submissions/s through the web stack ({count} posts x {ROUNDS} rounds, best round)",
        f"submissions/s >= {GOAL} x no-op POSTs/s of the same body",
        ("backend", "submissions/s", "ms each", "no-op POSTs/s", "ms each", "ratio", "goal met", "bare commit ms"),
        rows,
        ["a submission: 4 text fields + a 100 KB attachment, Flask test client against create_app(), "
         "https, CSRF, SQLCipher file / PostgreSQL on localhost; one thread",
         "no-op: the same multipart body parsed into the encrypted spool and read, then 204",
         "bare commit: a one-row UPDATE in its own durable transaction (fsync), the floor under any write"])
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
