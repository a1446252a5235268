"""One unit of work per web request: the request owns the transaction, views never commit.

The session opens lazily, the first time a desk (or the policy guard) needs it. When the
response is ready, ``after_request`` settles it: a response the view (or a ``before_request``
function) returned commits, whatever its status (a form re-rendered with 400 keeps the failure
count and the logbook entry its attempt recorded); a response an error handler made of an
exception rolls back. An exception that escapes every handler, or a commit that fails, rolls
back too. The CLI and the jobs do the same with ``AppContext.unit_of_work()``.

Logbook events reach the JSON-lines stream only from the session's ``after_commit`` hook
(appliance/audit/service.py), so an event is streamed exactly when its transaction commits here.

A view marked ``@reads_only`` declares that its GET (and HEAD) only reads the database: its
session is one of ``AppContext.reading_sessions`` (appliance.db.read_only_engine), so on SQLite
the page neither takes nor waits for the write lock that every other transaction holds from
its first statement, and a write that slipped into such a view raises instead of committing.

This is the only module in webapp/ that commits, rolls back or opens a savepoint
(tests/unit/webapp/test_unit_of_work_calls.py checks it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from appliance.errors import ApplianceError
from appliance.services import Services
from webapp.requestctx import app_context

F = TypeVar("F", bound=Callable[..., Any])
_UNIT = "unit_of_work"
_READS_ONLY = "reads_only"
_FAILED = "unit_of_work_failed"


class RequestUnitOfWork:
    """The request's session and its one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.services = Services(app_context(), session)

    @contextlib.contextmanager
    def attempt(self, keep: tuple[type[ApplianceError], ...] = ()) -> Iterator[None]:
        """A savepoint around one try of a domain operation. When it raises, its writes go and
        the error reaches the view (which re-renders its form); what the request wrote before
        stays and commits with the request. For the errors in ``keep`` the attempt's writes stay
        too (an operation that marks stale state, e.g. a superseded change, before it refuses)."""
        kept: ApplianceError | None = None
        with self.session.begin_nested():
            try:
                yield
            except keep as exc:
                kept = exc
        if kept is not None:
            raise kept

    def commit_now(self) -> None:
        """Commit what the request wrote so far, before the response is settled: only to end a
        transaction before a long wait (the upload a form streams, the chunks of a download; on
        SQLite every transaction holds the write lock)."""
        self.session.commit()

    def rollback_now(self) -> None:
        """Drop what the request wrote so far (an error handler that reads after a failed view)."""
        self.session.rollback()

    def settle(self, keep: bool) -> None:
        if keep:
            self.commit_now()
        else:
            self.rollback_now()


class UnitOfWorkApp(Flask):
    """Flask, noting on the request when an exception reached the error handlers: whatever they
    answer, the request's writes roll back."""

    def handle_user_exception(self, e: Exception) -> HTTPException | ResponseReturnValue:
        g.setdefault(_FAILED, True)
        return super().handle_user_exception(e)

    def handle_exception(self, e: Exception) -> Response:
        g.setdefault(_FAILED, True)
        return super().handle_exception(e)


def reads_only(view: F) -> F:
    """Mark a view whose GET and HEAD only read the database (module docstring)."""
    setattr(view, _READS_ONLY, True)
    return view


def _reading() -> bool:
    if request.method not in ("GET", "HEAD") or request.endpoint is None:
        return False
    return bool(getattr(current_app.view_functions.get(request.endpoint), _READS_ONLY, False))


def unit_of_work() -> RequestUnitOfWork:
    """The request's unit of work, opened on first use."""
    unit: RequestUnitOfWork | None = g.get(_UNIT)
    if unit is None:
        context = app_context()
        unit = RequestUnitOfWork(context.reading_sessions() if _reading() else context.sessions())
        setattr(g, _UNIT, unit)
    return unit


def install(app: Flask) -> None:
    app.after_request(_settle)
    app.teardown_request(_close)


def _settle(response: Response) -> Response:
    unit: RequestUnitOfWork | None = g.get(_UNIT)
    if unit is not None:
        unit.settle(keep=not g.get(_FAILED, False))
    return response


def _close(_exc: BaseException | None) -> None:
    # After a settled response this drops nothing but a streamed body's reads; after an
    # exception that reached no handler, it drops everything.
    unit: RequestUnitOfWork | None = g.pop(_UNIT, None)
    if unit is not None:
        unit.rollback_now()
        unit.session.close()
