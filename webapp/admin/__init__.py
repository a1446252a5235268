"""Administration under /admin/: users and roles, categories, reporting channels, the reader list,
retention, API tokens, the portal's branding. Each route module declares its routes; build_blueprint registers them."""

from __future__ import annotations

from flask import Blueprint

from webapp.admin import api_tokens, branding, channels, questionnaires, readers, retention, users, views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
    for module in (views, users, channels, branding, questionnaires, readers, retention, api_tokens):
        module.routes.register_on(blueprint)
    return blueprint
