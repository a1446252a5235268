"""build_context(settings): the long-lived objects every boundary (web, CLI, jobs) needs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from appliance.clock import Clock, utcnow
from appliance.crypto.binding import KeyBinding
from appliance.crypto.blind_index import BlindIndex
from appliance.crypto.keys import MasterKey, sqlcipher_key
from appliance.crypto.passwords import Argon2Params, PasswordPolicy
from appliance.crypto.unwraps import UnwrapCounter
from appliance.db import check_database, create_engine, create_engine_for_url, read_only_engine, session_factory
from appliance.ephemeral.store import EphemeralStore
from appliance.errors import DatabaseUnavailable, VaultMissing
from appliance.keys.secrets import (
    BLIND_INDEX,
    KEY_BINDING,
    VAULT_FILE,
    VAULT_SHARE_WRAP,
    PreservedSecrets,
    check_master_key,
)
from appliance.keys.vault import Vault
from appliance.readers.service import VerifiedLists
from appliance.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    master: MasterKey
    engine: Engine
    sessions: sessionmaker[Session]
    passwords: PasswordPolicy
    clock: Clock
    vault: Vault
    preserved: PreservedSecrets
    # Key unwraps of this process, by kind (webapp/metrics.py exports them).
    unwraps: UnwrapCounter = field(default_factory=UnwrapCounter)
    # Reader lists this process verified, kept while their newest entry is unchanged.
    verified_lists: VerifiedLists = field(default_factory=VerifiedLists)

    @cached_property
    def ephemeral(self) -> EphemeralStore:
        """Throttles and rate limits keyed by client addresses: host-local, forgotten daily,
        never in the database or a backup (appliance/ephemeral/store.py)."""
        return EphemeralStore(self.settings.runtime_path, self.clock)

    @cached_property
    def blind_index(self) -> BlindIndex:
        return BlindIndex(self.secret(BLIND_INDEX))

    @cached_property
    def binding(self) -> KeyBinding:
        return KeyBinding(self.secret(KEY_BINDING))

    @cached_property
    def reading_sessions(self) -> sessionmaker[Session]:
        """Sessions whose transactions only read (appliance.db.read_only_engine): a write raises."""
        return session_factory(read_only_engine(self.engine))

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session whose transaction commits when the block succeeds."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def secret(self, purpose: str) -> bytes:
        """A 32-byte secret for one purpose (e.g. ``audit-checkpoint/v1``) that stays the same
        across a master key rotation. Use it, not ``master.derive``, for anything whose value is
        stored or must be recomputed later (signatures, indexes, passwords of repositories).
        Only the purposes of ``appliance.keys.secrets.PRESERVED_PURPOSES`` (and backup sites'
        ``restic-site/<name>/v1``) are accepted: those are the ones a rotation carries over."""
        return self.preserved.secret(purpose)

    def close(self) -> None:
        self.vault.dispose()
        self.engine.dispose()


def _present(path: Path) -> bool:
    """Whether a file exists; a directory this user may not read is one clear line."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise DatabaseUnavailable(f"cannot read {path.parent}: permission denied; run as the appliance's user "
                                  "(check the owner and mode of DATA_DIR)") from None
    return True


def vault_file(settings: Settings) -> Path | None:
    """The person key vault's file when it is an SQLite file (``vault.db`` by default), else None."""
    url = settings.vault_url
    return Path(url.removeprefix("sqlite+pysqlcipher:///")) if url.startswith("sqlite+pysqlcipher:///") else None


def database_holds_persons(settings: Settings) -> bool:
    """Whether the main database has a person record, whose vault share a new, empty vault would
    lose (False for a database from before the person chain, or a fresh one)."""
    master = MasterKey.load(settings.master_key_file)
    engine = create_engine(settings, sqlcipher_key(master))
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("persons"):
                return False
            return connection.execute(sa.text("SELECT 1 FROM persons")).first() is not None
    finally:
        engine.dispose()


def build_context(settings: Settings, clock: Clock = utcnow, check: bool = True,
                  create_database: bool = False, create_vault: bool = False) -> AppContext:
    """Load the master key, open the database and check it can be read.

    A missing embedded database file is an error unless ``create_database`` (only
    ``appliance init`` and test set-up pass it): silently starting an empty database
    because a volume failed to mount would look like data loss to everyone. The same holds
    for the person key vault's file (``create_vault``: `appliance backup restore-vault`, and
    `db upgrade` of a database that holds no person yet): a new, empty vault would make every
    person's data unreadable without a word.
    """
    master = MasterKey.load(settings.master_key_file)
    if settings.is_embedded and not create_database:
        path = Path(settings.database_url.removeprefix("sqlite+pysqlcipher:///"))
        if not _present(path):
            raise DatabaseUnavailable(f"embedded database {path} not found; restore it from a backup or run `appliance init`")
    vault_path = vault_file(settings)
    if vault_path is not None and not (create_database or create_vault) and not _present(vault_path):
        raise VaultMissing(str(vault_path))
    engine = create_engine(settings, sqlcipher_key(master))
    preserved = PreservedSecrets(master, engine)
    if check:
        try:
            check_database(engine)
            with engine.connect() as connection:
                check_master_key(connection, master, str(settings.master_key_file))
                preserved.load(connection)
        except BaseException:
            engine.dispose()  # no pooled connection left for the garbage collector
            raise
    vault_url = settings.vault_url
    # Preserved, not derived: the vault's file and the copies of it beside the backups must open
    # after a master key rotation too.
    vault = Vault(create_engine_for_url(vault_url, preserved.secret(VAULT_FILE)) if vault_url else engine,
                  preserved.secret(VAULT_SHARE_WRAP), separate=bool(vault_url))
    return AppContext(
        vault=vault,
        settings=settings,
        master=master,
        engine=engine,
        sessions=session_factory(engine),
        passwords=PasswordPolicy(
            Argon2Params(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
        ),
        clock=clock,
        preserved=preserved,
    )
