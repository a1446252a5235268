"""The domain core never imports the web layer (STYLE.md: appliance/ never imports flask)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import appliance
from tests.imports import imported_modules

PACKAGE = Path(appliance.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
WEB_PACKAGES = ("flask", "werkzeug", "webapp")


def is_web(module: str) -> bool:
    root = module.split(".", 1)[0]
    return root in WEB_PACKAGES or root.startswith("flask_")


def test_the_walk_finds_the_package() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in MODULES}
    assert {"settings.py", "db.py", "crypto/fields.py", "cases/service.py", "cli/main.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_imports_the_web_layer(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    parts = ["appliance", *path.relative_to(PACKAGE).with_suffix("").parts]
    package = ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")
    offenders = [f"line {line}: {name}" for line, name in imported_modules(tree, package) if is_web(name)]
    assert not offenders


@pytest.mark.parametrize(
    "source",
    ["import flask", "from flask import abort", "import flask_wtf.csrf", "from werkzeug.exceptions import NotFound",
     "def f():\n    from webapp import create_app", "import importlib\nimportlib.import_module('flask')",
     "__import__('flask')"],
)
def test_the_check_sees_every_spelling(source: str) -> None:
    assert any(is_web(name) for _line, name in imported_modules(ast.parse(source)))


@pytest.mark.parametrize("source", ["import flasky", "from appliance.cases import read_models", "import sqlalchemy"])
def test_the_check_leaves_other_imports_alone(source: str) -> None:
    assert not any(is_web(name) for _line, name in imported_modules(ast.parse(source)))


def test_importing_every_module_loads_no_web_package() -> None:
    """Transitive imports count too; a fresh interpreter shows what really gets loaded."""
    script = textwrap.dedent("""
        import importlib, pkgutil, sys
        import appliance
        for info in pkgutil.walk_packages(appliance.__path__, "appliance."):
            if info.name.startswith("appliance.migrations.") and info.name != "appliance.migrations.runner":
                continue  # env.py and revisions only run inside alembic
            importlib.import_module(info.name)
        print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "werkzeug", "webapp")
                              or m.startswith("flask_"))))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    assert result.stdout.strip() == ""
