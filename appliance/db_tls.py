"""Verified TLS to the database server: which database URLs may go without it.

App hosts reach a server database over the network only with the server's certificate
checked against a CA and its name against the host they dialled; for PostgreSQL that is
libpq's ``sslmode=verify-full`` (``require`` encrypts but accepts any certificate, so a
machine in the middle reads everything; ``verify-ca`` accepts any host the CA ever signed).
A server on this host (a Unix socket, a loopback address) has no network to protect: that
covers the embedded and test setups and a one-host install. SQL Server's encryption is
FreeTDS's (the deployed freetds.conf: ``encryption = require``, the CA file, the host name
checked; the units point FREETDSCONF at it) and the server forces it too (the mssql role).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

REQUIRED_SSLMODE = "verify-full"


@dataclass(frozen=True)
class DatabaseTls:
    """How one PostgreSQL URL reaches its server."""

    hosts: tuple[str, ...]  # empty: libpq's default Unix socket
    sslmode: str | None  # None: not in the URL (libpq's default, prefer: unverified at best)
    sslrootcert: str | None
    problem: str | None  # why the URL is refused; None: allowed

    @property
    def local(self) -> bool:
        return all(is_local_host(host) for host in self.hosts)

    def describe(self) -> str:
        """One line for `appliance doctor` (no user name or password)."""
        if self.problem:
            return self.problem
        if self.sslmode == REQUIRED_SSLMODE:
            return f"TLS, sslmode=verify-full, CA {self.sslrootcert or '~/.postgresql/root.crt (libpq default)'}"
        where = "a Unix socket" if not self.hosts or all(h.startswith("/") for h in self.hosts) else "loopback"
        return f"PostgreSQL on this host ({where}): no network to protect"


def is_local_host(host: str) -> bool:
    """A Unix socket directory or a loopback address (this host, no network in between)."""
    if host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_host(item: str) -> str:
    item = unquote(item.strip())
    if item.startswith("/"):
        return item
    if item.startswith("["):  # [::1]:5432
        return item[1:].partition("]")[0]
    return item.rpartition(":")[0] if item.count(":") == 1 else item


def postgresql_tls(url: str) -> DatabaseTls:
    """Parse a ``postgresql+psycopg://`` URL for its hosts and TLS mode, and judge it."""
    parts = urlsplit(url)
    netloc_hosts = parts.netloc.rpartition("@")[2]
    hosts = [_split_host(h) for h in netloc_hosts.split(",") if h.strip()]
    query = parse_qs(parts.query, keep_blank_values=True)
    for key in ("host", "hostaddr"):
        for value in query.get(key, []):
            hosts += [_split_host(h) for h in value.split(",") if h.strip()]
    modes, roots = query.get("sslmode", []), query.get("sslrootcert", [])
    sslmode = modes[0] if len(modes) == 1 else None
    tls = DatabaseTls(tuple(hosts), sslmode, roots[0] if len(roots) == 1 else None, None)
    # A pg_service.conf entry may name any host: it is judged as a remote one.
    if tls.local and "service" not in query:
        return tls
    if len(modes) > 1 or len(roots) > 1:
        problem = "names sslmode or sslrootcert more than once; give each once (sslmode=verify-full)"
    elif sslmode != REQUIRED_SSLMODE:
        remote = ", ".join(h for h in hosts if not is_local_host(h)) or "a pg_service.conf entry"
        got = f"sslmode={sslmode}" if sslmode is not None else "no sslmode"
        problem = (f"reaches PostgreSQL at {remote} over the network without a verified certificate ({got}); "
                   "add sslmode=verify-full&sslrootcert=<the CA file> to the URL")
    else:
        return tls
    return DatabaseTls(tls.hosts, tls.sslmode, tls.sslrootcert, problem)
