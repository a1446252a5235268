"""The insider-list templates of the implementing technical standards, as data.

Each template names the regulation it comes from, the kind of section it is for, and its
columns in order: the field each column shows, its header text and its format. An export
renders these and nothing else, so the next ITS is a new entry in ``TEMPLATES`` (and its
``applies_from``), never new code.

Which template a list is drawn up in follows the moment the list is "as at": before
Implementing Regulation (EU) 2026/1291 applied, the templates of (EU) 2022/1210 Annex I.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EVENT, PERMANENT = "event", "permanent"
SECTION_KINDS = (EVENT, PERMANENT)

# Formats a column may have; appliance/insiders/formats.py renders and checks each.
TEXT = "text"
DATETIME_MINUTE_COMMA = "yyyy-mm-dd, hh:mm UTC"
DATETIME_MINUTE_T = "yyyy-mm-ddThh:mm UTC"
DATE_ISO = "yyyy-mm-dd"
DATE_DMY = "dd/mm/yyyy"
PHONE_DIGITS = "numbers (no space)"
PHONE_INTERNATIONAL = "+<country code><number>"
NATIONAL_ID = "national identification number"

# The fields an insider's version holds. Personal ones are sealed under the person's key on the
# person chain; the others (company, function and reason) under the tenant's key.
PERSONAL_FIELDS = ("first_name", "surname", "birth_surname", "professional_phone", "personal_phone",
                   "national_id", "date_of_birth", "home_address", "email")
ENTRY_FIELDS = ("company_name_address", "function_reason")
TIME_FIELDS = ("obtained", "ceased")


@dataclass(frozen=True)
class Column:
    field: str  # snake_case: a key of PERSONAL_FIELDS, ENTRY_FIELDS or TIME_FIELDS
    header: str
    format: str = TEXT


@dataclass(frozen=True)
class Template:
    regulation: str  # e.g. "(EU) 2026/1291"
    template_id: str  # e.g. "Annex, Template 1"
    section_kind: str  # event | permanent
    applies_from: dt.datetime
    # The section's heading lines: (label, what it shows, format).
    heading: tuple[Column, ...]
    columns: tuple[Column, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)

    def column(self, field: str) -> Column | None:
        return next((c for c in self.columns if c.field == field), None)


# --- Implementing Regulation (EU) 2022/1210, Annex I -------------------------------------------
_2022 = "(EU) 2022/1210"
_2022_FROM = dt.datetime(2022, 8, 3, tzinfo=dt.UTC)
_2022_PERSON = (
    Column("first_name", "First name(s) of the insider"),
    Column("surname", "Surname(s) of the insider"),
    Column("birth_surname", "Surname(s) of the insider at birth (if different)"),
    Column("professional_phone", "Professional telephone number(s) (work direct telephone line and work mobile "
                                 "numbers)", PHONE_DIGITS),
    Column("company_name_address", "Company name and address"),
    Column("function_reason", "Function and reason for being insider"),
)
_2022_PRIVATE = (
    Column("national_id", "National Identification Number (if applicable)", NATIONAL_ID),
    Column("date_of_birth", "Date of birth", DATE_ISO),
    Column("personal_phone", "Personal telephone numbers (home and personal mobile telephone numbers)",
           PHONE_DIGITS),
    Column("home_address", "Personal full home address (street name; street number; city; post/zip code; country)"),
)
_2022_EVENT = Template(
    _2022, "Annex I, Template 1", EVENT, _2022_FROM,
    heading=(Column("code", "Insider list: section related to [name of the deal-specific or event-based inside "
                            "information]"),
             Column("identified_at", "Date and time of creation of this section (i.e. when the specific inside "
                                     "information was identified)", DATETIME_MINUTE_COMMA),
             Column("updated_at", "Date and time (last update)", DATETIME_MINUTE_COMMA),
             Column("transmitted_on", "Date of transmission to the competent authority", DATE_ISO)),
    columns=(*_2022_PERSON,
             Column("obtained", "Obtained (the date and time at which the insider obtained access to the inside "
                                "information)", DATETIME_MINUTE_COMMA),
             Column("ceased", "Ceased (the date and time at which the insider ceased to have access to the inside "
                              "information)", DATETIME_MINUTE_COMMA),
             *_2022_PRIVATE))
_2022_PERMANENT = Template(
    _2022, "Annex I, Template 2", PERMANENT, _2022_FROM,
    heading=(Column("identified_at", "Date and time of creation of this section", DATETIME_MINUTE_COMMA),
             Column("updated_at", "Date and time (last update)", DATETIME_MINUTE_COMMA),
             Column("transmitted_on", "Date of transmission to the competent authority", DATE_ISO)),
    columns=(*_2022_PERSON,
             Column("obtained", "Included (the date and time at which a person was included in the permanent "
                                "insider section)", DATETIME_MINUTE_COMMA),
             *_2022_PRIVATE))

# --- Implementing Regulation (EU) 2026/1291, Annex (the alleviated format for every issuer) ----
# In force on the twentieth day after its publication (OJ L, 15.6.2026).
_2026 = "(EU) 2026/1291"
_2026_FROM = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
_2026_PERSON = (
    Column("first_name", "First name(s) of the insider"),
    Column("surname", "Surname(s) of the insider"),
    Column("birth_surname", "Birth surname(s) of the insider (if different)"),
    Column("professional_phone", "Professional telephone number(s) (work direct telephone line and work mobile "
                                 "numbers)", PHONE_INTERNATIONAL),
    Column("company_name_address", "Company name and address (for a third-party service provider: its name and "
                                   "address; the insider is its contact person)"),
    Column("function_reason", "Function and reason for being insider"),
)
_2026_IDENTITY = (
    Column("national_id", "National Identification Number (if applicable)", NATIONAL_ID),
    Column("date_of_birth", "Date of birth", DATE_DMY),
)
_2026_EVENT = Template(
    _2026, "Annex, Template 1", EVENT, _2026_FROM,
    heading=(Column("code", "Insider list: section related to [name or code of the inside information]"),
             Column("identified_at", "Date and time of identification of the inside information",
                    DATETIME_MINUTE_T),
             Column("updated_at", "Date and time (last update)", DATETIME_MINUTE_T),
             Column("transmitted_on", "Date of transmission to the competent authority", DATE_DMY)),
    columns=(*_2026_PERSON,
             Column("obtained", "Obtained (the date and time at which the insider obtained access to the inside "
                                "information)", DATETIME_MINUTE_T),
             Column("ceased", "Ceased (the date and time at which the insider ceased to have access to the inside "
                              "information)", DATETIME_MINUTE_T),
             *_2026_IDENTITY))
_2026_PERMANENT = Template(
    _2026, "Annex, Template 2", PERMANENT, _2026_FROM,
    heading=(Column("identified_at", "Date and time of creation of the permanent insiders section",
                    DATETIME_MINUTE_T),
             Column("updated_at", "Date and time (last update)", DATETIME_MINUTE_T),
             Column("transmitted_on", "Date of transmission to the competent authority", DATE_DMY)),
    columns=(*_2026_PERSON,
             Column("obtained", "Included (the date and time at which the person was included in the permanent "
                                "insiders section)", DATETIME_MINUTE_T),
             *_2026_IDENTITY))

# Newest first within each kind: template_for takes the first that applied at the moment.
TEMPLATES: tuple[Template, ...] = (_2026_EVENT, _2026_PERMANENT, _2022_EVENT, _2022_PERMANENT)


def template_for(section_kind: str, as_at: dt.datetime) -> Template:
    """The template a section of this kind is drawn up in as at ``as_at``."""
    candidates = sorted((t for t in TEMPLATES if t.section_kind == section_kind and t.applies_from <= as_at),
                        key=lambda t: t.applies_from, reverse=True)
    if not candidates:
        # Before the oldest template we hold: the oldest (a list is never without a format).
        return min((t for t in TEMPLATES if t.section_kind == section_kind), key=lambda t: t.applies_from)
    return candidates[0]


def fields_in_use() -> frozenset[str]:
    """Every field some template shows (what the domain must be able to hold)."""
    return frozenset(c.field for t in TEMPLATES for c in t.columns)
