"""The application's AppContext, as the request sees it."""

from __future__ import annotations

from flask import current_app

from appliance.context import AppContext


def app_context() -> AppContext:
    context: AppContext = current_app.extensions["appliance"]
    return context
