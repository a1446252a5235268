"""`appliance doctor`: this host checked end to end, one line per check.

Each check is a function returning a Check (or a list of them); DOCTOR_CHECKS names them for
the command's help, which a test keeps in step with what the command reports."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import sys
from dataclasses import asdict
from pathlib import Path

import click
import sqlalchemy as sa

from appliance.cli.audit import describe
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.cli.doctor_checks import Check, database_tls_check, site_count_check, tde_check
from appliance.errors import ApplianceError, VaultMissing
from appliance.keys.secrets import checkpoint_key
from appliance.migrations import runner
from appliance.readers.overview import overview


def backup_checks(runtime: Runtime) -> list[Check]:
    """Backup age (newest full within a day and a bit, newest of any kind within two log intervals)
    and one line per configured site."""
    from appliance.operations.backups import backup_service

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
    """Per tenant: does the reader list verify, does someone receive new reports, is there a
    confirmed escrow key, are changes waiting, are old cases sealed, are keys bound."""
    checks = []
    with runtime.services() as services:
        for tenant in services.tenants.list_tenants():
            found = overview(services.readers, services.users, tenant.id)
            problems = []
            if found.problem:
                checks.append(Check(f"keys {tenant.slug}", "fail", f"the reader list does not verify ({found.problem}): "
                                    "new reports are refused; restore it from a backup and find out who changed it"))
                continue
            if not found.started:
                problems.append("no reader list yet (a handler starts it on their Readers page; the compliance lead "
                                "confirms the fingerprint)")
            elif not any(r.receives for r in found.readers):
                problems.append("no reader receives new reports")
            if not found.escrow:
                problems.append("no confirmed escrow key (`appliance keys escrow init` offline, then `keys escrow "
                                "install`)")
            if found.pending:
                problems.append(f"{len(found.pending)} change(s) wait for a reader's confirmation")
            unsealed = services.case_key_pairs.unsealed_count(tenant)
            if unsealed:
                problems.append(f"{unsealed} case(s) still under the tenant key (`appliance keys seal-existing`)")
            unbound = services.case_key_pairs.unbound_case_key_pairs(tenant)
            if unbound:
                problems.append(f"{unbound} case key pair(s) not bound to their case (changed outside the "
                                "appliance, or `appliance db upgrade` not run)")
            accepting = services.reporting.accepting(tenant)
            status = "ok" if not problems else ("warn" if accepting and not unbound else "fail")
            detail = "; ".join(problems) if problems else "readers and escrow key confirmed, every case sealed"
            if not accepting:
                detail = "refuses reports: " + detail
            checks.append(Check(f"keys {tenant.slug}", status, detail))
        unbound_users = services.users.unbound_keys()
        if unbound_users:
            checks.append(Check("staff keys", "fail", f"{len(unbound_users)} staff key(s) not signed by their owner "
                                "or not bound by this server (planted outside the appliance): nothing is sealed to "
                                "them; users: " + ", ".join(str(u) for u in unbound_users[:5])))
    return checks


def rotation_check(runtime: Runtime) -> Check:
    """A key rotation that stopped halfway leaves rows on the old key until it is resumed."""
    from appliance.keys.models import KeyRotation

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


def runtime_dir_check(path: Path) -> Check:
    """Throttle state keyed by client addresses belongs in memory (tmpfs), not on a disk."""
    kind = filesystem_type(path)
    if kind in ("tmpfs", "ramfs"):
        return Check("runtime dir", "ok", f"{path} on {kind}: client throttle state stays in memory, out of backups")
    return Check("runtime dir", "warn", f"{path} is on {kind or 'an unknown file system'}: throttle state keyed by "
                                        "client addresses is written to disk; set RUNTIME_DIR to a tmpfs such as "
                                        "/run/appliance (the web unit's RuntimeDirectory)")


def filesystem_type(path: Path) -> str | None:
    """The type of the file system that holds ``path`` (or would, for a path not made yet)."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return None
    target = os.path.abspath(path)
    best: tuple[int, str] | None = None
    for point, kind in mounts:
        point = point.replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and (best is None or len(point) > best[0]):
            best = (len(point), kind)
    return best[1] if best else None


