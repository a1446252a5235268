"""`appliance serve` and `appliance doctor`."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import sqlalchemy as sa

from appliance.audit.checkpoints import checkpoint_key
from appliance.cli.audit import describe
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import ApplianceError
from appliance.migrations import runner


@click.command()
@click.option("--bind", default=None, help="host:port or unix:/path (default: the BIND setting).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes (default: WORKERS).")
@pass_runtime
def serve(runtime: Runtime, bind: str | None, workers: int | None) -> None:
    """Serve the web application with gunicorn (put nginx in front in production)."""
    settings = runtime.settings
    runtime.context.close()  # fail here, with one line, if the config/key/DB are wrong
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # Threaded workers: the worker keeps its heartbeat while a slow reporter streams a large
    # upload (nginx passes uploads through unbuffered, so nothing waits in clear on its disk);
    # a sync worker would be killed at --timeout in the middle of such an upload.
    args = [str(gunicorn), "--bind", bind or settings.bind, "--workers", str(workers or settings.workers),
            "--worker-class", "gthread", "--threads", str(settings.threads),
            # gunicorn's heartbeat files: RAM-backed where possible (not a data path)
            "--worker-tmp-dir", "/dev/shm" if Path("/dev/shm").is_dir() else "/tmp",  # noqa: S108
            "--forwarded-allow-ips", "127.0.0.1", "--graceful-timeout", "20", "--timeout", "120",
            "--log-level", "warning", "--no-control-socket", "webapp.wsgi:app"]
    if settings.config_path:
        os.environ["APPLIANCE_CONFIG"] = str(settings.config_path)
    if settings.metrics_dir is not None:
        reset_metrics_dir(settings.metrics_dir)
        # prometheus_client's multiprocess mode is chosen by this variable when the workers
        # import it: each worker then writes its counters to files that /metrics adds up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_dir)
    click.echo(f"serving on {bind or settings.bind}", err=True)
    os.execv(str(gunicorn), args)  # noqa: S606 (fixed argv, no shell)


def reset_metrics_dir(path: Path) -> None:
    """Empty the multiprocess metrics directory: counters of a previous run's workers (their
    pids may be reused) must not be added to this run's."""
    if path.is_dir():
        for entry in path.iterdir():
            if entry.is_file() and entry.suffix == ".db":
                entry.unlink()
    else:
        path.mkdir(mode=0o700, parents=True)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


