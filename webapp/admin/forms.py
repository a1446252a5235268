"""Administration forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

import uuid

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from appliance.actors import Role
from webapp.choices import plain_choices


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[InputRequired(), Length(max=254)])
    roles = CheckboxesField(_l("Roles"), validators=[InputRequired(message=_l("Choose at least one role."))],
                            choices=plain_choices(r.value for r in Role))


class RoleForm(FlaskForm):
    # No role is preselected: the page offers an empty "Choose a role", which is not a choice here.
    role = SelectField(_l("Role"), choices=plain_choices(r.value for r in Role))
    action = SelectField(_l("Action"), choices=plain_choices(["grant", "revoke"]))


class ConfirmForm(FlaskForm):
    """The button of a confirmation page: what takes access away is done only with it."""

    confirmed = HiddenField(default="yes")  # what the page renders

    def confirmed_on_submit(self) -> bool:
        # What was posted, not the default a form without the field would fall back to.
        return self.validate_on_submit() and self.confirmed.raw_data == ["yes"]


class CategoryForm(FlaskForm):
    label = StringField(_l("New category"), validators=[InputRequired(), Length(max=200)])


class ProposeReaderForm(FlaskForm):
    # The domain checks the id (an active handler of this tenant with a bound key).
    user = SelectField(_l("Handler"), choices=[], validate_choice=False)
    receives = SelectField(_l("New reports"), choices=plain_choices(["yes", "no"]))  # labelled by propose_form()


def propose_form(empty: bool = False) -> ProposeReaderForm:
    form = ProposeReaderForm(formdata=None) if empty else ProposeReaderForm()
    form.receives.choices = [("yes", str(_l("receives every new report"))),
                             ("no", str(_l("only cases shared with them")))]
    return form


class FingerprintForm(FlaskForm):
    fingerprint = StringField(_l("Fingerprint the handler reads out to you"),
                              validators=[InputRequired(), Length(max=64)],
                              description=_l("32 characters, as on their Readers page (spaces do not matter)."))


class PostForm(FlaskForm):
    """A button-only form: CSRF token and nothing else."""


def posted_id(form: FlaskForm, field: str) -> uuid.UUID:
    """The id a one-button form posted in its hidden ``field`` (revoke, release, ...): 400 for a
    form that fails CSRF or carries anything but a UUID (a tampered page)."""
    if not form.validate_on_submit():
        abort(400)
    try:
        return uuid.UUID(getattr(form, field).data or "")
    except ValueError:
        abort(400)
