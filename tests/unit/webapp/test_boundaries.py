"""Each audience reaches only what it needs (DESIGN: "Each blueprint reaches only the services it needs").

Read with ast, so an import inside a function, a relative import or ``importlib`` counts too.
That appliance/ imports no flask and no webapp is tests/unit/test_layering.py's to check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import webapp
from tests.imports import imported_modules

WEBAPP = Path(webapp.__file__).parent
ROOT = WEBAPP.parent

REPORTER_MAY_NOT = ("appliance.cases.service", "appliance.users.service", "webapp.handler", "webapp.admin")
STAFF_MAY_NOT = ("appliance.cases.reporting", "webapp.reporter")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, relative imports resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imported_modules(ast.parse(path.read_text("utf-8"), filename=str(path)), package)


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def offences(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {name}" for line, name in imported(path)
            if any(within(name, package) for package in forbidden)]


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def ids(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", python_files(WEBAPP / "reporter"), ids=ids)
def test_reporter_code_reaches_no_staff_service_or_blueprint(path: Path) -> None:
    assert not offences(path, REPORTER_MAY_NOT)


@pytest.mark.parametrize("path", python_files(WEBAPP / "handler") + python_files(WEBAPP / "admin")
                         + python_files(WEBAPP / "insiders"), ids=ids)
def test_staff_code_reaches_no_reporter_service_or_blueprint(path: Path) -> None:
    assert not offences(path, STAFF_MAY_NOT)


def test_the_walks_find_the_files() -> None:
    assert {"desk.py", "views.py", "forms.py"} <= {p.name for p in python_files(WEBAPP / "reporter")}
    assert {"auth.py", "views.py"} <= {p.name for p in python_files(WEBAPP / "handler")}
    assert "views.py" in {p.name for p in python_files(WEBAPP / "admin")}


@pytest.mark.parametrize(("source", "where", "forbidden"), [
    ("import appliance.cases.service", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from appliance.cases import service", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from appliance.users.service import UserService", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from ..handler import views", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from webapp.admin.views import blueprint", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("def f():\n    import webapp.handler.auth", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("import importlib\nimportlib.import_module('appliance.cases.service')", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from appliance.cases.reporting import ReportingService", "webapp/handler/x.py", STAFF_MAY_NOT),
    ("from appliance.cases import reporting", "webapp/admin/x.py", STAFF_MAY_NOT),
    ("from ..reporter.desk import desk", "webapp/admin/x.py", STAFF_MAY_NOT),
    ("from . import reporting", "appliance/cases/x.py", ("appliance.cases.reporting",)),
])
def test_the_check_sees_every_spelling(tmp_path: Path, source: str, where: str, forbidden: tuple[str, ...],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert offences(path, forbidden)


@pytest.mark.parametrize(("source", "where", "forbidden"), [
    ("from appliance.cases.reporting import NewReport", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from appliance.cases.service_levels import x", "webapp/reporter/x.py", REPORTER_MAY_NOT),
    ("from webapp.requestctx import services", "webapp/handler/x.py", STAFF_MAY_NOT),
    ("from .reporting import x", "webapp/handler/x.py", STAFF_MAY_NOT),
])
def test_the_check_leaves_other_imports_alone(tmp_path: Path, source: str, where: str, forbidden: tuple[str, ...],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert not offences(path, forbidden)
