"""Row count and checksum per table: what `verify` compares between a restore and the catalog.

The backup catalog and the scheduler's own tables are left out: they change right after a
backup is taken (the backup's own catalog row is written after its snapshot).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import sqlalchemy as sa

NOT_FINGERPRINTED = frozenset({"backups", "backup_copies", "backup_sites", "job_runs", "scheduler_lease"})


def fingerprinted_tables(schema: sa.MetaData) -> list[sa.Table]:
    return [t for t in schema.sorted_tables if t.name not in NOT_FINGERPRINTED]


def fingerprint(connection: sa.Connection, schema: sa.MetaData, blob_bytes: bool = True) -> dict[str, tuple[int, str]]:
    """(rows, sha256 over the rows in primary-key order) for every table of ``schema`` (the
    complete metadata, ``appliance.models.Base.metadata``: the caller above the domain has it).

    ``blob_bytes=False``: large binary columns contribute only their length (for a backup
    that is a byte copy whose file checksum already covers them).
    """
    result: dict[str, tuple[int, str]] = {}
    for table in fingerprinted_tables(schema):
        digest = hashlib.sha256()
        rows = 0
        columns = [c if blob_bytes or not _is_blob(c) else sa.func.length(c).label(c.name) for c in table.columns]
        query = sa.select(*columns).order_by(*table.primary_key.columns)
        for row in connection.execution_options(yield_per=200).execute(query):
            for value in row:
                if isinstance(value, (bytes, bytearray, memoryview)):
                    # Length-prefixed raw bytes: no copy, no hex (attachment chunks are most of the data).
                    digest.update(b"b%d:" % len(value))
                    digest.update(value)
                else:
                    encoded = _canonical(value)
                    digest.update(b"%d:" % len(encoded))
                    digest.update(encoded)
            digest.update(b"\x1d")
            rows += 1
        result[table.name] = (rows, digest.hexdigest())
    return result


def _is_blob(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.LargeBinary) and not isinstance(column.type, sa.VARBINARY) \
        and (column.type.length is None or column.type.length > 64)


def _canonical(value: Any) -> bytes:
    if value is None:
        return b"\x00"
    if isinstance(value, dt.datetime):
        return b"t" + value.astimezone(dt.UTC).isoformat().encode()
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, uuid.UUID):
        return str(value).encode()
    return str(value).encode()


def differences(expected: dict[str, tuple[int, str]], actual: dict[str, tuple[int, str]]) -> list[str]:
    problems = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None or got is None:
            problems.append(f"table {name} missing on one side")
        elif want[0] != got[0]:
            problems.append(f"table {name}: {got[0]} rows, catalog says {want[0]}")
        elif want[1] != got[1]:
            problems.append(f"table {name}: checksum differs from the catalog")
    return problems
