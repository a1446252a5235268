"""Pages and submissions per second of the running appliance against a bare Flask page.

The appliance runs as `appliance serve` (gunicorn, WORKERS/THREADS defaults) on the embedded
SQLCipher database and on PostgreSQL, set up as scripts/run does (`appliance init`, `db upgrade`,
`demo setup`); the baseline is a bare Flask page (tests/bench/bare_app.py) under the same gunicorn
settings. 4 client threads on loopback, each opening a new connection per request as nginx does
towards the app (its upstream keeps no idle connections; over 4 keep-alive connections one of
gunicorn's workers accepted all four and the other core stayed idle). The scenarios are measured
in interleaved rounds and every ratio is taken within one round (the median round is shown), so
other load on the machine touches both sides of a ratio alike.
Goals (issue 19): portal and report form GET >= 0.6 x the bare page; a new report (GET the form,
POST 4 text fields) >= 0.5 x the form's GET, with a 100 KB attachment >= 0.4; a follow-up
message (POST to the case page of a signed-in reporter) >= 0.8 x the form's GET.
The handler's queue and case pages (20 messages) are profiled in process: tests/bench/web_profile.py.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence

from tests.bench import web_profile
from tests.bench.common import BACKENDS, Figures, Multipart, parse_args, print_table
from tests.bench.served import CASE_KEY, CATEGORY, Client, Served, appliance, bare_flask, csrf_of
from tests.bench.web_profile import TEXTS
from tests.web import form_ref

THREADS = 4
SLUG = "demo"
PORTAL, FORM = f"/r/{SLUG}/", f"/r/{SLUG}/report"
ATTACHMENT_BYTES = 100 * 1024
# (name, what it is divided by, goal)
GOALS = (("portal GET", "bare", 0.6), ("form GET", "bare", 0.6), ("new report", "form GET", 0.5),
         ("new report + 100 KB", "form GET", 0.4), ("follow-up message", "form GET", 0.8))

Step = Callable[[Client], object]


def report_body(token: str, category: str, attachment: bytes | None, reference: str = "") -> bytes:
    body = Multipart.fields({"csrf_token": token, "form_ref": reference, "category": category, **TEXTS})
    if attachment is not None:
        body += Multipart.file_head("attachments", "expenses.pdf", "application/pdf") + attachment
    return body + Multipart.end()


def file_report(client: Client, attachment: bytes | None = None) -> str:
    """GET the form, POST a report; the case key from the receipt."""
    form = client.expect("GET", FORM, 200)
    category = CATEGORY.search(form)
    if category is None:
        raise RuntimeError("no category on the report form")
    client.expect("POST", FORM, 303, report_body(csrf_of(form, FORM), category.group(1), attachment,
                                                 form_ref(form) or ""), Multipart.content_type)
    key = CASE_KEY.search(client.expect("GET", f"/r/{SLUG}/receipt", 200))  # shown there once
    if key is None:
        raise RuntimeError("the report was not accepted (no case key on the receipt)")
    return key.group(1)


def sign_in_reporter(client: Client) -> str:
    """File a report, enter its case key; the CSRF token of the case page's forms."""
    key = file_report(client)
    token = csrf_of(client.expect("GET", f"/r/{SLUG}/follow-up", 200), "the follow-up page")
    client.expect("POST", f"/r/{SLUG}/follow-up", 303,
                  Multipart.fields({"csrf_token": token, "case_key": key}) + Multipart.end(), Multipart.content_type)
    return csrf_of(client.expect("GET", f"/r/{SLUG}/case", 200), "the case page")


def rate(clients: Sequence[Client], step: Step, seconds: float) -> float:
    """Completed steps per second over ``THREADS`` threads, each with its own client; every
    thread does at least one step."""
    counts = [0] * len(clients)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(clients) + 1)

    def work(index: int) -> None:
        barrier.wait()
        deadline = time.perf_counter() + seconds
        try:
            while True:
                step(clients[index])
                counts[index] += 1
                if time.perf_counter() >= deadline:
                    break
        except BaseException as exc:  # reported by the caller, with the step's own message
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]}") from errors[0]
    return sum(counts) / elapsed


def measure(backend: str, bare: Served, rounds: int, seconds: float) -> list[dict[str, float]]:
    """Per round: steps per second of each scenario, interleaved, bare page included."""
    attachment = os.urandom(ATTACHMENT_BYTES)
    with appliance(backend) as served:
        bare_clients = [bare.client(per_request=True) for _ in range(THREADS)]
        page_clients = [served.client(per_request=True) for _ in range(THREADS)]
        reporters = [served.client(per_request=True) for _ in range(THREADS)]
        tokens = {id(client): sign_in_reporter(client) for client in reporters}
        message = Multipart.fields({"body": "One more thing: the claims for March were booked twice."}) + Multipart.end()

        def follow_up(client: Client) -> None:
            body = Multipart.fields({"csrf_token": tokens[id(client)]}) + message
            client.expect("POST", f"/r/{SLUG}/case/reply", 303, body, Multipart.content_type)

        scenarios: dict[str, tuple[Sequence[Client], Step]] = {
            "bare": (bare_clients, lambda c: c.expect("GET", "/", 200)),
            "portal GET": (page_clients, lambda c: c.expect("GET", PORTAL, 200)),
            "form GET": (page_clients, lambda c: c.expect("GET", FORM, 200)),
            "new report": (page_clients, lambda c: file_report(c)),
            "new report + 100 KB": (page_clients, lambda c: file_report(c, attachment)),
            "follow-up message": (reporters, follow_up),
        }
        for clients, step in scenarios.values():  # warm-up: every worker has served each page once
            rate(clients, step, 0)
        results = []
        for _ in range(rounds):
            results.append({name: rate(clients, step, seconds) for name, (clients, step) in scenarios.items()})
        for client in [*bare_clients, *page_clients, *reporters]:
            client.close()
    return results


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    rounds, seconds = (1, 0.2) if quick else (5, 3.0)
    figures: Figures = {}
    rows: list[Sequence[object]] = []
    with bare_flask() as bare:
        for backend in backends:
            results = measure(backend, bare, rounds, seconds)
            rates = {name: statistics.median(r[name] for r in results) for name in results[0]}
            rows.append((backend, "bare Flask page", rates["bare"], "", "", ""))
            figures[f"{backend}.bare_per_s"] = rates["bare"]
            for name, base, goal in GOALS:
                ratio = statistics.median(r[name] / r[base] for r in results)
                slug = name.replace(" ", "_").replace("+", "with").replace("-", "_")
                figures |= {f"{backend}.{slug}_per_s": rates[name], f"{backend}.{slug}_ratio": ratio}
                rows.append((backend, name, rates[name], f"÷ {base}", ratio,
                             f">= {goal}: {'yes' if ratio >= goal else 'NO'}"))
    print_table(
        f"Web: the running appliance against a bare Flask page ({THREADS} client threads, {rounds} interleaved "
        f"rounds of {seconds:g} s per scenario, median round)",
        "portal/form GET >= 0.6 x bare; new report >= 0.5 x form GET (100 KB attachment >= 0.4); "
        "follow-up >= 0.8 x form GET",
        ("backend", "scenario", "per s", "ratio of", "ratio", "goal"), rows,
        ["`appliance serve` (gunicorn gthread, WORKERS/THREADS defaults) over loopback HTTP, a connection per "
         "request as from nginx; a new report is "
         "GET the form + POST it (4 text fields, CSRF, sealed to the demo's reader and escrow key, logbook, commit)",
         "follow-up: POST of a text message by a signed-in reporter (303, redirect not followed)"])
    figures |= web_profile.run(quick, backends)
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
