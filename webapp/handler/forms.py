"""Staff forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FileField,
    MultipleFileField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import EqualTo, InputRequired, Length, Optional

from appliance.cases.case_subjects import ROLES
from appliance.cases.content import MAX_TEXT
from appliance.crypto.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[InputRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)])


class CodeForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app"), validators=[InputRequired(), Length(max=32)],
                       description=_l("Six digits. If you lost your device, enter one of your recovery codes."))


class EnrolForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app"), validators=[InputRequired(), Length(max=32)],
                       description=_l("Scan the QR code or type the secret into the app, then enter the six digits it shows."))


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), validators=[InputRequired()], choices=[])
    outcome = SelectField(_l("Outcome (when closing)"), validators=[Optional()], choices=[])
    conclusions = TextAreaField(_l("Conclusions (when closing)"), validators=[Optional(), Length(max=MAX_TEXT)])


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assigned handler"), choices=[])


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message to the reporter"), validators=[Optional(), Length(max=MAX_TEXT)],
                         description=_l("The reporter reads this with their case key."))
    attachments = MultipleFileField(_l("Attach files (optional)"))
    is_feedback = BooleanField(_l("This message is the feedback on the follow-up (Directive 2019/1937 Art. 9(1)(f))"))


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Internal note"), validators=[InputRequired(), Length(max=MAX_TEXT)],
                         description=_l("Only case handlers see notes; the reporter never does."))


class ExportForm(FlaskForm):
    with_notes = BooleanField(_l("Include notes in the PDF"))


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)])
    new = PasswordField(_l("New password"),
                        validators=[InputRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
                        description=_l("At least 12 characters. A few unrelated words make a good password."))
    confirm = PasswordField(_l("New password again"),
                            validators=[InputRequired(), EqualTo("new", message=_l("The two passwords differ."))])


class ChoosePasswordForm(FlaskForm):
    new = PasswordField(_l("Your new password"),
                        validators=[InputRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
                        description=_l("At least 12 characters. A few unrelated words make a good password. "
                                       "Only you know it: not the administrator who set the old one."))
    confirm = PasswordField(_l("New password again"),
                            validators=[InputRequired(), EqualTo("new", message=_l("The two passwords differ."))])


class GrantAccessForm(FlaskForm):
    user = SelectField(_l("Share with"), choices=[], validate_choice=False,
                       description=_l("They get their own key to this case. The logbook records who shared it."))


class PersonForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    email = StringField(_l("E-mail address (optional)"), validators=[Optional(), Length(max=254)])
    national_id = StringField(_l("National ID number (optional)"), validators=[Optional(), Length(max=40)],
                              description=_l("The e-mail address or national ID finds the same person in other cases, "
                                             "for access and erasure requests."))
    role = SelectField(_l("Role in the case"), choices=[])


class OralReportForm(FlaskForm):
    """A report received by phone or in a meeting (Directive 2019/1937 Art. 18)."""

    category = SelectField(_l("What is it about?"), validators=[InputRequired()], choices=[])
    channel = SelectField(_l("How was it received?"), validators=[InputRequired()], choices=[])
    received_at = DateTimeLocalField(_l("When was it received?"), validators=[InputRequired()],
                                     format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                     description=_l("Date and time of the call or meeting (YYYY-MM-DD HH:MM)."))
    minutes = TextAreaField(_l("Minutes or transcript"), validators=[InputRequired(), Length(max=MAX_TEXT)],
                            description=_l("A complete and accurate transcript of the call, or accurate minutes "
                                           "of the meeting. The reporter can check, correct and approve them "
                                           "with their case key."))
    recording = FileField(_l("Recording (optional)"),
                          description=_l("An audio or video file of the conversation, if the reporter agreed to "
                                         "it being recorded."))
    consent = BooleanField(_l("The reporter consented to this record being made and kept "
                              "(Directive 2019/1937 Art. 18(2))"))


class SaveFilterForm(FlaskForm):
    name = StringField(_l("Name of this search"), validators=[InputRequired(), Length(max=80)])


class PostForm(FlaskForm):
    """A button-only form: CSRF token and nothing else."""


ROLE_LABELS = {"concerned": _l("Person concerned (the report is about them)"), "witness": _l("Witness"),
               "other": _l("Other person")}


def person_form(formdata: bool = True) -> PersonForm:
    """The form naming a person in a case, with the roles a case knows."""
    form = PersonForm() if formdata else PersonForm(formdata=None)
    form.role.choices = [(role, str(ROLE_LABELS[role])) for role in ROLES]
    return form
