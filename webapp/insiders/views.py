"""The insider managers' landing pages: what the legal team can do here, per organisation."""

from __future__ import annotations

from flask import g, render_template

from webapp.insiders.desk import desk
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/")
@access("staff:insider-manager")
def index() -> str:
    return render_template("insiders/index.html", tenants=desk().managed(g.principal))


@routes.get("/t/<slug>/")
@access("staff:insider-manager")
def tenant(slug: str) -> str:
    """One organisation's room (the managers' mails link here)."""
    return render_template("insiders/index.html", tenants=[desk().tenant(g.principal, slug)])
