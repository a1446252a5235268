"""The insider-list forms (Flask-WTF: CSRF on every one). The templates count in UTC minutes, so
every time here is typed in UTC (the labels say so), unlike the room's other forms."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    Field,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from appliance.acknowledgements.notices import LANGUAGES
from appliance.errors import InvalidInput
from appliance.insiders.exports import FORMATS
from appliance.insiders.service import MAX_CODE, MAX_DESCRIPTION
from webapp.choices import labelled_choices, plain_choices

MOMENT_FORMAT = "%Y-%m-%dT%H:%M"
MAX_FIELD = 500
UTC_HINT = _l("In UTC, to the minute, e.g. 2027-03-01 14:30.")

FIELD_LABELS = {
    "first_name": _l("First name(s)"), "surname": _l("Surname(s)"),
    "birth_surname": _l("Birth surname(s), if different"), "professional_phone": _l("Professional telephone number(s)"),
    "personal_phone": _l("Personal telephone number(s)"), "national_id": _l("National identification number"),
    "date_of_birth": _l("Date of birth"), "home_address": _l("Personal full home address"),
    "email": _l("E-mail address"), "company_name_address": _l("Company name and address"),
    "function_reason": _l("Function and reason for being an insider"),
    "provider": _l("Service provider (name)"), "obtained": _l("Obtained access (UTC)"),
    "ceased": _l("Ceased to have access (UTC)"),
}
PHONE_HINT = _l("With the international prefix, e.g. +46 8 123 456 78; several separated by ;")
# The order of the add form; which of them a section shows follows its template.
DETAIL_FIELDS = ("first_name", "surname", "birth_surname", "professional_phone", "personal_phone", "national_id",
                 "date_of_birth", "home_address", "email", "company_name_address", "function_reason", "provider")


def _moment(label: str, required: bool) -> DateTimeLocalField:
    checks = [InputRequired(message=_l("Enter a date and time."))] if required else [Optional()]
    return DateTimeLocalField(label, format=MOMENT_FORMAT, validators=checks, description=UTC_HINT)


def line_field(label: str, description: str = "", limit: int = MAX_FIELD) -> StringField:
    return StringField(label, description=description,
                       validators=[Optional(), Length(max=limit, message=_l("This is too long."))])


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time typed in a form (naive, meant as UTC) as an aware UTC time."""
    return value.replace(tzinfo=dt.UTC) if value is not None else None


class SectionForm(FlaskForm):
    code = StringField(_l("Name or code of the inside information"), description=_l("E.g. Project Falcon."),
                       validators=[InputRequired(message=_l("Enter a name or code.")),
                                   Length(max=MAX_CODE, message=_l("Use at most 80 characters."))])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(
        max=MAX_DESCRIPTION, message=_l("Use at most 2,000 characters."))])
    identified_at = _moment(_l("Identified (UTC)"), True)


class ButtonForm(FlaskForm):
    """A form that is one button (CSRF only)."""


class CloseForm(FlaskForm):
    reason = SelectField(_l("Why the section closes"), choices=labelled_choices([
        ("disclosed", _l("The information was disclosed")),
        ("no_longer_inside", _l("It is no longer inside information"))]))
    closed_at = _moment(_l("Closed at (UTC)"), True)
    confirmed = HiddenField()


class InsiderForm(FlaskForm):
    known_person = SelectField(_l("A person already on your lists"), choices=[], validate_choice=False,
                               description=_l("Or leave this empty and give a new person's details below."))
    first_name = line_field(FIELD_LABELS["first_name"], limit=200)
    surname = line_field(FIELD_LABELS["surname"], limit=200)
    birth_surname = line_field(FIELD_LABELS["birth_surname"], limit=200)
    professional_phone = line_field(FIELD_LABELS["professional_phone"], PHONE_HINT)
    personal_phone = line_field(FIELD_LABELS["personal_phone"], PHONE_HINT)
    national_id = line_field(FIELD_LABELS["national_id"], limit=64)
    date_of_birth = line_field(FIELD_LABELS["date_of_birth"], _l("yyyy-mm-dd"), limit=20)
    home_address = line_field(FIELD_LABELS["home_address"])
    email = line_field(FIELD_LABELS["email"], _l("The notice of duties and the self-service code are sent here."), 254)
    company_name_address = line_field(FIELD_LABELS["company_name_address"])
    function_reason = TextAreaField(FIELD_LABELS["function_reason"], validators=[
        InputRequired(message=_l("Give the function and the reason.")),
        Length(max=2000, message=_l("Use at most 2,000 characters."))])
    provider = line_field(FIELD_LABELS["provider"], _l("Only for a third-party service provider's one contact person."),
                     200)
    obtained = _moment(FIELD_LABELS["obtained"], True)
    ceased = _moment(FIELD_LABELS["ceased"], False)
    language = SelectField(_l("Language of the mails"), choices=plain_choices(LANGUAGES))
    self_service = BooleanField(_l("Ask the person to fill in their own personal details (a single-use code by "
                                   "e-mail)"))


class ChangeForm(FlaskForm):
    first_name = line_field(FIELD_LABELS["first_name"], limit=200)
    surname = line_field(FIELD_LABELS["surname"], limit=200)
    professional_phone = line_field(FIELD_LABELS["professional_phone"], PHONE_HINT)
    company_name_address = line_field(FIELD_LABELS["company_name_address"])
    function_reason = TextAreaField(FIELD_LABELS["function_reason"], validators=[
        InputRequired(message=_l("Give the function and the reason.")),
        Length(max=2000, message=_l("Use at most 2,000 characters."))])
    changed_at = _moment(_l("Changed at (UTC)"), True)


class CeaseForm(FlaskForm):
    ceased_at = _moment(_l("Ceased at (UTC)"), True)


class LinkForm(FlaskForm):
    purpose = HiddenField(validators=[InputRequired()])
    language = SelectField(_l("Language"), choices=plain_choices(LANGUAGES))


class TransmissionForm(FlaskForm):
    export_format = SelectField(_l("Format sent"), choices=plain_choices(FORMATS))
    as_at = _moment(_l("As at (UTC)"), True)
    transmitted_on = DateField(_l("Transmitted on"), validators=[InputRequired(message=_l("Enter a date."))],
                               description=_l("E.g. 2027-03-01."))


def domain_error(form: FlaskForm, exc: InvalidInput, aliases: dict[str, str] | None = None) -> None:
    """A domain refusal shown on the field it concerns, in words the reader understands."""
    name = (aliases or {}).get(exc.field, exc.field)
    target = getattr(form, name, None)
    if not isinstance(target, Field):
        target = next(f for f in form if f.type not in ("CSRFTokenField", "HiddenField"))
    target.errors = [*(target.errors or []), _message(exc)]


def _message(exc: InvalidInput) -> str:
    if "future" in exc.reason:
        return _("This time is in the future.")
    if exc.field == "ceased" and "before" in exc.reason:
        return _("An insider cannot cease before they obtained access.")
    if "before" in exc.reason:
        return _("This time is before the record it changes.")
    if exc.field in ("professional_phone", "personal_phone"):
        return _("Give each number with its international prefix, e.g. +46 8 123 456 78 (at most four).")
    if exc.field == "national_id":
        return _("Use letters and digits only, 4 to 32 of them.")
    if exc.field == "date_of_birth":
        return _("Give a plausible date of birth as yyyy-mm-dd.")
    if exc.field == "surname":
        return _("Enter the first name and the surname.")
    if "at least one" in exc.reason:
        return _("Fill in at least one field.")
    return _("Please check this field.")
