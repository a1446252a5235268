"""The JSON API under /api/v1/: bearer tokens (no cookies, no CSRF, no CORS), bodies validated by
pydantic models, the OpenAPI document generated from them, errors as RFC 9457 problems."""

from __future__ import annotations

import logging
import traceback

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from appliance.errors import ApplianceError
from webapp.api import insider_views, problems, views

log = logging.getLogger(__name__)


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("api", __name__, url_prefix=views.PREFIX)
    assert insider_views.__name__  # importing it declares its operations on views.api
    views.api.routes.register_on(blueprint)
    blueprint.register_error_handler(ApplianceError, problems.from_domain)
    blueprint.register_error_handler(HTTPException, problems.from_http)
    blueprint.register_error_handler(views.BodyRefused, _refused)
    blueprint.register_error_handler(Exception, _unexpected)
    blueprint.after_request(_no_cookies)
    return blueprint


def _refused(exc: views.BodyRefused) -> ResponseReturnValue:
    return exc.response


def _unexpected(exc: Exception) -> Response:
    # Type and place only: exception messages can carry what was sent.
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    log.error("unexpected %s at %s", type(exc).__name__,
              " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in reversed(frames)))
    return problems.problem(problems.SERVER)


def _no_cookies(response: Response) -> Response:
    # The API authenticates by header only; nothing it answers sets a cookie.
    response.headers.pop("Set-Cookie", None)
    response.vary.discard("Cookie")
    return response


def is_api_path(path: str) -> bool:
    return path == views.PREFIX or path.startswith(views.PREFIX + "/")
