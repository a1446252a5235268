"""Who can open a case: sharing and withdrawing access, and the page shown on a locked case.

Sharing re-seals the case's private key to a colleague with the key held in the sharer's session;
withdrawing drops the colleague's sealed copy. The logbook (written by the domain) names
the case and the user by id only. A handler without a copy sees the case's metadata, the
reason in plain words and whom to ask, never its content.
"""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import StaffPrincipal
from appliance.errors import CaseLocked, InvalidInput, NotAReader, NotFound
from webapp.errors import locked_message, page
from webapp.handler import confirmations
from webapp.handler.desk import HandlerDesk
from webapp.handler.views import render_case
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import category_label

routes = RouteTable()


@routes.post("/cases/<uuid:case_id>/access")
@access("staff:handler")
def grant_access(case_id: uuid.UUID) -> Response | tuple[str, int]:
    """Give a colleague of the case's organisation their own key to it."""
    try:
        user_id = uuid.UUID(request.form.get("user", ""))  # CSRF was checked by CSRFProtect
    except ValueError:
        return render_case(case_id, access_error=_("Choose the handler to share the case with.")), 400
    desk = HandlerDesk.of_request()
    try:
        with desk.attempt():
            desk.cases.share(g.principal, case_id, user_id)
    except NotAReader:
        return render_case(case_id, access_error=_(
            "This colleague is not a confirmed reader of this organisation (or has a new key no reader has "
            "confirmed yet). An administrator proposes them, a reader confirms it on the Readers page; then share "
            "the case again.")), 400
    except NotFound as exc:
        if exc.kind != "handler":
            raise
        return render_case(case_id, access_error=_("Choose an active handler of this organisation.")), 400
    except CaseLocked:
        if not desk.cases.can_read(g.principal, case_id):
            raise
        # Readable but not sealed yet: a case from before the upgrade, still under the server's key.
        return render_case(case_id, access_error=_(
            "This case still uses the server's old key, so it cannot be shared yet. Ask the system "
            "administrator to run “appliance keys seal-existing”.")), 400
    return confirmations.done(case_id, "shared")


@routes.post("/cases/<uuid:case_id>/reporter-copy")
@access("staff:handler")
def restore_reporter_copy(case_id: uuid.UUID) -> Response | tuple[str, int]:
    """Give the reporter of a case from before sealed keys their own copy back (a deliberate act:
    opening a case never adds a copy by itself)."""
    desk = HandlerDesk.of_request()
    try:
        with desk.attempt():
            desk.cases.restore_reporter_copy(g.principal, case_id)
    except InvalidInput:
        return render_case(case_id, access_error=_("The reporter has no key waiting to be restored.")), 400
    return confirmations.done(case_id, "reporter-key")


@routes.post("/cases/<uuid:case_id>/access/<uuid:user_id>/revoke")
@access("staff:handler")
def revoke_access(case_id: uuid.UUID, user_id: uuid.UUID) -> Response | tuple[str, int]:
    """Withdraw a handler's key to the case (one's own too, while someone else keeps one)."""
    desk = HandlerDesk.of_request()
    try:
        with desk.attempt():
            desk.cases.unshare(g.principal, case_id, user_id)
    except InvalidInput:
        return render_case(case_id, access_error=_(
            "This is the last handler who can open the case, so the access stays. Share the case with a "
            "colleague first.")), 400
    if user_id == g.principal.user_id:
        return redirect(url_for("handler.queue"), code=303)
    return confirmations.done(case_id, "unshared")


@routes.errorhandler(CaseLocked)
def locked(exc: CaseLocked) -> ResponseReturnValue:
    """Any handler route on a case the user's key does not open: what may be known, and whom to ask.
    Its answer rolls the request back (webapp/unit_of_work.py)."""
    desk = HandlerDesk.of_request()
    desk.rollback_now()  # a route may have changed the case before it needed the key: read without it
    principal: StaffPrincipal | None = g.get("principal")
    if principal is None:
        return _plain_locked(exc)
    try:
        summary = desk.cases.summary(principal, exc.case_id)
        holders = desk.cases.holders(principal, exc.case_id)
    except NotFound:
        return _plain_locked(exc)
    tenant = desk.tenant_by_id(summary.tenant_id)
    categories = {c.id: category_label(c.label) for c in desk.all_categories(tenant.id)}
    handlers = {u.id: u.email for u in desk.users.handlers_of(tenant.id)}
    # Only colleagues who can still act on it: a current copy, and still an active handler here.
    can_open = sorted(handlers[h.user_id] for h in holders
                      if h.current and h.user_id != principal.user_id and h.user_id in handlers)
    return render_template("handler/locked.html", case=summary, tenant=tenant, reason=exc.reason,
                           category=categories.get(summary.category_id, "—") if summary.category_id else "—",
                           can_open=can_open), 403


def _plain_locked(exc: CaseLocked) -> ResponseReturnValue:
    return page(403, _("You cannot open this case"), locked_message(exc.reason))
