"""The handler app under /staff/: sign-in, each role's start page, the work queue and case pages, sharing, persons named in a
case, consent to disclose the reporter's identity, redaction,
reports received orally, the Readers page. Each route module declares its routes;
build_blueprint registers them."""

from __future__ import annotations

from flask import Blueprint

from webapp.handler import (
    access,
    auth,
    case_file,
    identity,
    oral,
    queue,
    readers,
    redaction,
    start,
    subjects,
    triage,
    views,
)


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("handler", __name__, url_prefix="/staff", template_folder="templates")
    for module in (start, queue, views, auth, access, readers, subjects, oral, case_file, identity, redaction,
                   triage):
        module.routes.register_on(blueprint)
    return blueprint
