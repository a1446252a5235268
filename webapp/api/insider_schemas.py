"""The insider-list API's bodies (MAR Art. 18). An insider's field names are the template's columns
in snake_case (appliance/insiders/templates.py): the same names in every template version, so a
client does not change when a new Implementing Regulation changes the header texts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from appliance.insiders.exports import FORMATS
from webapp.api.schemas import Body

ExportFormat = Literal["csv", "xlsx", "pdf"]
assert set(FORMATS) == {"csv", "xlsx", "pdf"}
MAX_FIELD = 2000


def _in_utc(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("out of range") from None


# An RFC 3339 time with its offset, taken in UTC (the lists count in UTC minutes: seconds are cut off).
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


def _text(description: str) -> str | None:
    return Field(None, max_length=MAX_FIELD, description=description)


class InsiderFields(Body):
    """What the templates record about an insider, by column (snake_case)."""

    first_name: str | None = _text("First name(s).")
    surname: str | None = _text("Surname(s).")
    birth_surname: str | None = _text("Surname(s) at birth, if different.")
    professional_phone: str | None = _text("Professional telephone number(s), international form (+46…); "
                                           "several separated by `;`.")
    personal_phone: str | None = _text("Personal telephone number(s), international form.")
    national_id: str | None = _text("National identification number, if applicable.")
    date_of_birth: str | None = _text("Date of birth, `yyyy-mm-dd`.")
    home_address: str | None = _text("Personal full home address.")
    email: str | None = _text("E-mail address (finds the person if the organisation knows them already).")
    company_name_address: str | None = _text("Company name and address (for a provider's contact: the provider's).")
    function_reason: str | None = _text("Function and reason for being an insider.")
    provider: str | None = _text("For a third-party service provider's one contact person: the provider's name.")


class InsiderIn(InsiderFields):
    """A person put on a section. `first_name` and `surname` are required."""

    obtained: Moment = Field(description="When the insider obtained access (UTC minute; not in the future).")
    ceased: Moment | None = Field(None, description="When they ceased to have access, if they have.")


class InsiderChange(InsiderFields):
    """A new version of an insider: the fields given replace the current ones (`""` clears one), valid
    from `changed_at`; `ceased` (alone or with changes) ends their access at that time."""

    changed_at: Moment | None = Field(None, description="The time of the change (required with field changes).")
    ceased: Moment | None = Field(None, description="When the insider ceased to have access.")


class SectionIn(Body):
    """A new section: `event` (one piece of inside information) or the organisation's one
    `permanent` insiders section."""

    kind: Literal["event", "permanent"]
    code: str | None = Field(None, max_length=200, description="Event sections: the name or code of the inside "
                             "information (also the `project` that access events carry).")
    description: str | None = Field(None, max_length=MAX_FIELD, description="Event sections: what it is.")
    identified_at: Moment | None = Field(None, description="When the inside information was identified (event "
                                         "sections: required), or since when the permanent section is kept.")


class Created(Body):
    id: uuid.UUID


class VersionOut(Body):
    id: uuid.UUID = Field(description="The insider's id.")
    version: int = Field(description="The new version's place on the organisation's version chain.")


class InsiderOut(InsiderFields):
    id: uuid.UUID
    version: int = Field(description="The place on the version chain of the version shown.")
    obtained: AwareDatetime
    ceased: AwareDatetime | None


class SectionOut(Body):
    """A section as at `as_at`, with its insiders as they stood then (ceased ones included)."""

    id: uuid.UUID
    kind: Literal["event", "permanent"]
    code: str | None
    description: str | None
    identified_at: AwareDatetime
    closed_at: AwareDatetime | None
    close_reason: str | None
    updated_at: AwareDatetime = Field(description="The last change of the section or its insiders.")
    transmitted_on: dt.date | None = Field(description="The last date an export was transmitted to the authority.")
    as_at: AwareDatetime
    insiders: list[InsiderOut]


class SectionSummary(Body):
    id: uuid.UUID
    kind: Literal["event", "permanent"]
    code: str | None
    identified_at: AwareDatetime
    closed_at: AwareDatetime | None
    insiders: int = Field(description="Insiders with access now (not ceased).")


class SectionList(Body):
    sections: list[SectionSummary]


class AsAtQuery(Body):
    as_at: Moment | None = Field(None, description="The moment to show (RFC 3339 with an offset); default now.")


class ExportQuery(Body):
    format: ExportFormat = Field(description="csv, xlsx or pdf.")
    as_at: Moment | None = Field(None, description="The moment the export shows (RFC 3339 with an offset); "
                                 "default now.")


class TransmissionIn(Body):
    format: ExportFormat = Field(description="The format of the export transmitted.")
    as_at: Moment = Field(description="The moment the transmitted export showed.")
    transmitted_on: dt.date = Field(description="The date of transmission to the competent authority "
                                    "(between the as-at date and today).")
