"""Staff sign-in: password, then TOTP (or first-time enrolment with recovery codes)."""

from __future__ import annotations

import segno
from flask import g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Actor
from appliance.errors import AuthenticationFailed
from webapp.handler.forms import CodeForm, EnrolForm, LoginForm, PostForm
from webapp.handler.views import blueprint
from webapp.policy import access
from webapp.requestctx import app_context, commit, services
from webapp.security import clear_session_cookie, client_address, cookie_name, set_session_cookie


@blueprint.route("/login", methods=["GET", "POST"])
@access("staff-signin")
def login() -> Response | str | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        desk = services()
        try:
            signed_in = desk.users.authenticate_password(form.email.data or "", form.password.data or "",
                                                         client_address())
        except AuthenticationFailed:
            commit()  # keep the failure count and the logbook entry
            form.password.errors = [_("The e-mail address or password is wrong.")]
            return render_template("handler/login.html", form=form), 401
        old = request.cookies.get(cookie_name(app_context().settings, "staff"))
        desk.web_sessions.destroy(old)
        user = signed_in.user
        stage = "password" if user.totp_enabled_at is not None else "enrol"
        token, row = desk.web_sessions.create("staff", stage, user_id=user.id)
        desk.web_sessions.store_secret(row, token, signed_in.private_key)
        commit()
        response = redirect(url_for("handler.second_factor" if stage == "password" else "handler.enrol"), code=303)
        set_session_cookie(response, app_context().settings, "staff", token)
        return response
    return render_template("handler/login.html", form=form)


@blueprint.route("/2fa", methods=["GET", "POST"])
@access("staff-signin")
def second_factor() -> Response | str | tuple[str, int]:
    row = g.get("staff_session")
    if row is None or row.stage != "password" or row.user_id is None:
        return redirect(url_for("handler.login"))
    form = CodeForm()
    if form.validate_on_submit():
        desk = services()
        try:
            desk.users.verify_second_factor(row.user_id, form.code.data or "", client_address())
        except AuthenticationFailed:
            commit()
            form.code.errors = [_("That code did not work. Wait for a new code and try again.")]
            return render_template("handler/second_factor.html", form=form), 401
        token = desk.web_sessions.rotate(row, "full", _staff_token())
        commit()
        response = redirect(url_for("handler.home"), code=303)
        set_session_cookie(response, app_context().settings, "staff", token)
        return response
    return render_template("handler/second_factor.html", form=form)


@blueprint.route("/enrol", methods=["GET", "POST"])
@access("staff-signin")
def enrol() -> Response | str | tuple[str, int]:
    row = g.get("staff_session")
    if row is None or row.stage != "enrol" or row.user_id is None:
        return redirect(url_for("handler.login"))
    desk = services()
    user = desk.users.get(row.user_id)
    enrolment = desk.users.begin_enrolment(user)
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = desk.users.complete_enrolment(row.user_id, form.code.data or "", client_address())
        except AuthenticationFailed:
            form.code.errors = [_("That code did not work. Check the time on your phone and try again.")]
            status = 401
        else:
            token = desk.web_sessions.rotate(row, "full", _staff_token())
            commit()
            response = make_response(render_template("handler/recovery_codes.html", codes=codes))
            set_session_cookie(response, app_context().settings, "staff", token)
            return response
    commit()
    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    return render_template("handler/enrol.html", form=form, secret=enrolment.secret, qr=qr), status


@blueprint.post("/logout")
@access("staff-signin")
def logout() -> Response:
    settings = app_context().settings
    if PostForm().validate_on_submit():
        row = g.get("staff_session")
        services().web_sessions.destroy(request.cookies.get(cookie_name(settings, "staff")))
        if row is not None and row.user_id is not None:
            services().logbook.record("logout", Actor("user", row.user_id), object_type="user",
                                      object_id=row.user_id)
        commit()
    response = make_response(redirect(url_for("handler.login"), code=303))
    clear_session_cookie(response, settings, "staff")
    return response


def _staff_token() -> str | None:
    return request.cookies.get(cookie_name(app_context().settings, "staff"))
