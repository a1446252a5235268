"""The insider managers' forms (Flask-WTF: CSRF on every one). Times are typed in the
installation's time zone (the TIMEZONE setting) and stored in UTC."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from appliance.acknowledgements.notices import LANGUAGES, MAX_NOTICE
from appliance.disclosures.service import MAX_TEXT, ROLES, DisclosureInput, Version
from appliance.pdmr.calendar import KINDS, MAX_LABEL
from appliance.pdmr.register import MAX_DETAIL
from webapp.choices import plain_choices

MAX_NAME = 200
MAX_NAMES_TEXT = 20 * (MAX_NAME + 1)
MOMENT_FORMAT = "%Y-%m-%dT%H:%M"


def _text(label: str, required: bool, description: str = "") -> TextAreaField:
    checks = [InputRequired(message=_l("This field is required."))] if required else [Optional()]
    return TextAreaField(label, description=description,
                         validators=[*checks, Length(max=MAX_TEXT, message=_l("Use at most 10,000 characters."))])


def _moment(label: str, required: bool) -> DateTimeLocalField:
    checks = [InputRequired(message=_l("Enter a date and time."))] if required else [Optional()]
    return DateTimeLocalField(label, format=MOMENT_FORMAT, validators=checks,
                              description=_l("Date and time, e.g. 2027-03-01 14:30."))


def _names(label: str, required: bool) -> TextAreaField:
    checks = [InputRequired(message=_l("Name at least one person."))] if required else [Optional()]
    return TextAreaField(label, description=_l("One name a line."),
                         validators=[*checks, Length(max=MAX_NAMES_TEXT, message=_l("Too many names."))])


class DisclosureForm(FlaskForm):
    subject = _text(_l("Inside information (description)"), True)
    first_existed_at = _moment(_l("The inside information first existed"), True)
    decided_at = _moment(_l("Decision to delay"), True)
    planned_disclosure_at = _moment(_l("Likely disclosure"), True)
    disclosed_at = _moment(_l("Actual disclosure"), False)
    authority_informed_at = _moment(_l("Competent authority informed"), False)
    conditions_met = _text(_l("Why the conditions of Art. 17(4) are met"), True)
    monitoring = _text(_l("How the conditions are monitored"), True)
    confidentiality = _text(_l("Information barriers: how confidentiality is ensured"), True)
    disclosure_arrangements = _text(_l("Arrangements to disclose at once if confidentiality is lost"), False)
    persons_decision = _names(_l("Responsible for deciding the delay and its likely end"), True)
    persons_monitoring = _names(_l("Responsible for monitoring the conditions"), True)
    persons_disclosure_decision = _names(_l("Responsible for deciding the disclosure"), False)
    persons_authority_contact = _names(_l("Responsible for informing the competent authority"), False)


class AmendForm(DisclosureForm):
    change_note = _text(_l("What changed in this version"), True)


def disclosure_input(form: DisclosureForm, zone: str) -> DisclosureInput:
    tz = zoneinfo.ZoneInfo(zone)

    def moment(name: str) -> dt.datetime | None:
        value = form[name].data
        return value.replace(tzinfo=tz).astimezone(dt.UTC) if value is not None else None

    def text(name: str) -> str:
        return str(form[name].data or "")

    persons = {role: tuple(line.strip() for line in text(f"persons_{role}").splitlines() if line.strip())
               for role in ROLES}
    return DisclosureInput(
        subject=text("subject"), first_existed_at=moment("first_existed_at"), decided_at=moment("decided_at"),
        planned_disclosure_at=moment("planned_disclosure_at"), conditions_met=text("conditions_met"),
        monitoring=text("monitoring"), confidentiality=text("confidentiality"),
        disclosure_arrangements=text("disclosure_arrangements"), disclosed_at=moment("disclosed_at"),
        authority_informed_at=moment("authority_informed_at"),
        change_note=text("change_note") if isinstance(form, AmendForm) else "", persons=persons)


def amend_form_of(version: Version, zone: str) -> AmendForm:
    """The current version in the form (the change note starts empty; erased names are left out)."""
    tz = zoneinfo.ZoneInfo(zone)
    data: dict[str, object] = {name: value for name, value in version.texts.items() if name != "change_note"}
    data.update({name: value.astimezone(tz).replace(tzinfo=None) if value else None
                 for name, value in version.moments.items()})
    data.update({f"persons_{role}": "\n".join(n for n in names if n is not None)
                 for role, names in version.persons.items()})
    return AmendForm(formdata=None, data=data)


class PdmrForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[InputRequired(message=_l("Enter the name.")),
                                                    Length(max=MAX_NAME, message=_l("Use at most 200 characters."))])
    email = EmailField(_l("E-mail address"), description=_l("The notice of obligations is sent here."),
                       validators=[InputRequired(message=_l("Enter the e-mail address.")), Length(max=254)])
    detail = StringField(_l("Position"), validators=[Optional(), Length(
        max=MAX_DETAIL, message=_l("Use at most 200 characters."))])


class AssociateForm(PdmrForm):
    # The domain checks the id (an active PDMR of this tenant).
    pdmr = SelectField(_l("Closely associated with"), choices=[], validate_choice=False)
    detail = StringField(_l("Relationship"), description=_l("E.g. spouse, child, a company they control."),
                         validators=[Optional(), Length(max=MAX_DETAIL, message=_l("Use at most 200 characters."))])


class EntryForm(FlaskForm):
    """A button on one register entry: remove it, or issue a code for its notification."""

    entry_id = HiddenField(validators=[InputRequired()])


class NotifyForm(EntryForm):
    language = SelectField(_l("Language of the notice"), choices=plain_choices(LANGUAGES))


class AnnouncementForm(FlaskForm):
    kind = SelectField(_l("Report"), choices=plain_choices(KINDS))
    label = StringField(_l("Label"), description=_l("E.g. Q1 2027. At most 80 characters."),
                        validators=[InputRequired(message=_l("Enter a label.")),
                                    Length(max=MAX_LABEL, message=_l("Use at most 80 characters."))])
    announce_on = DateField(_l("Announced on"), description=_l("The day the report is published, e.g. 2027-04-24."),
                            validators=[InputRequired(message=_l("Enter a date."))])


class CancelForm(FlaskForm):
    report_id = HiddenField(validators=[InputRequired()])


class NoticeForm(FlaskForm):
    text_en = TextAreaField(_l("English"), validators=[Optional(), Length(
        max=MAX_NOTICE, message=_l("Use at most 20,000 characters."))])
    text_sv = TextAreaField(_l("Swedish"), validators=[Optional(), Length(
        max=MAX_NOTICE, message=_l("Use at most 20,000 characters."))])


def posted_id(form: FlaskForm, field: str) -> uuid.UUID:
    """The id a one-button form posted in its hidden ``field``: 400 for a form that fails CSRF or
    carries anything but a UUID (a tampered page)."""
    if not form.validate_on_submit():
        abort(400)
    try:
        return uuid.UUID(getattr(form, field).data or "")
    except ValueError:
        abort(400)
