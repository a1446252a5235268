"""What the case page confirms after an action (post/redirect/get).

Every action on the case page answers with a 303 to the case page at the section acted on,
carrying a short fixed code in the query string (``?done=note#notes``). The page maps the code
to a fixed, translated sentence shown once, in that section, as a status message. Nothing the
handler typed goes into the URL: only codes from this table, and an unknown code shows nothing.
A reload shows the confirmation again (the URL still carries the code); it never repeats the action.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from flask import redirect, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Confirmation:
    code: str
    section: str  # the id of the case page's section the action belongs to
    message: str


_CONFIRMATIONS = {
    "status": ("status", _l("The status has been changed.")),
    "closed-at-triage": ("status", _l("The report has been closed without an acknowledgement.")),
    "assigned": ("assignment", _l("The assignment has been saved.")),
    "message": ("thread", _l("Your message has been sent to the reporter.")),
    "feedback": ("thread", _l("Your feedback has been sent to the reporter.")),
    "note": ("notes", _l("The note has been added.")),
    "person-added": ("persons", _l("The person has been named in the case.")),
    "person-removed": ("persons", _l("The person has been taken off the case.")),
    "consent-asked": ("identity", _l("The reporter has been asked. They answer on their follow-up page.")),
    "disclosed": ("identity", _l("The disclosure has been recorded.")),
    "shared": ("access", _l("The case has been shared. The colleague can open it with their own key now.")),
    "unshared": ("access", _l("Access has been removed.")),
    "reporter-key": ("access", _l("The reporter has their key to the case again.")),
    "redacted": ("redactions", _l("The redaction has been made. Everyone reads the redacted version now.")),
    "purged": ("redactions", _l("The original has been destroyed.")),
}
CODES = frozenset(_CONFIRMATIONS)


def done(case_id: uuid.UUID, code: str) -> Response:
    """The 303 after an action on the case: back to its section, with the confirmation's code."""
    section, _message = _CONFIRMATIONS[code]
    return redirect(url_for("handler.case", case_id=case_id, done=code, _anchor=section), code=303)


def shown(args: Mapping[str, str]) -> Confirmation | None:
    """The confirmation a case page's query string asks for, if it is one of ours."""
    code = args.get("done", "")
    if code not in _CONFIRMATIONS:
        return None
    section, message = _CONFIRMATIONS[code]
    return Confirmation(code, section, str(message))
