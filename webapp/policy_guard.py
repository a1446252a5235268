"""Enforces each route's declared access policy before the view runs."""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask, abort, current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response

from appliance.services import reporter_session_limits, staff_session_limits
from webapp.policy import policy_of, required_role
from webapp.requestctx import app_context, services
from webapp.security import cookie_name

log = logging.getLogger(__name__)
SIGNIN_WINDOW = dt.timedelta(minutes=10)
BUILTIN = {"static": "public"}  # Flask's own static view cannot carry the attribute


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
    desk = services()
    token = request.cookies.get(cookie_name(settings, "staff"))
    row = desk.web_sessions.lookup(token, "staff", staff_session_limits(app_context()))
    if row is not None and row.stage != "full" and app_context().clock() - row.created_at > SIGNIN_WINDOW:
        row = None
    g.staff_session = row
    if row is None or row.user_id is None or (stage is not None and row.stage != stage):
        return False
    user = desk.users.get(row.user_id)
    if user.disabled_at is not None:
        return False
    g.user = user
    if row.stage == "full":
        g.principal = desk.users.principal(row.user_id, desk.web_sessions.secret(row, token))
    desk.session.commit()  # persist the idle-timeout touch
    return True


def _load_reporter() -> Response | None:
    settings = app_context().settings
    desk = services()
    token = request.cookies.get(cookie_name(settings, "reporter"))
    row = desk.web_sessions.lookup(token, "reporter", reporter_session_limits(app_context()))
    slug = (request.view_args or {}).get("slug", "")
    if row is None or row.case_id is None:
        desk.session.commit()
        return redirect(url_for("reporter.follow_up", slug=slug))
    g.reporter_case_id = row.case_id
    g.reporter_key = desk.web_sessions.secret(row, token)  # None while the reporter's copy is pending
    desk.session.commit()
    return None
