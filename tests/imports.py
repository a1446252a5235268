"""Reading a module's imports with ast (shared by the layering and boundary tests).

An import inside a function, a relative import, ``__import__`` and ``importlib.import_module``
all count; ``from a import b`` names both ``a`` and ``a.b``. Imports under ``if TYPE_CHECKING:``
count unless ``at_run_time`` is asked for.
"""

from __future__ import annotations

import ast


def imported_modules(tree: ast.AST, package: str = "", *, at_run_time: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import in a parsed module that lives in ``package``.

    ``at_run_time``: leave out the imports under ``if TYPE_CHECKING:`` (only the type checker
    runs them), as the import graph of the layering test does."""
    found: list[tuple[int, str]] = []
    blocks = [node for node in ast.walk(tree) if at_run_time and isinstance(node, ast.If) and _is_type_checking(node)]
    skipped = {id(inner) for block in blocks for child in block.body for inner in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            found.append((node.lineno, node.args[0].value))
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
