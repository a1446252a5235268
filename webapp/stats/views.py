"""The analyst's start page: statistics are coming."""

from __future__ import annotations

from flask import render_template

from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/")
@access("staff:analyst")
def index() -> str:
    return render_template("stats/index.html")
