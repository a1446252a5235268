"""The handler's Readers page: who can read each organisation's reports, and the changes a
reader confirms (signing with the key in their session) or rejects.

A handler also starts the list here when their organisation has none: they sign the first
entry, and the compliance lead confirms it on the administration page by typing the
fingerprint shown here, which comes from the key in this very session.
"""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Role
from appliance.crypto.sealing import public_key_of
from appliance.crypto.signing import key_fingerprint, show_fingerprint, signing_public, signing_seed
from appliance.errors import AccessDenied, Conflict, KeyBindingInvalid, NotAReader, NotFound
from appliance.readers.service import Signer
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import PostForm
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/readers")
@access("staff:handler")
def readers() -> str:
    return _render()


@routes.post("/readers/<slug>/start")
@access("staff:handler")
def start_list(slug: str) -> Response | tuple[str, int]:
    desk = HandlerDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    try:
        with desk.attempt():
            desk.readers.request_start(tenant.id, g.principal)
    except (Conflict, KeyBindingInvalid, NotAReader):
        return _render(error=(slug, _("The list cannot be started now: it was started meanwhile, or your key is "
                                      "not unlocked in this session (sign out and in again)."))), 400
    return redirect(url_for("handler.readers", _anchor=f"t-{slug}"), code=303)


@routes.post("/readers/<slug>/changes/<uuid:change_id>/<any('confirm', 'reject'):decision>")
@access("staff:handler")
def decide(slug: str, change_id: uuid.UUID, decision: str) -> Response | tuple[str, int]:
    """Confirm (sign the new list with my key) or reject a pending change."""
    desk = HandlerDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    try:
        # A stale change (Conflict) keeps what the decision marked (e.g. superseded); the list stays as it was.
        with desk.attempt(keep=(Conflict, KeyBindingInvalid)):
            if decision == "confirm":
                desk.readers.confirm(tenant.id, change_id, Signer.user(g.principal), g.principal.actor)
            else:
                desk.readers.decline(tenant.id, change_id, g.principal)
    except NotFound:
        raise
    except NotAReader:
        return _render(error=(slug, _("Only a reader on the list, signed in with the key the list holds, can "
                                      "decide this."))), 403
    except AccessDenied:
        return _render(error=(slug, _("You cannot confirm a change to your own key: another reader does."))), 403
    except (Conflict, KeyBindingInvalid) as exc:
        message = (_("The keys of this change are not bound to their owner: they were changed outside the "
                     "appliance. Reject it and tell the compliance lead.") if isinstance(exc, KeyBindingInvalid)
                   else _("This change no longer applies: the list or the user's key changed since it was "
                          "proposed."))
        return _render(error=(slug, message)), 409
    return redirect(url_for("handler.readers", _anchor=f"t-{slug}"), code=303)


def _render(error: tuple[str, str] | None = None) -> str:
    desk = HandlerDesk.of_request()
    tenants = desk.tenants.by_ids(g.principal.tenants_with(Role.HANDLER))
    sections = [(tenant, desk.reader_overview(tenant.id)) for tenant in tenants]
    mine = None
    if g.principal.private_key is not None:
        private = g.principal.private_key
        mine = show_fingerprint(key_fingerprint(public_key_of(private), signing_public(signing_seed(private))))
    return render_template("handler/readers.html", sections=sections, mine=mine, error=error, post=PostForm(),
                           me=g.principal.user_id)

