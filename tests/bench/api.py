"""The JSON API: access events ingested per second, and report intake against the portal.

1. Access events: batches of 1,000 posted to POST /api/v1/events of create_app() on a real
   database, each event new (so each is checked, hashed twice, sealed twice and inserted), the
   actors drawn from a few hundred employees already on the person chain (the first batch
   records them; it is not measured). Goal: >= 5,000 events/s on SQLite.
2. Reports: POST /api/v1/reports (a report from another channel, JSON) against the portal's
   report form with the same text and no attachment (CSRF, form, sealing: the same pipeline).
   Goal: API reports/s >= 1.0 x portal submissions/s.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

from flask.testing import FlaskClient

from appliance.actors import CLI, Role
from appliance.context import AppContext, build_context
from appliance.services import Services
from tests.bench.common import (
    BACKENDS,
    Figures,
    HttpsClient,
    Multipart,
    form_references,
    fresh_database,
    parse_args,
    print_table,
)
from tests.support import add_reader, install_escrow, tenant_with_reader
from webapp import create_app

INGEST_GOAL = 5000.0
INTAKE_GOAL = 1.0
SLUG = "bench"
ACTORS = 300
ROUNDS = 2
PASSWORD = "bench horse battery staple"
TEXT = {"what": "The regional manager approves his own expense claims and splits them under the limit. " * 12,
        "when": "Every month since last spring", "where": "Sales office, Gothenburg",
        "who": "The regional manager; the assistant who books the claims"}
UNLIMITED = {"api_rate_limit_per_minute": 10**9, "report_limit_per_client": 10**9,
             "report_limit_per_channel": 10**9, "api_max_body_bytes": 4 * 1024 * 1024}


def setup(context: AppContext) -> tuple[uuid.UUID, str, str]:
    """A tenant sealing reports to two handlers and the escrow key; (category, events token, intake token)."""
    with context.unit_of_work() as session:
        services = Services(context, session)
        tenant, first_reader, _admin = tenant_with_reader(services, "Bench AB", SLUG, password=PASSWORD)
        second, _ = services.users.create_user("handler1@bench.example", PASSWORD, [(tenant.id, Role.HANDLER)], CLI,
                                               chosen_by_user=True)
        add_reader(services, tenant.id, first_reader, second.id)
        install_escrow(services, tenant.id, SLUG, first_reader)
        events = services.api_tokens.create(tenant.id, "dms", ["events:upload"], None, CLI).token
        intake = services.api_tokens.create(tenant.id, "hotline", ["reports:intake"], None, CLI).token
        return services.tenants.categories(tenant.id)[0].id, events, intake


def batch(number: int, size: int, now: dt.datetime) -> dict[str, Any]:
    return {"events": [{
        "id": f"{number}-{n}", "source": "dms", "occurred_at": (now - dt.timedelta(seconds=n)).isoformat(),
        "actor_email": f"employee{(number * size + n) % ACTORS}@bench.example", "action": "open",
        "object": f"/deals/falcon/data-room/{number}/{n}.pdf", "project": f"DEAL-{n % 7}"} for n in range(size)]}


def post(api: FlaskClient, path: str, token: str, body: dict[str, Any], expected: int) -> dict[str, Any]:
    response = api.post(path, json=body, headers={"Authorization": f"Bearer {token}"}, base_url="https://localhost")
    if response.status_code != expected:
        raise RuntimeError(f"POST {path} answered {response.status_code}, expected {expected}")
    answer: dict[str, Any] = response.get_json()
    return answer


def events_per_second(backend: str, batches: int, size: int) -> float:
    with fresh_database(backend, **UNLIMITED) as settings:
        context = build_context(settings)
        try:
            _category, token, _ = setup(context)
            api = create_app(context).test_client()
            now = context.clock()
            bodies = [batch(number, size, now) for number in range(batches + 1)]
            post(api, "/api/v1/events", token, bodies[0], 202)  # records the actors on the person chain
            start = time.perf_counter()
            for body in bodies[1:]:
                if post(api, "/api/v1/events", token, body, 202)["accepted"] != size:
                    raise RuntimeError("a batch was not stored whole")
            elapsed = time.perf_counter() - start
        finally:
            context.close()
    return batches * size / elapsed


def intake_per_second(backend: str, count: int) -> tuple[float, float]:
    """(API reports/s, portal submissions/s) on one fresh database."""
    with fresh_database(backend, **UNLIMITED) as settings:
        context = build_context(settings)
        try:
            category, _, token = setup(context)
            app = create_app(context)
            api = app.test_client()
            portal = HttpsClient(app)
            report = {**TEXT, "category": str(category), "contact": "", "channel": "phone",
                      "received_at": context.clock().isoformat()}
            csrf = portal.token(f"/r/{SLUG}/report")
            references = iter(form_references(context, SLUG, 1 + ROUNDS * count))

            def form() -> bytes:  # a form of its own per report: the same one sent again files nothing
                return (Multipart.fields({"csrf_token": csrf, "form_ref": next(references), "category": str(category),
                                          "what": TEXT["what"], "when": TEXT["when"], "where": TEXT["where"],
                                          "people": TEXT["who"]}) + f"--{Multipart.boundary}--\r\n".encode())

            post(api, "/api/v1/reports", token, report, 201)
            if portal.post(f"/r/{SLUG}/report", data=form(), content_type=Multipart.content_type).status_code != 303:
                raise RuntimeError("the portal did not accept the report")
            api_rate = portal_rate = 0.0
            for _ in range(ROUNDS):  # alternating, the best round of each: the database grows as they run
                start = time.perf_counter()
                for _ in range(count):
                    post(api, "/api/v1/reports", token, report, 201)
                api_rate = max(api_rate, count / (time.perf_counter() - start))
                forms = [form() for _ in range(count)]
                start = time.perf_counter()
                for body in forms:
                    if portal.post(f"/r/{SLUG}/report", data=body,
                                   content_type=Multipart.content_type).status_code != 303:
                        raise RuntimeError("the portal did not accept the report")
                portal_rate = max(portal_rate, count / (time.perf_counter() - start))
        finally:
            context.close()
    return api_rate, portal_rate


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    batches, size, reports = (2, 20, 3) if quick else (10, 1000, 60)
    figures: Figures = {}
    ingest_rows, intake_rows = [], []
    for backend in backends:
        rate = events_per_second(backend, batches, size)
        figures[f"{backend}.events_per_s"] = rate
        ingest_rows.append((backend, rate, 1000 * size / rate, "yes" if rate >= INGEST_GOAL else "NO"))
        api_rate, portal_rate = intake_per_second(backend, reports)
        ratio = api_rate / portal_rate
        figures.update({f"{backend}.api_reports_per_s": api_rate, f"{backend}.portal_reports_per_s": portal_rate,
                        f"{backend}.intake_ratio": ratio})
        intake_rows.append((backend, api_rate, portal_rate, ratio, "yes" if ratio >= INTAKE_GOAL else "NO"))
    print_table(
        f"1. Access events ingested/s through POST /api/v1/events ({batches} batches of {size})",
        f">= {INGEST_GOAL:,.0f} events/s on sqlite",
        ("backend", "events/s", "ms per batch", "goal met (sqlite)"), ingest_rows,
        [f"each event new; actors: {ACTORS} employees already on the person chain; 7 project codes; one thread"])
    print_table(
        f"2. API report intake against portal submissions ({reports} reports x {ROUNDS} rounds each, best round)",
        f"API reports/s >= {INTAKE_GOAL} x portal submissions/s",
        ("backend", "API reports/s", "portal reports/s", "ratio", "goal met"), intake_rows,
        ["the same text, no attachment; both sealed to two handlers, the reporter and the escrow key"])
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
