"""Per-request access to the appliance: one DB session per request, audience-limited desks."""

from __future__ import annotations

from flask import current_app, g

from appliance.context import AppContext
from appliance.services import Services


def app_context() -> AppContext:
    context: AppContext = current_app.extensions["appliance"]
    return context


def services() -> Services:
    """The request's services (staff blueprints and the policy guard)."""
    if "services" not in g:
        context = app_context()
        g.services = Services(context, context.sessions())
    result: Services = g.services
    return result


def commit() -> None:
    services().session.commit()


def close_request_services(_exc: BaseException | None) -> None:
    held: Services | None = g.pop("services", None)
    if held is not None:
        held.session.rollback()
        held.session.close()
