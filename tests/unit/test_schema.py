"""The schema compiles for every backend, and for SQL Server it avoids the traps:
no TEXT/NTEXT/IMAGE (deprecated, and unusable in keys and indexes) and no UNIQUE over a
nullable column (SQL Server treats NULLs as equal, so a second NULL would collide).

Both the models (Base.metadata) and the alembic migrations are checked; the migrations
are rendered with alembic's offline (``as_sql``) mode, without a database.
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import mssql, postgresql, sqlite
from sqlalchemy.dialects.mssql import pymssql
from sqlalchemy.schema import CreateIndex, CreateTable

import appliance.models
from appliance.db import Base
from appliance.migrations import runner

VERSIONS = Path(runner.HERE) / "versions"
FORBIDDEN_TYPE = re.compile(r"\b(TEXT|NTEXT|IMAGE)\b", re.IGNORECASE)
CREATE_TABLE = re.compile(r"^CREATE TABLE (?P<table>\S+) \((?P<body>.*)\)\s*;?\s*$", re.DOTALL)
UNIQUE_CONSTRAINT = re.compile(r"\bUNIQUE\s*\((?P<columns>[^)]*)\)")
UNIQUE_INDEX = re.compile(r"^CREATE UNIQUE (?:NONCLUSTERED |CLUSTERED )?INDEX \S+ ON (?P<table>\S+) \((?P<columns>[^)]*)\)")

MSSQL_DIALECTS = {"mssql+pymssql": pymssql.dialect, "mssql": mssql.dialect}
ALL_DIALECTS = {**MSSQL_DIALECTS, "postgresql": postgresql.dialect, "sqlite": sqlite.dialect}

TABLES = sorted(Base.metadata.tables.values(), key=lambda t: t.name)


def unquote(name: str) -> str:
    return name.strip().strip('[]"`')


def metadata_ddl(dialect: sa.Dialect) -> Iterator[tuple[str, str]]:
    for table in Base.metadata.sorted_tables:
        yield table.name, str(CreateTable(table).compile(dialect=dialect))
        for index in table.indexes:
            yield table.name, str(CreateIndex(index).compile(dialect=dialect))


def load_migration(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def migration_modules() -> list[ModuleType]:
    """Every revision, in order from the base to the head."""
    modules = {m.revision: m for m in map(load_migration, sorted(VERSIONS.glob("*.py")))}
    ordered, previous = [], None
    while True:
        following = [m for m in modules.values() if m.down_revision == previous]
        if not following:
            break
        assert len(following) == 1, "branched migration history"
        ordered.append(following[0])
        previous = following[0].revision
    assert len(ordered) == len(modules), "revisions not reachable from the base"
    return ordered


def migration_sql(dialect: sa.Dialect) -> list[str]:
    """The statements ``alembic upgrade head --sql`` would print for this dialect."""
    buffer = io.StringIO()
    context = MigrationContext.configure(dialect=dialect, opts={"as_sql": True, "output_buffer": buffer})
    with Operations.context(context):
        for module in migration_modules():
            module.upgrade()
    text = buffer.getvalue()
    parts = re.split(r"^GO$", text, flags=re.MULTILINE) if dialect.name == "mssql" else text.split(";\n")
    return [part.strip() for part in parts if part.strip()]


def nullable_columns(create_table: str) -> set[str]:
    """Columns a rendered CREATE TABLE leaves nullable (SQL Server spells out NULL)."""
    body = CREATE_TABLE.match(create_table.strip())
    assert body is not None, create_table
    nullable = set()
    for line in body.group("body").splitlines():
        line = line.strip().rstrip(",").strip()
        if not line or line.startswith(("CONSTRAINT", "PRIMARY", "FOREIGN", "UNIQUE", "CHECK")):
            continue
        name = unquote(line.split()[0])
        if "NOT NULL" not in line and "PRIMARY KEY" not in line:
            nullable.add(name)
    return nullable


def unique_column_sets(statement: str) -> list[list[str]]:
    return [[unquote(c) for c in m.group("columns").split(",")] for m in UNIQUE_CONSTRAINT.finditer(statement)]


# the models --------------------------------------------------------------------------------

def test_models_module_registers_every_table() -> None:
    names = {t.name for t in TABLES}
    for exported in appliance.models.__all__:
        model = getattr(appliance.models, exported)
        if exported != "Base":
            assert model.__tablename__ in names
    assert len(names) == len(appliance.models.__all__) - 1


@pytest.mark.parametrize("dialect_name", sorted(ALL_DIALECTS))
def test_metadata_compiles(dialect_name: str) -> None:
    statements = list(metadata_ddl(ALL_DIALECTS[dialect_name]()))
    created = {name for name, sql in statements if sql.lstrip().startswith("CREATE TABLE")}
    assert created == {t.name for t in TABLES}


@pytest.mark.parametrize("dialect_name", sorted(MSSQL_DIALECTS))
def test_metadata_has_no_text_ntext_or_image_on_sql_server(dialect_name: str) -> None:
    for table, sql in metadata_ddl(MSSQL_DIALECTS[dialect_name]()):
        assert not FORBIDDEN_TYPE.search(sql), f"{table}: {FORBIDDEN_TYPE.search(sql)}\n{sql}"


def test_sealed_columns_are_varbinary_max_on_sql_server() -> None:
    dialect = pymssql.dialect()
    for table in TABLES:
        for column in table.columns:
            if column.name.endswith("_sealed") or column.name in ("wrapped_key", "data"):
                assert column.type.compile(dialect=dialect) == "VARBINARY(max)", f"{table.name}.{column.name}"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_no_unique_constraint_or_index_over_a_nullable_column(table: sa.Table) -> None:
    covered: list[tuple[str, sa.Column[object]]] = []
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and not isinstance(constraint, sa.PrimaryKeyConstraint):
            covered += [(str(constraint.name), c) for c in constraint.columns]
    for index in table.indexes:
        if index.unique:
            covered += [(str(index.name), c) for c in index.columns]
    for column in table.columns:
        if column.unique:
            covered.append((f"{column.name} unique=True", column))
    offenders = [f"{name} covers nullable {column.name}" for name, column in covered if column.nullable]
    assert not offenders


def test_the_unique_check_would_catch_an_offender() -> None:
    """The check above is not vacuous: a nullable unique column is seen."""
    metadata = sa.MetaData()
    table = sa.Table("probe", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("email", sa.String(50), nullable=True, unique=True))
    ddl = str(CreateTable(table).compile(dialect=pymssql.dialect()))
    assert "email" in nullable_columns(ddl)
    assert ["email"] in unique_column_sets(ddl)
    assert not FORBIDDEN_TYPE.search("x NVARCHAR(max), y VARCHAR(20), z VARBINARY(max), TEXTILE int")
    assert FORBIDDEN_TYPE.search("body NTEXT NULL")


# the migrations ----------------------------------------------------------------------------

def test_migrations_form_one_line_of_history() -> None:
    modules = migration_modules()
    assert modules
    assert modules[-1].revision == runner.head_revision()


@pytest.mark.parametrize("dialect_name", sorted(ALL_DIALECTS))
def test_migrations_render_offline(dialect_name: str) -> None:
    statements = migration_sql(ALL_DIALECTS[dialect_name]())
    created = {unquote(m.group("table")) for s in statements if (m := CREATE_TABLE.match(s))}
    assert created == {t.name for t in TABLES}


@pytest.mark.parametrize("dialect_name", sorted(MSSQL_DIALECTS))
def test_migrations_have_no_text_ntext_or_image_on_sql_server(dialect_name: str) -> None:
    for statement in migration_sql(MSSQL_DIALECTS[dialect_name]()):
        if statement.startswith(("CREATE", "ALTER")):
            assert not FORBIDDEN_TYPE.search(statement), statement


@pytest.mark.parametrize("dialect_name", sorted(MSSQL_DIALECTS))
def test_migrations_put_no_unique_over_a_nullable_column(dialect_name: str) -> None:
    statements = migration_sql(MSSQL_DIALECTS[dialect_name]())
    nullable: dict[str, set[str]] = {}
    for statement in statements:
        if match := CREATE_TABLE.match(statement):
            table = unquote(match.group("table"))
            nullable[table] = nullable_columns(statement)
            for columns in unique_column_sets(statement):
                assert not set(columns) & nullable[table], f"{table}: UNIQUE {columns}"
    assert nullable, "no CREATE TABLE found"
    for statement in statements:
        if match := UNIQUE_INDEX.match(statement):
            table = unquote(match.group("table"))
            columns = {unquote(c) for c in match.group("columns").split(",")}
            assert not columns & nullable[table], statement
        assert not re.match(r"^ALTER TABLE .* ADD .*\bUNIQUE\b", statement, re.DOTALL), \
            f"check this ALTER by hand and extend the test: {statement}"


@pytest.mark.parametrize("dialect_name", sorted(ALL_DIALECTS))
def test_migrations_build_the_same_schema_as_the_models(dialect_name: str) -> None:
    """Model and migration drift shows up here, line by line, per table and index."""
    dialect = ALL_DIALECTS[dialect_name]()

    def normalise(statement: str) -> tuple[str, ...]:
        lines = (line.strip().rstrip(",").strip() for line in statement.strip().rstrip(";").splitlines())
        return tuple(sorted(line for line in lines if line))

    from_models = {normalise(sql) for _table, sql in metadata_ddl(dialect)}
    from_migrations = {normalise(s) for s in fold_alters(migration_sql(dialect), dialect.name)}
    assert from_migrations == from_models


ALTER_ADD = re.compile(r"^ALTER TABLE (?P<table>\S+) ADD (?:COLUMN )?(?P<column>.+?);?$", re.DOTALL)
ALTER_NULL = re.compile(r"^ALTER TABLE (?P<table>\S+) ALTER COLUMN (?P<name>\S+) (?P<rest>.+?);?$", re.DOTALL)
# Offline SQL for SQLite cannot rebuild a table, so 0002 and 0007 leave these NOT NULLs out of
# it (the embedded database is always migrated online, where they are dropped).
SQLITE_OFFLINE_GAPS = {("cases", "key_version"), ("cases", "wrapped_key"), ("person_identifiers", "value_sealed"),
                       ("insider_versions", "content_sealed")}  # ... and 0022
# ... and 0004 adds users.person_id without its foreign key there, for the same reason.
SQLITE_OFFLINE_FOREIGN_KEYS = {
    ("users", "CONSTRAINT fk_users_person_id_persons FOREIGN KEY(person_id) REFERENCES persons (id)"),
}


def fold_alters(statements: list[str], dialect_name: str) -> list[str]:
    """The CREATE TABLEs as the later ALTERs of the migrations leave them."""
    tables: dict[str, list[str]] = {}
    order: list[str] = []
    for statement in statements:
        if match := CREATE_TABLE.match(statement):
            name = unquote(match.group("table"))
            tables[name] = statement.splitlines()
            order.append(name)
        elif statement.startswith("CREATE"):
            order.append(statement)
        elif add := ALTER_ADD.match(statement):
            lines = tables[unquote(add.group("table"))]
            lines.insert(-1, "\t" + add.group("column").strip() + ",")
        elif change := ALTER_NULL.match(statement):
            lines = tables[unquote(change.group("table"))]
            column = unquote(change.group("name"))
            for i, line in enumerate(lines):
                if line.strip().split(" ", 1)[0] == column:
                    rest = change.group("rest").strip()
                    if rest == "DROP NOT NULL":
                        lines[i] = line.replace(" NOT NULL", "")
                    elif rest == "SET NOT NULL":
                        lines[i] = line.rstrip(",") + " NOT NULL,"
                    else:
                        lines[i] = f"\t{column} {rest},"
    if dialect_name == "sqlite":
        for table, column in SQLITE_OFFLINE_GAPS:
            tables[table] = [line.replace(" NOT NULL", "") if line.strip().startswith(column + " ") else line
                             for line in tables[table]]
        for table, constraint in SQLITE_OFFLINE_FOREIGN_KEYS:
            tables[table].insert(-1, "\t" + constraint + ",")
    return [("\n".join(tables[item]) if item in tables else item) for item in order]


@pytest.mark.parametrize("dialect", [mssql.dialect(), pymssql.dialect()], ids=["mssql", "pymssql"])
def test_offline_sql_server_script_can_run(dialect: sa.Dialect) -> None:
    """`alembic upgrade head --sql` for a DBA to review must be runnable as printed."""
    statements = migration_sql(dialect)
    assert not any("IDENTITY_INSERT" in s for s in statements)
    assert any(s.startswith("INSERT INTO audit_head") and "0x" + "00" * 32 in s for s in statements)
