"""The handler app under /staff/: sign-in, each role's start page, the work queue and case pages, sharing, persons named in a
case, reports received orally, the Readers page. Each route module declares its routes;
build_blueprint registers them."""

from __future__ import annotations

from flask import Blueprint

from webapp.handler import access, auth, case_file, oral, queue, readers, start, subjects, views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("handler", __name__, url_prefix="/staff", template_folder="templates")
    for module in (start, queue, views, auth, access, readers, subjects, oral, case_file):
        module.routes.register_on(blueprint)
    return blueprint
