"""Where each staff user lands after signing in: the room of their one role, or, holding
several, a page of links to each (it remembers nothing: the roles decide, every time)."""

from __future__ import annotations

from flask import g, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from appliance.actors import Role
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()

# Each role's room: the one place a role's start page is decided.
ROOMS: dict[Role, str] = {
    Role.HANDLER: "handler.queue",
    Role.ADMIN: "admin.index",
    Role.AUDITOR: "audit.index",
    Role.ANALYST: "stats.index",
    Role.INSIDER_MANAGER: "insiders.index",
}
ROOM_LABELS = {Role.HANDLER: _l("Work queue"), Role.ADMIN: _l("Administration"), Role.AUDITOR: _l("Logbook"),
               Role.ANALYST: _l("Statistics"), Role.INSIDER_MANAGER: _l("Insider lists")}


def room_url(role: str) -> str:
    """The URL of a role's room (templates' menus use it, so they follow ROOMS too)."""
    return url_for(ROOMS[Role(role)])


def rooms_of(roles: frozenset[Role]) -> list[tuple[str, str]]:
    """(label, URL) of each room of ``roles``, in the order of ``Role``."""
    return [(str(ROOM_LABELS[role]), url_for(ROOMS[role])) for role in Role if role in roles]


@routes.get("/")
@access("staff")
def home() -> Response | str:
    rooms = rooms_of(frozenset(role for _tenant, role in g.principal.roles))
    if len(rooms) == 1:
        return redirect(rooms[0][1])
    if rooms:
        return redirect(url_for("handler.rooms"))
    return render_template("handler/home.html")


@routes.get("/rooms")
@access("staff")
def rooms() -> str:
    return render_template("handler/rooms.html", rooms=rooms_of(frozenset(r for _t, r in g.principal.roles)))
