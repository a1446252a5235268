"""The layers of appliance/, read from the imports: no import cycle, crypto/ pure, each layer
importing only itself and the layers below it, and no module importing the web layer (STYLE.md:
appliance/ never imports flask).

Imports inside functions count (they run); imports under ``if TYPE_CHECKING:`` do not (only
the type checker runs them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import appliance
from tests.imports import imported_modules

PACKAGE = Path(appliance.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
WEB_PACKAGES = ("flask", "werkzeug", "webapp")

# Top to bottom. A package imports only packages of its own layer or of the layers below.
# A top-level module (context.py, services.py, models.py, db.py, ...) counts as a package of
# its own; "" is appliance/__init__.py. webapp/ sits beside the entry points (not walked here:
# nothing in appliance/ may import it, see the web-layer tests below).
LAYERS: list[tuple[str, set[str]]] = [
    ("entry points: terminal, time, schema upgrades", {"cli", "jobs", "migrations"}),
    ("installation-wide procedures (take the composition root)", {"operations"}),
    ("composition root: wiring, and every table in one metadata", {"context", "services", "models"}),
    # The domain, one package per layer: the order is what keeps it free of cycles.
    ("data-subject rights across the domain", {"privacy"}),
    ("retention", {"retention"}),
    ("MAR registers: delayed disclosures, PDMRs and the financial calendar", {"disclosures", "pdmr"}),
    ("acknowledgement links (mails need staff accounts and the person chain)", {"acknowledgements"}),
    ("statistics over case metadata", {"statistics"}),
    ("cases", {"cases"}),
    ("reader lists", {"readers"}),
    ("staff accounts", {"users"}),
    ("access events uploaded through the API", {"events"}),
    ("insider lists (MAR Art. 18)", {"insiders"}),
    ("person chain", {"persons"}),
    ("tenants; backups of the database; API tokens", {"tenants", "backup", "api_tokens"}),
    ("key management backed by the database", {"keys"}),
    ("shared services the domain uses", {"audit", "notify", "ephemeral", "job_runs", "documents"}),
    ("cryptographic primitives", {"crypto"}),
    ("core", {"actors", "clock", "db", "db_tls", "errors", "settings", ""}),
]
# What crypto/ may import besides itself: errors, and db for the blob column type that
# EncryptedBytes stores its envelopes in (db imports only settings and errors).
CRYPTO_MAY_IMPORT = {"appliance.errors", "appliance.db"}


def is_web(module: str) -> bool:
    root = module.split(".", 1)[0]
    return root in WEB_PACKAGES or root.startswith("flask_")


def module_of(path: Path) -> str:
    parts = ["appliance", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """appliance.cases.service -> cases; appliance.context -> context; appliance -> ""."""
    return module.split(".")[1] if "." in module else ""


def import_graph(sources: Mapping[str, str], packages: Iterable[str] = ()) -> dict[str, set[str]]:
    """Module -> the appliance modules it imports at run time. ``sources``: module -> source;
    ``packages``: the modules that are packages (their __init__), for relative imports."""
    known, is_package = set(sources), set(packages)
    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        anchor = module if module in is_package else module.rpartition(".")[0]
        graph[module] = set()
        for _line, name in imported_modules(ast.parse(source), anchor, at_run_time=True):
            parts = name.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            target = ".".join(parts)
            # A module's own packages are imported before it anyway: not an edge.
            if parts and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def package_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module))
    return packages


GRAPH = import_graph({module_of(p): p.read_text("utf-8") for p in MODULES},
                     {module_of(p) for p in MODULES if p.name == "__init__.py"})
LAYER_OF = {package: depth for depth, (_name, packages) in enumerate(LAYERS) for package in packages}


def test_no_import_cycle_among_modules() -> None:
    assert cycles(GRAPH) == []


def test_no_import_cycle_among_packages() -> None:
    assert cycles(package_graph(GRAPH)) == []


def test_crypto_imports_nothing_of_the_domain() -> None:
    offenders = sorted(f"{module} imports {target}" for module, targets in GRAPH.items()
                       if package_of(module) == "crypto" for target in targets
                       if package_of(target) != "crypto" and target not in CRYPTO_MAY_IMPORT)
    assert offenders == []


def test_every_package_has_a_layer() -> None:
    """A new package takes a place in LAYERS (and so a decision about what it may import)."""
    assert set(package_graph(GRAPH)) - set(LAYER_OF) == set()
    assert set(LAYER_OF) - set(package_graph(GRAPH)) == set()  # no layer names a package that is gone


def test_each_layer_imports_only_itself_and_the_layers_below() -> None:
    offenders = sorted(f"{module} ({LAYERS[LAYER_OF[package_of(module)]][0]}) imports {target} "
                       f"({LAYERS[LAYER_OF[package_of(target)]][0]})"
                       for module, targets in GRAPH.items() for target in targets
                       if LAYER_OF[package_of(target)] < LAYER_OF[package_of(module)])
    assert offenders == []


def test_the_graph_counts_imports_in_functions_and_leaves_out_type_checking() -> None:
    graph = import_graph({
        "appliance.a.x": "def f():\n    from appliance.b import y\n",
        "appliance.b.y": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from appliance.a.x import f\n",
        "appliance.b": "", "appliance.a": "",
    }, {"appliance.a", "appliance.b"})
    assert graph["appliance.a.x"] == {"appliance.b", "appliance.b.y"}
    assert graph["appliance.b.y"] == set()


@pytest.mark.parametrize(("sources", "expected"), [
    ({"appliance.a": "import appliance.b", "appliance.b": "from appliance import a"}, [["appliance.a", "appliance.b"]]),
    ({"appliance.a": "import appliance.b", "appliance.b": "import appliance.c",
      "appliance.c": "def f():\n    import appliance.a"}, [["appliance.a", "appliance.b", "appliance.c"]]),
    ({"appliance.a": "import appliance.b", "appliance.b": "import appliance.c", "appliance.c": ""}, []),
])
def test_the_cycle_finder(sources: dict[str, str], expected: list[list[str]]) -> None:
    assert cycles(import_graph(sources, {"appliance"})) == expected


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
