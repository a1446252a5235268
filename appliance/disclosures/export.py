"""A record's history for the competent authority (MAR Art. 17(4) third subparagraph: the
written explanation and the record on request): CSV, one row per version, and a readable PDF."""

from __future__ import annotations

import csv
import datetime as dt
import io

from appliance.disclosures.service import Version
from appliance.documents.pdf import Document, Section, render_pdf

MOMENT_LABELS = {
    "first_existed_at": "Inside information first existed",
    "decided_at": "Decision to delay",
    "planned_disclosure_at": "Likely disclosure",
    "disclosed_at": "Actual disclosure",
    "authority_informed_at": "Competent authority informed",
}
PERSON_LABELS = {
    "decision": "Responsible for deciding the delay and its likely end",
    "monitoring": "Responsible for monitoring the conditions",
    "disclosure_decision": "Responsible for deciding the disclosure",
    "authority_contact": "Responsible for informing the competent authority",
}
TEXT_LABELS = {
    "subject": "Inside information (description)",
    "conditions_met": "Why the conditions of Art. 17(4) are met",
    "monitoring": "How the conditions are monitored",
    "confidentiality": "Information barriers: how confidentiality is ensured",
    "disclosure_arrangements": "Arrangements to disclose at once if confidentiality is lost",
    "change_note": "What changed in this version",
}
ERASED = "(erased)"


def _moment(value: dt.datetime | None) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if value is not None else ""


def _names(names: tuple[str | None, ...]) -> str:
    return "; ".join(name if name is not None else ERASED for name in names)


def rows_of(version: Version) -> list[tuple[str, str]]:
    """The labelled values of one version, in the order of 2016/1055 Art. 4(3)."""
    rows = [("Record", version.reference), ("Version", str(version.version)),
            ("Version recorded at", _moment(version.recorded_at))]
    rows += [(label, _moment(version.moments.get(name))) for name, label in MOMENT_LABELS.items()]
    rows += [(label, _names(version.persons.get(name, ()))) for name, label in PERSON_LABELS.items()]
    rows += [(label, version.texts.get(name, "")) for name, label in TEXT_LABELS.items()]
    return rows


def history_csv(versions: list[Version]) -> bytes:
    """UTF-8 with a byte order mark (spreadsheets open it as such); formulas are neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if versions:
        writer.writerow([label for label, _ in rows_of(versions[0])])
    for version in versions:
        writer.writerow([_cell(value) for _, value in rows_of(version)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def history_pdf(versions: list[Version], organisation: str, created_at: dt.datetime) -> bytes:
    reference = versions[-1].reference if versions else ""
    sections = [Section(f"Version {v.version} (recorded {_moment(v.recorded_at)})", rows_of(v)[3:]) for v in versions]
    document = Document(title=f"Delayed disclosure {reference}: {organisation}",
                        subtitle=("Record under MAR Art. 17(4) and Implementing Regulation (EU) 2016/1055 Art. 4(3). "
                                  f"Every version, oldest first. Exported {_moment(created_at)}."),
                        sections=sections, footer=f"{reference} - confidential")
    return render_pdf(document, created_at)


def _cell(value: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) would run as a formula in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