def case_subjects_check(runtime: Runtime) -> Check:
    """Persons named in cases before case-sealed entries: their case and identity are readable
    with server-held keys until converted."""
    from appliance.cases.case_subjects import unconverted_cases

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


class SqlStatements:
    """A connection as the TDE check sees it (tests/unit/cli/test_doctor_checks.py fakes it)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def scalar(self, statement: str) -> object:
        return self._connection.execute(sa.text(statement)).scalar()


def branding_check(runtime: Runtime) -> Check:
    """Every portal's branding (logo, texts, policy link) verifies: none was changed in SQL."""
    with runtime.services() as services:
        slugs = {t.id: t.slug for t in services.tenants.list_tenants()}
        problems = services.branding.problems()
    if not problems:
        return Check("branding", "ok", "every portal's logo, texts and link verify")
    listed = "; ".join(f"{slugs.get(t, str(t))}: {reason}" for t, reason in
                       sorted(problems.items(), key=lambda item: slugs.get(item[0], "")))
    return Check("branding", "fail", f"portal branding changed outside the appliance ({listed}): those portals show "
                                     "the standard texts and no logo; find out who changed the database, then reset "
                                     "it on the administrator's Branding page")


EXPIRY_NOTICE = dt.timedelta(days=14)


def api_token_check(runtime: Runtime) -> Check:
    """API tokens that stop working within 14 days: whoever uses them needs a new one in time."""
    with runtime.services() as services:
        slugs = {t.id: t.slug for t in services.tenants.list_tenants()}
        expiring = services.api_tokens.expiring(EXPIRY_NOTICE)
    if not expiring:
        return Check("api tokens", "ok", "none expires within 14 days")
    listed = "; ".join(f"{slugs.get(t.tenant_id, t.tenant_id)}/{t.name} ({t.id}) on {t.expires_at:%Y-%m-%d}"
                       for t in expiring)
    return Check("api tokens", "warn", f"{len(expiring)} expire(s) within 14 days: {listed}; create new ones with "
                                       "`appliance api-token create` and revoke the old")


# (name as printed, what it checks), in the order doctor runs them; "keys SLUG" and "backup
# site NAME" are one line per tenant and per site.
DOCTOR_CHECKS = (
    ("settings", "the configuration file (or the environment) is read and valid"),
    ("master key file", "readable by this user only (mode 0400)"),
    ("database", "reachable and readable with the master key"),
    ("database tls", "a database server on another host only over verified TLS (sslmode=verify-full; FreeTDS: required)"),
    ("schema", "at the newest migration (else: appliance db upgrade)"),
    ("logbook", "the hash chain verifies"),
    ("tde", "SQL Server only: the database is encrypted at rest"),
    ("backup age", "a full backup within 26 h, any backup within two log intervals"),
    ("backup site NAME", "each site's last copy succeeded"),
    ("backup sites", "at least 2 sites are configured"),
    ("keys SLUG", "per tenant: reader list, escrow key, sealed cases, bound keys"),
    ("staff keys", "every staff key is signed by its owner and bound by this server"),
    ("person vault", "every person has a vault share; the vault is outside the database"),
    ("persons in cases", "every person named in a case is sealed to the case"),
    ("key rotation", "no rotation stopped halfway"),
    ("api tokens", "none expires within 14 days"),
    ("branding", "every portal's logo, texts and link verify"),
    ("disk", "at least 2 GB free in DATA_DIR"),
    ("https", "BASE_URL is https and cookies are Secure"),
    ("smtp", "SMTP_URL is set (reminders and reader notices)"),
    ("runtime dir", "RUNTIME_DIR is in memory (tmpfs)"),
)
DOCTOR_HELP = ("Check this host end to end: one line per check, OK, WARN or FAIL.\n\n\b\nThe checks, in order:\n"
               + "\n".join(f"  {name:<17} {what}" for name, what in DOCTOR_CHECKS)
               + "\n\nThe last line counts the problems and the warnings. Exits 1 when a check fails; "
                 "warnings alone exit 0. A check that cannot run (no configuration, wrong master key) is "
                 "reported as FAIL startup.")


