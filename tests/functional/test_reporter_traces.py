"""A reporter's address cannot be recovered from what the installation keeps, with every key.

The attack (issue 12, finding 4): an HMAC of an address under a key the master key derives is
reversed by trying every address. Here reporters (and staff) act from several addresses in
127.0.0.0/24: failed and accepted case keys, reports, failed and successful sign-ins. Then the
attacker takes the master key, the configuration and every file of the installation: the
database, the person key vault, a backup taken by the backup service, and the runtime store.
For each of the 256 addresses every value a throttle could have stored is computed, under
every key there is: the blind-index key (from the master key) for the old "date|address" and
plain forms, and the runtime store's key of the day while it still exists. None may match
anything in the database, the vault or the backup. The runtime store does match during the
day (that is how throttling recognises a client, and it proves the search works); after the
day changes, its old key and every row are gone.

On PostgreSQL the database runs in a private cluster with WAL archiving, so the backup is the
real base backup plus WAL, searched byte for byte (PostgreSQL keeps its files in clear): a
value written even once, and deleted since, would still be found there.
"""

from __future__ import annotations

import array
import hashlib
import re
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.context import AppContext
from appliance.crypto.keys import sqlcipher_key
from appliance.db import create_engine_for_url
from appliance.ephemeral.store import FILE_NAME, row_name
from appliance.keys.secrets import VAULT_FILE
from appliance.operations.backups import backup_service
from appliance.settings import Settings
from tests.functional.pgcluster import private_cluster
from tests.functional.world import PASSWORD, World
from tests.support import Templates, make_settings, migrate, pg_drop, pg_new
from tests.web import receipt_key

SUBNET = [f"127.0.0.{n}" for n in range(256)]
# Who does what, from where (all in 127.0.0.0/24, like the attacker's search space).
REPORTS_FROM = ("127.0.0.23", "127.0.0.42")
WRONG_KEYS_FROM = ("127.0.0.23", "127.0.0.77", "127.0.0.117")
RIGHT_KEY_FROM = ("127.0.0.42", "127.0.0.117")
SIGN_IN_FAILS_FROM = ("127.0.0.200",)
BUSY_ADDRESSES = set(REPORTS_FROM + WRONG_KEYS_FROM + RIGHT_KEY_FROM + SIGN_IN_FAILS_FROM)
OLD_SCOPES = ("throttle/staff-client", "throttle/case-key-client", "throttle/client", "throttle/report-client")
PURPOSES_BY_CLIENT = ("sign-in/client",)
PURPOSES_BY_TENANT_AND_CLIENT = ("case-key/client", "report/client", "report-attempt/client")


@pytest.fixture
def settings(backend: str, templates: Templates, tmp_path: Path) -> Iterator[Settings]:
    """As tests/conftest.py, but PostgreSQL runs in a private cluster that archives its WAL, so
    the backup service can take a real base backup."""
    shutil.copyfile(templates.key_dir / "master.key", tmp_path / "master.key")
    (tmp_path / "master.key").chmod(0o400)
    if backend == "sqlite":
        yield make_settings(tmp_path, templates.sqlite_copy(tmp_path))
        return
    vault = pg_new()
    try:
        with private_cluster() as cluster:
            cluster.sql("CREATE DATABASE appliance")
            settings = make_settings(tmp_path, cluster.url("appliance"), vault_database_url=vault,
                                     pg_wal_archive_dir=str(cluster.archive))
            migrate(settings)
            yield settings
    finally:
        pg_drop(vault.rsplit("/", 1)[1])



# --- what the attacker computes -----------------------------------------------------------------
def old_style_candidates(ctx: AppContext, day: str, tenant_ids: list[uuid.UUID]) -> dict[bytes, str]:
    """Blind-index values (the key comes from the master key) of every address, in every form the
    throttles used or might: with and without the date, with and without a tenant; and bare hashes."""
    index = ctx.blind_index
    found: dict[bytes, str] = {}
    for address in SUBNET:
        for client in (address, f"{day}|{address}"):
            found[hashlib.sha256(client.encode()).digest()] = address
            for scope in OLD_SCOPES:
                found[index.compute(scope, client)] = address
                for tenant_id in tenant_ids:
                    found[index.compute(scope, client, tenant_id)] = address
    return found


