"""What sealed case keys cost a handler: signing in and opening a case.

1. Sign-in: UserService.authenticate_password() (throttle check, one argon2id run that both
   verifies the password and unwraps the private key, the logbook) against a bare argon2id
   verify with the same production parameters (RFC 9106: t=3, 64 MiB, p=4).
   Goal: >= 0.9 x the raw verify rate.
2. Case page: GET /staff/cases/<id> for a sealed case (the handler's copy unsealed with the
   key from their session) against the same case stored as the foundation stored it (data key
   wrapped under the tenant key). Goal: <= 1.2 x.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from argon2 import PasswordHasher, Type

from appliance.actors import CLI, Role
from appliance.cases.models import Case, CaseKeySeal
from appliance.cases.reporting import ReportForm
from appliance.context import build_context
from appliance.services import Services
from tests.bench.common import BACKENDS, Figures, HttpsClient, fresh_database, median_seconds, parse_args, print_table
from tests.bench.handler_queue import PASSWORD, sign_in
from tests.light import LIGHT
from tests.support import principal, start_reader_list
from webapp import create_app

LOGIN_GOAL, PAGE_GOAL = 0.9, 1.2
PRODUCTION = {"argon2_time_cost": 3, "argon2_memory_kib": 65536, "argon2_parallelism": 4}
MESSAGES = 20


def _rates(first: Any, second: Any, count: int) -> tuple[float, float]:
    """Calls per second of each, run alternately so drift in machine load hits both alike."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(count):
        for action, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            action()
            bucket.append(time.perf_counter() - start)
    return 1 / statistics.median(times[0]), 1 / statistics.median(times[1])


def measure(backend: str, quick: bool) -> dict[str, float]:
    params = LIGHT if quick else PRODUCTION
    logins, repeat = (2, 3) if quick else (21, 25)
    with fresh_database(backend, **params) as settings:
        context = build_context(settings)
        try:
            with context.unit_of_work() as session:
                services = Services(context, session)
                tenant = services.tenants.create_tenant("Bench AB", "bench", CLI)
                user, enrolment = services.users.create_user("handler@bench.example", PASSWORD,
                                                             [(tenant.id, Role.HANDLER)], CLI, with_totp=True,
                                                             chosen_by_user=True)
                assert enrolment is not None
                lead, _ = services.users.create_user("lead@bench.example", PASSWORD, [(tenant.id, Role.ADMIN)], CLI,
                                                     chosen_by_user=True)
                start_reader_list(services, tenant.id, principal(services, user.id, PASSWORD),
                                  principal(services, lead.id, PASSWORD))
                category = services.tenants.categories(tenant.id)[0].id
            counter = [0]

            def login() -> None:
                counter[0] += 1
                with context.unit_of_work() as session:
                    Services(context, session).users.authenticate_password(
                        "handler@bench.example", PASSWORD, f"client-{counter[0]}")

            hasher = PasswordHasher(time_cost=params["argon2_time_cost"], memory_cost=params["argon2_memory_kib"],
                                    parallelism=params["argon2_parallelism"], hash_len=32, salt_len=16, type=Type.ID)
            reference = hasher.hash(PASSWORD)
            raw_rate, login_rate = _rates(lambda: hasher.verify(reference, PASSWORD), login, logins)

            sealed_id, legacy_id = (_case(context, tenant, category, user.id, legacy) for legacy in (False, True))
            client = HttpsClient(create_app(context))
            sign_in(client, enrolment.secret)

            def page(case_id: object) -> None:
                response = client.get(f"/staff/cases/{case_id}")
                if response.status_code != 200:
                    raise RuntimeError(f"case page answered {response.status_code}")

            sealed_times, legacy_times = [], []
            for _ in range(3):
                sealed_times.append(median_seconds(lambda: page(sealed_id), repeat))
                legacy_times.append(median_seconds(lambda: page(legacy_id), repeat))
        finally:
            context.close()
    return {"raw_per_s": raw_rate, "login_per_s": login_rate,
            "sealed_ms": statistics.median(sealed_times) * 1000, "legacy_ms": statistics.median(legacy_times) * 1000}


def _case(context: Any, tenant: Any, category: Any, handler_id: Any, legacy: bool) -> Any:
    """A report with a thread of messages; ``legacy`` converts it to the foundation's storage."""
    with context.unit_of_work() as session:
        services = Services(context, session)
        receipt = services.reporting.submit(tenant, ReportForm(category, "Invoices are paid twice. " * 40,
                                                               "Since March", "Depot 3", "The deputy head"), [])
        for number in range(MESSAGES):
            services.reporting.reply(tenant, receipt.case_id, receipt.private_key, f"Message {number}. " * 20, [])
        if legacy:
            case = session.get(Case, receipt.case_id)
            keys = services.case_access.keys_from_private(case, receipt.private_key)
            case.wrapped_key, case.key_version = services.keyring.wrap_case_key(
                tenant.id, case.id, keys.cipher.content_key, CLI)
            case.public_key = case.content_key_sealed = case.reporter_public_key = None
            session.query(CaseKeySeal).filter(CaseKeySeal.case_id == case.id).delete()
        return receipt.case_id


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    figures: Figures = {}
    login_rows, page_rows = [], []
    for backend in backends:
        r = measure(backend, quick)
        login_ratio = r["login_per_s"] / r["raw_per_s"]
        page_ratio = r["sealed_ms"] / r["legacy_ms"]
        login_rows.append((backend, r["login_per_s"], r["raw_per_s"], login_ratio,
                           "yes" if login_ratio >= LOGIN_GOAL else "NO"))
        page_rows.append((backend, r["sealed_ms"], r["legacy_ms"], page_ratio, "yes" if page_ratio <= PAGE_GOAL else "NO"))
        figures.update({f"{backend}.logins_per_s": r["login_per_s"], f"{backend}.argon2_verify_per_s": r["raw_per_s"],
                        f"{backend}.login_ratio": login_ratio, f"{backend}.case_page_sealed_ms": r["sealed_ms"],
                        f"{backend}.case_page_tenant_key_ms": r["legacy_ms"], f"{backend}.case_page_ratio": page_ratio})
    params = "light argon2 (quick mode)" if quick else "argon2id t=3, 64 MiB, p=4"
    print_table(f"4. Staff sign-in with sealed keys ({params})", f"logins/s >= {LOGIN_GOAL} x raw argon2id verify/s",
                ("backend", "logins/s", "argon2id verify/s", "ratio", "goal met"), login_rows,
                ["one argon2id run per sign-in both checks the password and unlocks the private key"])
    print_table(f"4b. Case page with {MESSAGES} messages: sealed vs tenant-wrapped key",
                f"sealed <= {PAGE_GOAL} x the foundation's tenant-key version",
                ("backend", "sealed ms", "tenant key ms", "ratio", "goal met"), page_rows,
                ["sealed: unseal the handler's copy (X25519 + HKDF + AES-GCM) with the key from the session; "
                 "tenant key: unwrap the tenant key and the case key (two logbook events)"])
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
