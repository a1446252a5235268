"""The web application: create_app(context) wires blueprints, security and translations, and makes
each request one unit of work (webapp/unit_of_work.py)."""

from __future__ import annotations

import datetime as dt

from flask import Flask, current_app, g, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from appliance.context import AppContext
from appliance.settings import LANGUAGES
from webapp import admin, api, audit, errors, handler, insiders, metrics, policy_guard, reporter, stats, unit_of_work
from webapp.common import blueprint as common_blueprint
from webapp.handler.start import room_url
from webapp.reporter.filing import admit_report_before_reading
from webapp.security import SpoolingRequest, cookie_name, install_headers
from webapp.templating import install_filters

FORM_OVERHEAD = 1024 * 1024  # room for the text fields around the attachments


def create_app(context: AppContext) -> Flask:
    """Build the Flask app around an AppContext (settings, DB, keys, clock)."""
    settings = context.settings
    app = unit_of_work.UnitOfWorkApp(__name__)
    app.request_class = SpoolingRequest
    app.extensions["appliance"] = context
    app.config.update(
        # Derived, not preserved (AppContext.secret): after a master key rotation it changes, which
        # only voids signed cookies (forms in progress, the language choice; sessions are kept on
        # the server and are ended by the restart anyway), and the old key signs nothing new.
        SECRET_KEY=context.master.derive("flask-cookie-signing/v1"),
        SESSION_COOKIE_NAME=cookie_name(settings, "form"),
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=settings.max_report_bytes + FORM_OVERHEAD,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        WTF_CSRF_TIME_LIMIT=int(dt.timedelta(hours=8).total_seconds()),
        # Referrer-Policy: no-referrer means browsers send no Referer for Flask-WTF's HTTPS
        # referrer check to compare, so it would refuse every form; the CSRF token and
        # SameSite=Strict cookies are the defence.
        WTF_CSRF_SSL_STRICT=False,
        BABEL_DEFAULT_LOCALE=settings.default_language,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES="translations",
        PREFERRED_URL_SCHEME="https" if settings.base_url.startswith("https://") else "http",
    )
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count)  # type: ignore[method-assign]

    context.ephemeral.ensure()  # RUNTIME_DIR unusable: one line naming it, at start, not at the first request
    # Before CSRF protection, which reads (and spools) the whole form: a report over its rate
    # limit is refused before any upload of it is read.
    app.before_request(admit_report_before_reading)
    csrf = CSRFProtect(app)
    Babel(app, locale_selector=_select_locale)
    install_headers(app, settings)
    install_filters(app)
    errors.install(app)
    metrics.install(app, settings.metrics_dir)  # before the access checks: refused requests count too
    policy_guard.install(app)
    unit_of_work.install(app)

    app.register_blueprint(common_blueprint)
    for audience in (reporter, handler, admin, audit, stats, insiders):
        app.register_blueprint(audience.build_blueprint())
    api_blueprint = api.build_blueprint()
    csrf.exempt(api_blueprint)  # bearer tokens, never cookies: nothing there for a forged request to ride on
    app.register_blueprint(api_blueprint)

    @app.context_processor
    def _globals() -> dict[str, object]:
        return {"languages": LANGUAGES, "current_language": _select_locale(),
                "principal": getattr(g, "principal", None), "room_url": room_url}

    return app


def _select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    context: AppContext = current_app.extensions["appliance"]
    return request.accept_languages.best_match(LANGUAGES) or context.settings.default_language
