"""Jinja filters shared by every audience."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import format_date, format_datetime, gettext
from flask_babel import lazy_gettext as _l

from appliance.cases.read_models import AnsweredQuestion

STATUS_LABELS = {
    "received": _l("Received"), "acknowledged": _l("Acknowledged"), "assessing": _l("Assessing"),
    "investigating": _l("Investigating"), "closed": _l("Closed"),
}
OUTCOME_LABELS = {
    "substantiated": _l("Substantiated"), "partly-substantiated": _l("Partly substantiated"),
    "not-substantiated": _l("Not substantiated"), "out-of-scope": _l("Outside the scope of the channel"),
    "referred": _l("Referred to a competent authority"), "withdrawn": _l("Withdrawn by the reporter"),
    "duplicate": _l("Duplicate of an earlier report"), "not-a-report": _l("Not a report (spam)"),
}
ROLE_LABELS = {
    "admin": _l("Administrator"), "handler": _l("Case handler"), "auditor": _l("Auditor"),
    "analyst": _l("Analyst"), "insider-manager": _l("Insider-list manager"),
}

# One line per role on the users page: what holding it lets a person do.
ROLE_HELP = {
    "admin": _l("Manages users, roles, categories, retention and API tokens, and proposes readers; reads no report."),
    "handler": _l("Receives, reads and answers the reports sealed or shared to them; can become a reader."),
    "auditor": _l("Reads the logbook only: who did what and when, never what a report says."),
    "analyst": _l("Sees statistics only, with small numbers withheld."),
    "insider-manager": _l("Keeps the insider lists, delayed disclosures, managers' dealings and the closed periods."),
}


def category_label(label: str) -> str:
    """A category's label in the reader's language: the defaults (N_ in appliance/tenants/service.py) are in
    the catalogs; labels an administrator typed come back unchanged. Never %-formatted, unlike _() in Jinja."""
    return gettext(label) if label else label


def answer_text(answer: AnsweredQuestion) -> str:
    """A questionnaire answer as text: yes/no in the reader's language, several choices or files joined."""
    if isinstance(answer.answer, tuple):
        return ", ".join(answer.answer)
    if answer.kind == "yes_no":
        return gettext("Yes") if answer.answer == "yes" else gettext("No")
    return answer.answer


def install_filters(app: Flask) -> None:
    @app.template_filter("when")
    def _when(value: dt.datetime | None) -> str:
        # "long" carries the zone: a deadline without one is ambiguous across sites
        return format_datetime(value, "long") if value else "—"

    @app.template_filter("day")
    def _day(value: dt.datetime | None) -> str:
        return format_date(value, "medium") if value else "—"

    @app.template_filter("utc")
    def _utc(value: dt.datetime | None) -> str:
        # Insider lists count in UTC minutes (ITS 2022/1210, 2026/1291): shown as recorded
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"

    app.jinja_env.globals.update(
        status_label=lambda s: STATUS_LABELS.get(s, s),
        outcome_label=lambda s: OUTCOME_LABELS.get(s, s),
        role_label=lambda s: ROLE_LABELS.get(s, s),
        category_label=category_label,
        answer_text=answer_text,
    )

    @app.template_filter("filesize")
    def _filesize(size: int) -> str:
        scaled = float(size)
        for unit in ("B", "KB", "MB", "GB"):
            if scaled < 1024 or unit == "GB":
                return f"{scaled:.0f} {unit}" if unit == "B" else f"{scaled:.1f} {unit}"
            scaled /= 1024
        return f"{size} B"