def day_key_candidates(key: bytes, tenant_ids: list[uuid.UUID], accounts: list[str]) -> dict[bytes, str]:
    """Every row name the runtime store can give an address under the day's key."""
    found: dict[bytes, str] = {}
    for address in SUBNET:
        for purpose in PURPOSES_BY_CLIENT:
            found[row_name(key, purpose, (address,))] = address
        for purpose in PURPOSES_BY_TENANT_AND_CLIENT:
            for tenant_id in tenant_ids:
                found[row_name(key, purpose, (str(tenant_id), address))] = address
        for account in accounts:
            found[row_name(key, "sign-in/account-client", (account, address))] = address
    return found


# --- what the installation holds ----------------------------------------------------------------
def logical_values(engine: sa.Engine) -> Iterator[tuple[str, str, Any]]:
    """(table, column, value) of every row of every table, found by reflection."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for column, value in row._mapping.items():
                    yield table.name, column, value


def as_bytes(value: Any) -> bytes:
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, bytes):
        return value
    return str(value).encode()


HEX_DIGEST = re.compile(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
ADDRESS_TEXT = re.compile(rb"(?<![\d.])127\.0\.0\.(\d{1,3})(?![\d])")


class Needles:
    """Finds any of thousands of 32-byte digests anywhere in megabytes, fast: every digest at any
    offset covers one 8-byte-aligned word of the data, so the aligned words of the data are
    intersected with the eight words each digest can contribute, and only those are confirmed."""

    def __init__(self, candidates: dict[bytes, str]) -> None:
        self.candidates = candidates
        self.words: dict[int, list[bytes]] = {}
        for needle in candidates:
            assert len(needle) == 32
            for k in range(8):
                self.words.setdefault(int.from_bytes(needle[k:k + 8], sys.byteorder), []).append(needle)

    def found_in(self, data: bytes) -> list[bytes]:
        aligned = array.array("Q")
        aligned.frombytes(data[:len(data) // 8 * 8])
        return sorted({n for word in set(self.words).intersection(aligned) for n in self.words[word] if n in data})


def matches_in(data: bytes, needles: Needles, exact: bool = False) -> list[str]:
    """Candidates in some bytes: whole (a digest column), inside (a file), in hex, or the address as text."""
    candidates = needles.candidates
    hits = []
    if exact:
        if data in candidates:
            hits.append(f"an HMAC of {candidates[data]}")
    else:
        hits += [f"an HMAC of {candidates[n]}" for n in needles.found_in(data)]
    hits += [f"the hex HMAC of {candidates[bytes.fromhex(h.decode())]}" for h in HEX_DIGEST.findall(data)
             if bytes.fromhex(h.decode()) in candidates]
    hits += [f"the address 127.0.0.{n.decode()}" for n in ADDRESS_TEXT.findall(data)
             if f"127.0.0.{n.decode()}" in BUSY_ADDRESSES]
    return hits


def matches_in_rows(engine: sa.Engine, needles: Needles) -> list[str]:
    return [f"{table}.{column}: {hit}" for table, column, value in logical_values(engine)
            for hit in matches_in(as_bytes(value), needles, exact=True)]


def matches_in_files(paths: list[Path], needles: Needles) -> list[str]:
    return [f"{path.name}: {hit}" for path in paths for hit in matches_in(path.read_bytes(), needles)]


def store_rows(ctx: AppContext) -> tuple[list[tuple[str, bytes]], list[bytes]]:
    """The runtime store as anyone who can read the file sees it: (day, key) rows and row names."""
    connection = sqlite3.connect(ctx.settings.runtime_path / FILE_NAME)
    try:
        keys = [(day, bytes(key)) for day, key in connection.execute("SELECT day, key FROM day_keys")]
        names = [bytes(n) for (n,) in connection.execute("SELECT name FROM failures UNION ALL SELECT name FROM hits")]
        return keys, names
    finally:
        connection.close()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# --- the attack ------------------------------------------------------------------------------------
def act_from_the_subnet(world: World) -> list[str]:
    """Reports, case keys and sign-ins from several addresses; returns the accounts tried."""
    keys = {}
    for address in REPORTS_FROM:
        reporter = world.browser(address)
        keys[address] = receipt_key(reporter, reporter.post(
            "/r/alpha/report", {"category": str(world.alpha.category_id), "what": f"from {address}"},
            content_type="multipart/form-data"))
    for address in WRONG_KEYS_FROM:
        guesser = world.browser(address)
        for _ in range(world.ctx.settings.lockout_case_key_threshold + 1):
            assert guesser.post("/r/alpha/follow-up", {"case_key": "AAAA-BBBB-CCCC-DDDD"}).status_code in (400, 429)
    for address in RIGHT_KEY_FROM:
        key = keys.get(address, world.alpha_case.key)
        assert world.browser(address).post("/r/alpha/follow-up", {"case_key": key}).status_code in (303, 429)
    staff = world.alpha.staff[next(iter(world.alpha.staff))]
    for address in SIGN_IN_FAILS_FROM:
        browser = world.browser(address)
        for _ in range(world.ctx.settings.lockout_threshold):
            browser.post("/staff/login", {"email": staff.email, "password": "not the password"})
        browser.post("/staff/login", {"email": "nobody@example.com", "password": PASSWORD})
    world.staff_browser(world.alpha.staff[next(iter(world.alpha.staff))])  # a successful sign-in, from 127.0.0.1
    return [staff.email.lower(), "nobody@example.com"]


def test_no_key_recovers_a_reporters_address_from_the_database_or_a_backup(world: World, ctx: AppContext,
                                                                           backend: str) -> None:
    accounts = act_from_the_subnet(world)
    tenants = [world.alpha.tenant_id, world.beta.tenant_id]
    day = world.clock().date().isoformat()

    # While the day lasts, the runtime store recognises the clients: the search finds them there,
    # and every row in it is explained by a candidate (so no kind of row escapes the search).
    keys, names = store_rows(ctx)
    ((store_day, day_key),) = keys
    assert store_day == day
    in_store = day_key_candidates(day_key, tenants, accounts)
    channels = {row_name(day_key, "report/channel", (str(t),)) for t in tenants}  # per organisation, no address
    assert names and all(name in in_store or name in channels for name in names)
    assert {in_store[name] for name in names if name in in_store} >= BUSY_ADDRESSES

    with ctx.unit_of_work() as session:
        backup = backup_service(ctx, session).full()
    every_key = Needles({**old_style_candidates(ctx, day, tenants), **in_store})

    # The database, row by row (what a DBA or a thief with the master key reads).
    assert matches_in_rows(ctx.engine, every_key) == []
    # The person key vault.
    vault_url = ctx.settings.vault_url
    vault = create_engine_for_url(vault_url, ctx.secret(VAULT_FILE))
    try:
        assert matches_in_rows(vault, every_key) == []
    finally:
        vault.dispose()
    # The backup the backup service took, and everything beside it (manifest, vault copy).
    backup_files = files_under(ctx.settings.backup_root)
    assert any(backup.id in str(p) for p in backup_files)
    if backend == "sqlite":  # the snapshot is SQLCipher-encrypted: open it with the master key, like the thief
        (snapshot,) = [p for p in backup_files if p.name == "appliance.db" and backup.id in str(p)]
        opened = create_engine_for_url(f"sqlite+pysqlcipher:///{snapshot}", sqlcipher_key(ctx.master))
        try:
            assert matches_in_rows(opened, every_key) == []
        finally:
            opened.dispose()
        assert matches_in_files([p for p in backup_files if p != snapshot], every_key) == []
    else:  # a base backup and WAL: every page ever written, in clear
        assert sum(p.stat().st_size for p in backup_files) > 1_000_000
        assert matches_in_files(backup_files, every_key) == []
    assert not any(FILE_NAME in str(p) for p in backup_files)
    # Nothing in the data directory but the runtime store knows the clients.
    others = [p for p in files_under(Path(ctx.settings.data_dir))
              if ctx.settings.runtime_path not in p.parents and p.name != "master.key" and p.suffix != ".db"]
    assert matches_in_files(others, every_key) == []

    # The next UTC day: the old key and every row named under it are gone, also from the file's bytes.
    world.clock.advance(days=1)
    ctx.ephemeral.sweep()
    keys, names = store_rows(ctx)
    assert keys == [] and names == []
    store_bytes = b"".join(p.read_bytes() for p in files_under(ctx.settings.runtime_path))
    assert day_key not in store_bytes
    assert matches_in_files(files_under(ctx.settings.runtime_path), Needles(in_store)) == []
