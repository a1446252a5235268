"""Staff forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FileField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import EqualTo, InputRequired, Length, Optional

from appliance.cases.case_subjects import ROLES
from appliance.cases.consent import ConsentOverview, LegalGround
from appliance.cases.content import MAX_SHORT, MAX_TEXT
from appliance.crypto.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from webapp.choices import labelled_choices


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
    reporting_channel = SelectField(_l("Which reporting channel is it for?"), choices=[], validate_choice=False,
                                    description=_l("The record is sealed to the readers of that channel, like a "
                                                   "report made through it on the portal."))
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


class ConsentRequestForm(FlaskForm):
    """Ask the reporter for consent to disclose their identity (Directive 2019/1937 Art. 16(1))."""

    recipients = TextAreaField(_l("To whom would the identity be disclosed?"),
                               validators=[InputRequired(), Length(max=MAX_SHORT)],
                               description=_l("Names or roles of the persons. The reporter sees this text; it is "
                                              "sealed to the case."))
    purpose = TextAreaField(_l("Why?"), validators=[InputRequired(), Length(max=MAX_SHORT)],
                            description=_l("The purpose of the disclosure, in words the reporter understands."))


class DisclosureForm(FlaskForm):
    """Record a disclosure of the reporter's identity: on a given consent or a legal ground."""

    recipients = TextAreaField(_l("Disclosed to"), validators=[InputRequired(), Length(max=MAX_SHORT)])
    basis = SelectField(_l("On what basis?"), choices=[], validate_choice=False)
    ground = TextAreaField(_l("The legal ground, explained (when not on consent)"),
                           validators=[Optional(), Length(max=MAX_SHORT)],
                           description=_l("For example the authority or court, and the provision that obliges "
                                          "the disclosure. Sealed to the case."))
    # Art. 16(3): on a legal ground the reporter is told first, with the reasons in writing, unless
    # that would jeopardise the related investigations or judicial proceedings.
    notice = RadioField(_l("Is the reporter informed before the disclosure? (when on a legal ground)"),
                        choices=labelled_choices([
                            ("informed", _l("Yes: send them the explanation below as a message")),
                            ("withheld", _l("No: informing them would jeopardise the related investigations "
                                            "or judicial proceedings"))]),
                        validators=[Optional()], validate_choice=False)
    explanation = TextAreaField(_l("Explanation for the reporter (when informing them)"),
                                validators=[Optional(), Length(max=MAX_TEXT)],
                                description=_l("The reasons for the disclosure, in words the reporter understands. "
                                               "It is sent to them as a message in the case and they are told by "
                                               "e-mail if they left an address."))
    withheld_reason = TextAreaField(_l("Why would informing the reporter jeopardise the investigation or "
                                       "proceedings? (when not informing them)"),
                                    validators=[Optional(), Length(max=MAX_SHORT)],
                                    description=_l("Sealed to the case; the reporter does not see it."))


class RedactionForm(FlaskForm):
    """Take a passage out of a text of the case, or a whole file (Directive 2019/1937 Art. 16-17)."""

    target = SelectField(_l("Which text or file?"), choices=[], validate_choice=False)
    passage = TextAreaField(_l("The exact passage to redact (leave empty for a file)"),
                            validators=[Optional(), Length(max=MAX_TEXT)],
                            description=_l("Copy it from the texts below. Every occurrence in the chosen text is "
                                           "replaced with [redacted]."))
    reason = TextAreaField(_l("Why is it redacted?"), validators=[InputRequired(), Length(max=MAX_SHORT)],
                           description=_l("Other handlers see this reason. Sealed to the case."))
    keep = SelectField(_l("What happens to the original?"), choices=[], validate_choice=False)


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


GROUND_LABELS = {
    LegalGround.INVESTIGATION.value: _l("Legal ground: an investigation by a national authority"),
    LegalGround.JUDICIAL.value: _l("Legal ground: judicial proceedings"),
    LegalGround.OTHER_LAW.value: _l("Legal ground: another obligation under Union or national law"),
}
STATE_LABELS = {"pending": _l("Waiting for the reporter's answer"), "given": _l("Consent given"),
                "refused": _l("Consent refused")}


def disclosure_form(overview: ConsentOverview, formdata: bool = False) -> DisclosureForm:
    """The form with a choice per consent the reporter gave, then the legal grounds."""
    form = DisclosureForm() if formdata else DisclosureForm(formdata=None)
    given = [r for r in overview.requests if r.state == "given"]
    form.basis.choices = [("", _("Choose…"))] + [
        (f"consent:{r.id}", _("Consent given on %(day)s: %(to)s", day=r.answered_at.date().isoformat()
                              if r.answered_at else "", to=r.recipients[:80]))
        for r in given] + [(f"ground:{kind}", str(label)) for kind, label in GROUND_LABELS.items()]
    return form