def backup_checks(runtime: Runtime) -> list[Check]:
    """Backup age (newest full within a day and a bit, newest of any kind within two log intervals)
    and one line per configured site."""
    from appliance.backup.service import backup_service

    settings, now = runtime.settings, runtime.context.clock()
    with runtime.services() as services:
        engine = backup_service(runtime.context, services.session)
        age = engine.age()
        sites = engine.site_statuses()
    checks = []
    if age.newest_any is None or age.newest_full is None:
        checks.append(Check("backup age", "warn", "no backup yet: run `appliance backup full` and start the scheduler"))
    else:
        minutes = int((now - age.newest_any).total_seconds() // 60)
        full_hours = (now - age.newest_full).total_seconds() / 3600
        stale = minutes > 2 * settings.backup_log_minutes + 10 or full_hours > 26
        checks.append(Check("backup age", "fail" if stale else "ok",
                            f"newest backup {minutes} min old, newest full {full_hours:.1f} h old"
                            + (": is the scheduler running?" if stale else "")))
    for site in sites:
        if site.last_attempt_at is None and age.newest_any is None:  # a fresh install: nothing failed yet
            checks.append(Check(f"backup site {site.name}", "warn", f"{site.kind}: no copy yet"))
            continue
        checks.append(Check(f"backup site {site.name}", "ok" if site.ok else "fail",
                            f"{site.kind} site, last copied and checked {site.last_success_at:%Y-%m-%d %H:%M} UTC"
                            if site.ok and site.last_success_at else f"{site.kind}: {site.last_error}"))
    return checks


def key_checks(runtime: Runtime) -> list[Check]:
    """Per tenant: can someone read new reports, is there an escrow key, are old cases sealed."""
    checks = []
    with runtime.services() as services:
        for tenant in services.tenants.list_tenants():
            problems = []
            if not services.case_access.recipients(tenant.id):
                problems.append("no handler with a key receives new reports")
            if services.case_access.current_escrow(tenant.id) is None:
                problems.append("no escrow key (`appliance keys escrow init`)")
            unsealed = services.case_keys.unsealed_count(tenant)
            if unsealed:
                problems.append(f"{unsealed} case(s) still under the tenant key (`appliance keys seal-existing`)")
            accepting = services.reporting.accepting(tenant)
            status = "ok" if not problems else ("warn" if accepting else "fail")
            detail = "; ".join(problems) if problems else "recipients and escrow key in place, every case sealed"
            if not accepting:
                detail = "refuses reports: " + detail
            checks.append(Check(f"keys {tenant.slug}", status, detail))
    return checks


def rotation_check(runtime: Runtime) -> Check:
    """A key rotation that stopped halfway leaves rows on the old key until it is resumed."""
    from appliance.crypto.models import KeyRotation

    with runtime.services() as services:
        unfinished = services.session.execute(sa.select(KeyRotation.scope).where(
            KeyRotation.finished_at.is_(None))).scalars().all()
    if unfinished:
        return Check("key rotation", "warn", f"{len(unfinished)} rotation(s) stopped halfway: run `appliance keys rotate` "
                                             "for the same scope to finish (`appliance keys status` shows which)")
    return Check("key rotation", "ok", "no rotation left unfinished")


def vault_check(runtime: Runtime) -> Check:
    """Does every person have its vault share, and do backups leave the vault out?"""
    from appliance.persons.models import Person

    vault = runtime.context.vault
    shares = vault.person_ids()
    with runtime.services() as services:
        persons = set(services.session.execute(sa.select(Person.id)).scalars())
    missing, orphans = len(persons - shares), len(shares - persons)
    if missing:
        return Check("person vault", "fail", f"{missing} person(s) have no vault share: their names and addresses "
                                             "cannot be read; run `appliance backup restore-vault`")
    detail = f"{len(persons)} person(s), each with its share"
    if orphans:
        detail += f"; {orphans} share(s) of deleted persons wait for `appliance retention run`"
    if not vault.separate:
        return Check("person vault", "warn", detail + "; the vault is inside the main database, so an erased "
                     "person stays in old backups until they expire: set VAULT_DATABASE_URL")
    return Check("person vault", "ok", detail + "; kept outside the database's backups")


def case_subjects_check(runtime: Runtime) -> Check:
    """Persons named in cases before case-sealed entries: their case and identity are readable
    with server-held keys until converted."""
    from appliance.persons.case_subjects import unconverted_cases

    with runtime.services() as services:
        counts = unconverted_cases(services.session)
        slugs = {t.id: t.slug for t in services.tenants.list_tenants()}
    if not counts:
        return Check("persons in cases", "ok", "every person named in a case is sealed to the case")
    where = ", ".join(f"{slugs.get(t, str(t))}: {n}" for t, n in sorted(counts.items(), key=lambda i: slugs.get(i[0], "")))
    return Check("persons in cases", "warn",
                 f"case(s) still name persons the old way, readable with the server's keys ({where}): they are "
                 "sealed when a handler opens the case, or run `appliance person reconcile --tenant SLUG "
                 "--escrow-file FILE` for all of them")


@click.command()
@json_option
@pass_runtime
def doctor(runtime: Runtime, as_json: bool) -> None:
    """Check this host end to end: settings, key file, database, schema, logbook, disk."""
    checks: list[Check] = []
    try:
        settings = runtime.settings
        checks.append(Check("settings", "ok", str(settings.config_path or "environment")))
        mode = stat.S_IMODE(settings.master_key_file.stat().st_mode)
        checks.append(Check("master key file", "ok" if mode & 0o077 == 0 else "fail", f"mode {mode:04o}"))
        context = runtime.context
        checks.append(Check("database", "ok", f"{settings.backend} reachable and readable"))
        current, head = runner.current_revision(context.engine), runner.head_revision()
        checks.append(Check("schema", "ok" if current == head else "fail",
                            f"at {current}" if current == head else f"at {current}, newest {head}: run `appliance db upgrade`"))
        with runtime.services() as services:
            report = services.logbook.verify(checkpoint_key=checkpoint_key(context))
        checks.append(Check("logbook", "ok" if report.ok else "fail",
                            describe(report).removeprefix("logbook OK: ") if report.ok else
                            f"broken at event {report.broken_seq}: {report.reason}"))
        checks += backup_checks(runtime)
        checks += key_checks(runtime)
        checks.append(vault_check(runtime))
        checks.append(case_subjects_check(runtime))
        checks.append(rotation_check(runtime))
        usage = shutil.disk_usage(settings.data_dir)
        free_gb = usage.free / 1024**3
        checks.append(Check("disk", "ok" if free_gb >= 2 else "warn", f"{free_gb:.1f} GB free in {settings.data_dir}"))
        secure = settings.base_url.startswith("https://") and settings.cookie_secure
        checks.append(Check("https", "ok" if secure else "warn",
                            "HTTPS base URL and Secure cookies" if secure else
                            "BASE_URL is not https or COOKIE_SECURE is off: acceptable only for a local demo"))
        checks.append(Check("smtp", "ok" if settings.smtp_url else "warn",
                            "configured" if settings.smtp_url else "SMTP_URL not set: no e-mail reminders"))
    except ApplianceError as exc:
        checks.append(Check("startup", "fail", str(exc)))
    failed = any(c.status == "fail" for c in checks)

    def text() -> None:
        for c in checks:
            click.echo(f"{c.status.upper():<5} {c.name:<16} {c.detail}")
        click.echo("doctor: problems found" if failed else "doctor: all checks passed")

    emit(as_json, {"ok": not failed, "checks": [asdict(c) for c in checks]}, text)
    if failed:
        sys.exit(1)
