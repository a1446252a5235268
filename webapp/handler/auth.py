"""Staff sign-in: password, then TOTP (or first-time enrolment with recovery codes), then, when
the password was set by an administrator, the user's own password (and with it their key pair)."""

from __future__ import annotations

import uuid

import segno
from flask import g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Actor
from appliance.errors import AuthenticationFailed, InvalidInput
from webapp.handler.desk import AccountDesk
from webapp.handler.forms import ChoosePasswordForm, CodeForm, EnrolForm, LoginForm, PostForm
from webapp.policy import access
from webapp.requestctx import app_context
from webapp.routes import RouteTable
from webapp.security import clear_session_cookie, client_address, cookie_name, set_session_cookie

routes = RouteTable()
CHOOSE = "choose"  # session stage: signed in with an administrator's password, choosing one's own


@routes.route("/login", methods=["GET", "POST"])
@access("staff-signin")
def login() -> Response | str | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        desk = AccountDesk.of_request()
        try:
            signed_in = desk.users.authenticate_password(form.email.data or "", form.password.data or "",
                                                         client_address())
        except AuthenticationFailed:  # the view's own 401 commits: the failure count and logbook entry stay
            form.password.errors = [_("The e-mail address or password is wrong.")]
            return render_template("handler/login.html", form=form), 401
        old = request.cookies.get(cookie_name(app_context().settings, "staff"))
        desk.web_sessions.destroy(old)
        user = signed_in.user
        stage = "password" if user.totp_enabled_at is not None else "enrol"
        token, row = desk.web_sessions.create("staff", stage, user_id=user.id)
        if signed_in.private_key is not None:  # None: an administrator's password unlocks no key
            desk.web_sessions.store_secret(row, token, signed_in.private_key)
        response = redirect(url_for("handler.second_factor" if stage == "password" else "handler.enrol"), code=303)
        set_session_cookie(response, app_context().settings, "staff", token)
        return response
    return render_template("handler/login.html", form=form)


@routes.route("/2fa", methods=["GET", "POST"])
@access("staff-signin")
def second_factor() -> Response | str | tuple[str, int]:
    row = g.get("staff_session")
    if row is None or row.stage != "password" or row.user_id is None:
        return redirect(url_for("handler.login"))
    form = CodeForm()
    if form.validate_on_submit():
        desk = AccountDesk.of_request()
        try:
            desk.users.verify_second_factor(row.user_id, form.code.data or "", client_address())
        except AuthenticationFailed:
            form.code.errors = [_("That code did not work. Wait for a new code and try again.")]
            return render_template("handler/second_factor.html", form=form), 401
        stage = _after_second_factor(row.user_id)
        token = desk.web_sessions.rotate(row, stage, _staff_token())
        response = redirect(url_for("handler.choose_password" if stage == CHOOSE else "handler.home"), code=303)
        set_session_cookie(response, app_context().settings, "staff", token)
        return response
    return render_template("handler/second_factor.html", form=form)


@routes.route("/enrol", methods=["GET", "POST"])
@access("staff-signin")
def enrol() -> Response | str | tuple[str, int]:
    row = g.get("staff_session")
    if row is None or row.stage != "enrol" or row.user_id is None:
        return redirect(url_for("handler.login"))
    desk = AccountDesk.of_request()
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
            stage = _after_second_factor(row.user_id)
            token = desk.web_sessions.rotate(row, stage, _staff_token())
            response = make_response(render_template("handler/recovery_codes.html", codes=codes,
                                                     choose_next=stage == CHOOSE))
            set_session_cookie(response, app_context().settings, "staff", token)
            return response
    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    # The provisioning URI is as secret as the secret: only in this no-store page, never in a URL of ours.
    return render_template("handler/enrol.html", form=form, secret=grouped_in_fours(enrolment.secret),
                           otpauth=enrolment.uri, qr=qr), status


def grouped_in_fours(secret: str) -> str:
    """ABCD EFGH ...: easier to type on a phone (authenticators ignore the spaces)."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@routes.route("/choose-password", methods=["GET", "POST"])
@access("staff-signin")
def choose_password() -> Response | str | tuple[str, int]:
    """The first password of the user's own (after an administrator created the account or reset
    its password): the user's key pair is made now, under a password no administrator knows."""
    row = g.get("staff_session")
    if row is None or row.stage != CHOOSE or row.user_id is None:
        return redirect(url_for("handler.login"))
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        desk = AccountDesk.of_request()
        try:
            with desk.attempt():
                private_key = desk.users.choose_password(row.user_id, form.new.data or "", Actor("user", row.user_id))
        except InvalidInput:
            form.new.errors = [_("Choose a longer, less repetitive password.")]
        else:
            old = _staff_token()
            desk.web_sessions.store_secret(row, old or "", private_key)
            desk.notice_new_keys(row.user_id)
            token = desk.web_sessions.rotate(row, "full", old)
            response = redirect(url_for("handler.home"), code=303)
            set_session_cookie(response, app_context().settings, "staff", token)
            return response
    return render_template("handler/choose_password.html", form=form), 400 if form.errors else 200


@routes.post("/logout")
@access("staff-signin")
def logout() -> Response:
    settings = app_context().settings
    if PostForm().validate_on_submit():
        row = g.get("staff_session")
        desk = AccountDesk.of_request()
        desk.web_sessions.destroy(request.cookies.get(cookie_name(settings, "staff")))
        if row is not None and row.user_id is not None:
            desk.record_logout(row.user_id)
    response = make_response(redirect(url_for("handler.login"), code=303))
    clear_session_cookie(response, settings, "staff")
    return response


def _staff_token() -> str | None:
    return request.cookies.get(cookie_name(app_context().settings, "staff"))


def _after_second_factor(user_id: uuid.UUID | None) -> str:
    """Full access, or first the user's own password when an administrator set the current one."""
    assert user_id is not None
    return CHOOSE if AccountDesk.of_request().users.get(user_id).must_change_password else "full"
