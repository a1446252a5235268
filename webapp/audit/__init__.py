"""The auditor's room under /audit/: one tenant's logbook, searched and paged, the chain's standing
with a verify button, and exports of a filtered range as JSON lines. Auditors read the logbook of
the tenants they audit and nothing else (no case content: the desk reaches no case service)."""

from __future__ import annotations

from flask import Blueprint

from webapp.audit import views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("audit", __name__, url_prefix="/audit", template_folder="templates")
    views.routes.register_on(blueprint)
    return blueprint
