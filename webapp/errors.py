"""Maps domain errors and HTTP errors to calm pages with the right status codes."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from appliance.errors import (
    AccessDenied,
    CaseLocked,
    ChannelNotReady,
    DecryptionFailed,
    KeyBindingInvalid,
    LockedOut,
    NotAReader,
    NotFound,
    OwnAccessKept,
    ReaderListTampered,
    TooLarge,
)
from webapp.api import is_api_path, problems
from webapp.frames import frame_of_request

log = logging.getLogger(__name__)
Page = tuple[str, int, dict[str, str]]  # body, status, headers


def page(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Page:
    """An error page in its audience's frame (webapp/frames.py), with a link back."""
    frame = frame_of_request()
    return render_template("error.html", frame=frame, status=status, title=title, message=message,
                           **frame.context), status, headers or {}


def locked_message(reason: str) -> str:
    """Why a handler's key does not open a case, in plain words (CaseLocked.reason)."""
    if reason == "key-reset":
        return _("Your password was reset, so the key that opened this case is gone. A colleague who can open "
                 "the case can share it with you again, or the escrow holder can restore your access.")
    if reason == "no-session-key":
        return _("Your key is not unlocked in this session. Sign out and sign in again to open the case.")
    return _("This case is not shared with you. A handler who can open it can share it with you.")


def install(app: Flask) -> None:
    @app.errorhandler(NotFound)
    def _not_found(_exc: NotFound) -> Page:
        return page(404, _("Not found"), _("There is nothing here, or you may not see it."))

    @app.errorhandler(AccessDenied)
    def _denied(_exc: AccessDenied) -> Page:
        return page(403, _("Not allowed"), _("Your account does not have access to this page."))

    @app.errorhandler(OwnAccessKept)
    def _own_access(_exc: OwnAccessKept) -> Page:
        return page(400, _("Not on your own account"),
                    _("Nobody can remove their own roles, disable their own account or reset their own password "
                      "or second factor. Change your password on your account page; ask another administrator for "
                      "the rest."))

    @app.errorhandler(CaseLocked)
    def _case_locked(exc: CaseLocked) -> Page:
        # The handler blueprint answers with the full locked page; this covers any other route.
        return page(403, _("You cannot open this case"), locked_message(exc.reason))

    @app.errorhandler(ChannelNotReady)
    def _channel_not_ready(_exc: ChannelNotReady) -> Page:
        return page(503, _("This channel cannot receive reports yet."),
                    _("Nobody has been appointed to read reports here yet. Nothing was stored. Please try again "
                      "later, or use another way to report."))

    @app.errorhandler(NotAReader)
    def _not_a_reader(exc: NotAReader) -> Page:
        if exc.reason == "key-changed":
            return page(409, _("Not confirmed yet"),
                        _("This person has a new key that no reader has confirmed yet. A reader confirms it on "
                          "the Readers page; then try again."))
        return page(409, _("Not a reader"),
                    _("This person is not on the organisation's reader list. An administrator proposes them and a "
                      "reader confirms it on the Readers page; then try again."))

    @app.errorhandler(KeyBindingInvalid)
    def _unbound(exc: KeyBindingInvalid) -> Page:
        log.error("key binding invalid: %s %s", exc.what, exc.object_id)
        return page(409, _("Keys changed outside the appliance"),
                    _("The keys stored for this were changed outside the appliance, so nothing is sealed to or "
                      "written with them. Tell the compliance lead and the system administrator."))

    @app.errorhandler(ReaderListTampered)
    def _tampered(exc: ReaderListTampered) -> Page:
        log.error("reader list of %s does not verify at entry %s", exc.tenant_id, exc.seq)
        return page(503, _("This channel cannot receive reports right now."),
                    _("Nothing was stored. Please try again later, or use another way to report."))

    @app.errorhandler(TooLarge)
    def _too_large(exc: TooLarge) -> Page:
        return page(413, _("Upload too large"),
                    _("The files are larger than allowed (%(mb)s MB). Nothing was saved; please try again "
                      "with smaller or fewer files.", mb=exc.limit_bytes // (1024 * 1024)))

    @app.errorhandler(LockedOut)
    def _locked(exc: LockedOut) -> Page:
        return page(429, _("Too many attempts"),
                    _("For your protection, further attempts are paused. Try again in %(minutes)s minute(s).",
                      minutes=max(1, (exc.retry_after_seconds + 59) // 60)),
                    {"Retry-After": str(exc.retry_after_seconds)})

    @app.errorhandler(DecryptionFailed)
    def _undecryptable(exc: DecryptionFailed) -> Page:
        log.error("decryption failed: %s", exc.what)
        return page(500, _("Cannot open this data"),
                    _("The data could not be decrypted. The logbook has a record; contact your administrator."))

    @app.errorhandler(CSRFError)
    def _csrf(_exc: CSRFError) -> Page:
        return page(400, _("Form expired"),
                    _("The form was too old or incomplete. Go back, reload the page and send it again."))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Page | Response:
        if is_api_path(request.path):  # no route matched under /api/v1/: still a problem, not a page
            return problems.from_http(exc)
        code = exc.code or 500
        titles = {
            400: _("Bad request"), 403: _("Not allowed"), 404: _("Not found"), 405: _("Not allowed"),
            413: _("Upload too large"), 429: _("Too many attempts"),
        }
        messages = {
            404: _("There is nothing here, or you may not see it."),
            413: _("The request is larger than allowed. Nothing was saved."),
        }
        return page(code, titles.get(code, _("Something went wrong")),
                    messages.get(code, _("The request could not be completed.")))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Page:
        # Type and code locations only: exception messages can carry user input.
        frames = traceback.extract_tb(exc.__traceback__)[-6:]
        log.error("unexpected %s at %s", type(exc).__name__,
                  " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in reversed(frames)))
        return page(500, _("Something went wrong"),
                    _("The request could not be completed. Nothing you sent was shown to anyone else."))