def summary(checks: list[Check]) -> str:
    """The last line: failures and warnings counted, "all checks passed" only when both are none."""
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if not failed and not warned:
        return "doctor: all checks passed"
    counted = [f"{failed} problem{'s' if failed != 1 else ''}"] if failed else []
    counted += [f"{warned} warning{'s' if warned != 1 else ''}"] if warned else []
    return "doctor: " + ", ".join(counted) + ("" if failed else "; nothing failed")


@click.command(help=DOCTOR_HELP)
@json_option
@pass_runtime
def doctor(runtime: Runtime, as_json: bool) -> None:
    checks: list[Check] = []
    try:
        settings = runtime.settings
        checks.append(Check("settings", "ok", str(settings.config_path or "environment")))
        mode = stat.S_IMODE(settings.master_key_file.stat().st_mode)
        checks.append(Check("master key file", "ok" if mode & 0o077 == 0 else "fail", f"mode {mode:04o}"))
        context = runtime.context
        checks.append(Check("database", "ok", f"{settings.backend} reachable and readable"))
        checks.append(database_tls_check(settings, os.environ))
        current, head = runner.current_revision(context.engine), runner.head_revision()
        checks.append(Check("schema", "ok" if current == head else "fail",
                            f"at {current}" if current == head else f"at {current}, newest {head}: run `appliance db upgrade`"))
        with runtime.services() as services:
            report = services.logbook.verify(checkpoint_key=checkpoint_key(context))
        checks.append(Check("logbook", "ok" if report.ok else "fail",
                            describe(report).removeprefix("logbook OK: ") if report.ok else
                            f"broken at event {report.broken_seq}: {report.reason}"))
        if settings.backend == "mssql+pymssql":
            with context.engine.connect() as connection:
                checks.append(tde_check(SqlStatements(connection)))
        checks += backup_checks(runtime)
        checks.append(site_count_check(settings))
        checks += key_checks(runtime)
        checks.append(vault_check(runtime))
        checks.append(case_subjects_check(runtime))
        checks.append(rotation_check(runtime))
        checks.append(api_token_check(runtime))
        checks.append(branding_check(runtime))
        usage = shutil.disk_usage(settings.data_dir)
        free_gb = usage.free / 1024**3
        checks.append(Check("disk", "ok" if free_gb >= 2 else "warn", f"{free_gb:.1f} GB free in {settings.data_dir}"))
        secure = settings.base_url.startswith("https://") and settings.cookie_secure
        checks.append(Check("https", "ok" if secure else "warn",
                            "HTTPS base URL and Secure cookies" if secure else
                            "BASE_URL is not https or COOKIE_SECURE is off: acceptable only for a local demo"))
        checks.append(Check("smtp", "ok" if settings.smtp_url else "warn",
                            "configured" if settings.smtp_url else "SMTP_URL not set: no e-mail reminders"))
        checks.append(runtime_dir_check(settings.runtime_path))
    except VaultMissing as exc:
        checks.append(Check("person vault", "fail", str(exc)))
    except ApplianceError as exc:
        checks.append(Check("startup", "fail", str(exc)))
    except PermissionError as exc:
        checks.append(Check("startup", "fail", f"{exc.filename}: permission denied; run as the appliance's user "
                                               "(check the owner and mode of DATA_DIR)"))
    failed = any(c.status == "fail" for c in checks)

    def text() -> None:
        for c in checks:
            click.echo(f"{c.status.upper():<5} {c.name:<16} {c.detail}")
        click.echo(summary(checks))

    emit(as_json, {"ok": not failed, "warnings": sum(c.status == "warn" for c in checks),
                   "checks": [asdict(c) for c in checks]}, text)
    if failed:
        sys.exit(1)
