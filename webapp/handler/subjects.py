"""Persons named in a case (the person concerned, witnesses), sealed to the case.

What the handler types is readable only with the case's key (and while the person is not
erased); an e-mail or national ID also lets an access or erasure request find the person
without telling anyone which case names them. The logbook records that a person was added to
or removed from the case, never who.
"""

from __future__ import annotations

import uuid

from flask import g
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import AlreadyNamed, InvalidInput
from appliance.persons.service import clean_details
from webapp.handler import confirmations
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import person_form
from webapp.handler.views import render_case
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.post("/cases/<uuid:case_id>/persons")
@access("staff:handler")
def add_person(case_id: uuid.UUID) -> Response | tuple[str, int]:
    """Name a person in the case; the same e-mail or national ID finds the same person record
    (for erasure), but the case shows only what was typed in it."""
    form = person_form()
    if form.validate_on_submit():
        desk = HandlerDesk.of_request()
        try:
            with desk.attempt():
                details = clean_details(form.name.data, form.email.data, form.national_id.data)
                desk.case_subjects.add(g.principal, case_id, details, form.role.data or "")
        except AlreadyNamed as exc:
            getattr(form, exc.field, form.email).errors = [
                _("This person is already named in the case (with the same e-mail address or national ID).")]
        except InvalidInput as exc:
            target = getattr(form, exc.field, form.name)
            target.errors = [_field_error(exc.field)]
        else:
            return confirmations.done(case_id, "person-added")
    return render_case(case_id, person_form=form), 400


@routes.post("/cases/<uuid:case_id>/persons/<uuid:entry_id>/remove")
@access("staff:handler")
def remove_person(case_id: uuid.UUID, entry_id: uuid.UUID) -> Response:
    """Take a person off the case (CSRF was checked by CSRFProtect)."""
    HandlerDesk.of_request().case_subjects.remove(g.principal, case_id, entry_id)
    return confirmations.done(case_id, "person-removed")


def _field_error(field: str) -> str:
    return {
        "name": _("Give a name (at most 200 characters, no control characters), an e-mail address or a national ID."),
        "email": _("Enter an e-mail address like name@example.com."),
        "national_id": _("Enter the national ID with letters and digits only (spaces and hyphens are ignored)."),
        "role": _("Choose one of the listed roles."),
    }.get(field, _("Check this field."))
