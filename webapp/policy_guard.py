"""Enforces each route's declared access policy before the view runs.

What it writes (an idle-timeout touch, an expired session deleted) commits with the request's
unit of work (webapp/unit_of_work.py), like everything else the request writes."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from flask import Flask, abort, current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response

from appliance.actors import StaffPrincipal
from appliance.services import reporter_session_limits, staff_session_limits
from appliance.users.models import User, WebSession
from appliance.users.sessions import SessionLimits
from webapp.api import guard as api_guard
from webapp.desk import Desk
from webapp.policy import policy_of, required_role, required_scope
from webapp.requestctx import app_context
from webapp.security import cookie_name

log = logging.getLogger(__name__)
SIGNIN_WINDOW = dt.timedelta(minutes=10)
BUILTIN = {"static": "public"}  # Flask's own static view cannot carry the attribute


class SessionDesk(Desk):
    """What the guard reaches: web sessions by cookie token, and the staff user behind one."""

    def lookup(self, token: str | None, kind: str, limits: SessionLimits) -> WebSession | None:
        return self._services.web_sessions.lookup(token, kind, limits)

    def secret(self, row: WebSession, token: str | None) -> bytes | None:
        return self._services.web_sessions.secret(row, token)

    def user(self, user_id: uuid.UUID) -> User:
        return self._services.users.get(user_id)

    def principal(self, user_id: uuid.UUID, private_key: bytes | None) -> StaffPrincipal:
        return self._services.users.principal(user_id, private_key)


def install(app: Flask) -> None:
    app.before_request(enforce)


def enforce() -> Response | None:
    if request.endpoint is None:
        return None  # routing will answer 404/405
    policy = BUILTIN.get(request.endpoint) or policy_of(current_app.view_functions.get(request.endpoint))
    if policy is None:
        log.error("route %s has no access policy; refusing", request.endpoint)
        abort(500)
    g.policy = policy
    if policy in ("public", "monitoring", "reporter"):
        return None
    if policy == "reporter-session":
        return _load_reporter()
    scope = required_scope(policy)
    if scope is not None:
        api_guard.enforce(scope)  # bearer token only: no cookie is read
        return None
    if policy == "staff-signin":
        _load_staff(stage=None)
        return None
    if not _load_staff(stage="full"):
        return redirect(url_for("handler.login"))
    role = required_role(policy)
    if role is not None and not g.principal.has_any(role):
        abort(403)
    return None


def _load_staff(stage: str | None) -> bool:
    """Put the staff session (and, when complete, the principal) on g."""
    settings = app_context().settings
    desk = SessionDesk.of_request()
    token = request.cookies.get(cookie_name(settings, "staff"))
    row = desk.lookup(token, "staff", staff_session_limits(app_context()))
    if row is not None and row.stage != "full" and app_context().clock() - row.created_at > SIGNIN_WINDOW:
        row = None
    g.staff_session = row
    if row is None or row.user_id is None or (stage is not None and row.stage != stage):
        return False
    user = desk.user(row.user_id)
    if user.disabled_at is not None:
        return False
    g.user = user
    if row.stage == "full":
        g.principal = desk.principal(row.user_id, desk.secret(row, token))
    return True


def _load_reporter() -> Response | None:
    settings = app_context().settings
    desk = SessionDesk.of_request()
    token = request.cookies.get(cookie_name(settings, "reporter"))
    row = desk.lookup(token, "reporter", reporter_session_limits(app_context()))
    slug = (request.view_args or {}).get("slug", "")
    if row is None or row.case_id is None:
        return redirect(url_for("reporter.follow_up", slug=slug))
    g.reporter_case_id = row.case_id
    g.reporter_key = desk.secret(row, token)  # None while the reporter's copy is pending
    return None
