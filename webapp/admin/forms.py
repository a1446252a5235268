"""Administration forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

import uuid

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    FileField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
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


class ChannelForm(FlaskForm):
    """A reporting channel's name, intro text and categories (the domain checks the ids)."""

    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=200)],
                       description=_l("What reporters see, e.g. the subsidiary, language or topic."))
    intro = TextAreaField(_l("Intro text (optional)"), validators=[Length(max=4000)],
                          description=_l("Shown to reporters above the form of this channel."))
    categories = CheckboxesField(_l("Categories"), choices=[], validate_choice=False,
                                 description=_l("None chosen: every category of the organisation."))


class ChannelReadersForm(FlaskForm):
    members = CheckboxesField(_l("Readers of this channel"), choices=[], validate_choice=False)


class ExternalInfoForm(FlaskForm):
    text = TextAreaField(_l("Information on reporting to the authorities"), validators=[Length(max=8000)],
                         description=_l("Leave empty to show the standard text. Name the competent authorities "
                                        "for your country and sector, and how to reach them."))


class BrandingForm(FlaskForm):
    intro = TextAreaField(_l("Introduction on the portal"), validators=[Length(max=4000)],
                          description=_l("Plain text; a blank line starts a new paragraph. Shown under the portal's "
                                         "heading. Leave empty for none."))
    privacy_notice = TextAreaField(_l("Privacy notice"), validators=[Length(max=20000)],
                                   description=_l("Plain text; a blank line starts a new paragraph. Linked from the "
                                                  "foot of every portal page. Leave empty to show the standard "
                                                  "notice."))
    policy_url = StringField(_l("Link to your reporting policy"), validators=[Length(max=500)],
                             description=_l("An https:// address, for example https://intranet.example.com/policy. "
                                            "Reporters see the host name next to the link."))


class LogoForm(FlaskForm):
    logo = FileField(_l("Logo"),
                     description=_l("PNG or JPEG, at most 200 KB and 1200 × 1200 pixels. The portal shows a "
                                    "copy without the file's metadata."))


def checked_ids(values: list[str] | None) -> list[uuid.UUID]:
    """The ids a group of checkboxes posted: 400 for anything but a UUID (a tampered page)."""
    try:
        return [uuid.UUID(v) for v in values or []]
    except ValueError:
        abort(400)


class QuestionForm(FlaskForm):
    """One more question for a channel's questionnaire (the domain checks everything)."""

    label = StringField(_l("Question"), validators=[InputRequired(), Length(max=500)])
    kind = SelectField(_l("Kind of answer"), choices=[])  # labelled by question_form()
    required = BooleanField(_l("An answer is required"))
    options = TextAreaField(_l("Options (choices only)"), validators=[Length(max=10_000)],
                            description=_l("One option per line."))
    show_if = SelectField(_l("Ask only when"), choices=[], validate_choice=False,
                          description=_l("Another yes/no or single-choice question, and the answer that shows "
                                         "this one."))
    show_value = StringField(_l("is answered"), validators=[Length(max=200)],
                             description=_l("For a yes/no question: yes or no."))


def question_form(conditions: list[tuple[str, str]], empty: bool = False) -> QuestionForm:
    form = QuestionForm(formdata=None) if empty else QuestionForm()
    form.kind.choices = [("text", str(_l("Short text"))), ("long_text", str(_l("Long text"))),
                         ("date", str(_l("Date"))), ("single", str(_l("One choice"))),
                         ("multiple", str(_l("Several choices"))), ("yes_no", str(_l("Yes or no"))),
                         ("file", str(_l("File")))]
    form.show_if.choices = [("", str(_l("Always"))), *conditions]
    return form
