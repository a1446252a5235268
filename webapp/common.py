"""Routes for everyone: landing page, language choice, health checks."""

from __future__ import annotations

import shutil

import sqlalchemy as sa
from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from appliance.settings import LANGUAGES
from webapp.policy import access
from webapp.requestctx import app_context

blueprint = Blueprint("common", __name__)


class LanguageForm(FlaskForm):
    pass


@blueprint.get("/")
@access("public")
def index() -> str:
    return render_template("index.html")


@blueprint.post("/language")
@access("public")
def language() -> Response:
    form = LanguageForm()
    chosen = request.form.get("lang", "")
    if form.validate_on_submit() and chosen in LANGUAGES:
        session["lang"] = chosen
    target = request.form.get("next", "")
    # Only same-site paths: never an open redirect. Control characters are refused too:
    # URL parsers drop tabs and newlines, which turns "/\t/evil.example" into "//evil.example".
    if not target.startswith("/") or target.startswith("//") or "\\" in target or not target.isprintable():
        target = url_for("common.index")
    return redirect(target, code=303)


@blueprint.get("/healthz")
@access("public")
def healthz() -> Response:
    return jsonify(status="ok")


@blueprint.get("/readyz")
@access("public")
def readyz() -> tuple[Response, int]:
    context = app_context()
    checks: dict[str, str] = {}
    try:
        with context.engine.connect() as connection:  # its own connection: the request's unit of work stays closed
            connection.execute(sa.text("SELECT 1")).scalar_one()
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError:
        checks["database"] = "unavailable"
    checks["keys"] = "ok" if context.master.key_id else "missing"
    free = shutil.disk_usage(context.settings.data_dir).free
    checks["disk"] = "ok" if free > 512 * 1024 * 1024 else "low"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
