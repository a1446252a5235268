"""Only the request's unit of work ends transactions in webapp/ (webapp/unit_of_work.py): a view
that commits or rolls back by hand would split the request's one transaction again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import webapp

WEBAPP = Path(webapp.__file__).parent
OWNER = WEBAPP / "unit_of_work.py"
TRANSACTION_CALLS = frozenset({"commit", "rollback", "begin_nested", "begin"})


def transaction_calls(source: str) -> list[tuple[int, str]]:
    return [(node.lineno, node.func.attr) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in TRANSACTION_CALLS]


@pytest.mark.parametrize("path", sorted(p for p in WEBAPP.rglob("*.py") if p != OWNER),
                         ids=lambda p: p.relative_to(WEBAPP).as_posix())
def test_no_module_but_the_unit_of_work_commits_or_rolls_back(path: Path) -> None:
    assert transaction_calls(path.read_text("utf-8")) == []


def test_the_unit_of_work_holds_the_only_transaction_calls() -> None:
    assert sorted(name for _, name in transaction_calls(OWNER.read_text("utf-8"))) == [
        "begin_nested", "commit", "rollback"]


@pytest.mark.parametrize("source", [
    "session.commit()", "services().session.rollback()", "with s.begin_nested():\n    pass", "desk.session.commit()",
])
def test_the_check_sees_each_form(source: str) -> None:
    assert transaction_calls(source)
