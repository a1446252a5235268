"""The case file's pages in the reader's language: what the case page shows, laid out for the
PDF renderer (appliance/documents/pdf.py). Times are in UTC and say so."""

from __future__ import annotations

import datetime as dt
import uuid

from flask_babel import gettext as _

from appliance.cases.case_file import CaseFile
from appliance.cases.read_models import ThreadMessage
from appliance.documents.pdf import Document, Fields, Paragraph, Section, Table
from webapp.handler.oral import channel_label
from webapp.templating import OUTCOME_LABELS, STATUS_LABELS, answer_text

ACK_MESSAGE = "acknowledgement"


def moment(value: dt.datetime | None) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if value is not None else ""


def size(value: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("kB", 1024)):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value} B"


def case_file_document(case_file: CaseFile, *, tenant_name: str, categories: dict[uuid.UUID, str],
                       emails: dict[uuid.UUID, str], exported_by: str, language: str) -> Document:
    case = case_file.case
    status = str(STATUS_LABELS.get(case.status, case.status))
    if case.outcome:
        status += " — " + str(OUTCOME_LABELS.get(case.outcome, case.outcome))
    metadata = [
        (_("Reference"), case.reference),
        (_("Organisation"), tenant_name),
        (_("Category"), categories.get(case.category_id, "—") if case.category_id else "—"),
        (_("Received through"), channel_label(case.channel) if case.channel else _("The reporting portal")),
        (_("Received"), moment(case.received_at)),
        (_("Status"), status),
    ]
    sections = [_deadlines(case_file), _history(case_file, emails), _report(case_file), _thread(case_file, emails)]
    if case_file.with_notes:
        sections.append(_notes(case_file, emails))
    sections.append(_attachments(case_file))
    return Document(
        title=_("Case file %(ref)s", ref=case.reference),
        subtitle=_("Confidential: a whistleblowing case (Directive (EU) 2019/1937). Do not pass on."),
        metadata=metadata, sections=sections, language=language,
        footer=_("Exported by %(who)s on %(when)s", who=exported_by, when=moment(case_file.exported_at)),
        page_label=_("Page {page} of {pages}"))


def _deadlines(case_file: CaseFile) -> Section:
    case = case_file.case
    not_yet = _("Not yet — due by %(d)s")
    rows = [
        (_("Acknowledged"), moment(case.acknowledged_at) or not_yet % {"d": moment(case.deadlines.acknowledge_by)}),
        (_("Feedback"), moment(case.feedback_at) or not_yet % {"d": moment(case.deadlines.feedback_by)}),
    ]
    if case.deadlines.overdue:
        rows.append((_("Overdue"), _("Yes")))
    if case.closed_at:
        rows.append((_("Closed"), moment(case.closed_at)))
    return Section(_("Deadlines"), blocks=[Fields(rows)])


def _history(case_file: CaseFile, emails: dict[uuid.UUID, str]) -> Section:
    def label(status: str) -> str:
        return str(STATUS_LABELS.get(status, status))

    rows = [[moment(case_file.case.received_at), "", label("received"), ""]]
    rows += [[moment(c.at), label(c.before), label(c.after), _who(c.user_id, emails)] for c in case_file.status_history]
    return Section(_("Status history"), blocks=[
        Table([_("When"), _("From"), _("To"), _("By")], rows, (3, 2, 2, 4)),
        Paragraph(_("Status changes older than the logbook's retention period are not listed."), muted=True)])


def _report(case_file: CaseFile) -> Section:
    report = case_file.case.report
    blocks = [
        Paragraph(report.what, _("What happened?")),
        Paragraph(report.when, _("When did it happen?")),
        Paragraph(report.where, _("Where did it happen?")),
        Paragraph(report.people, _("Who is involved?")),
        Paragraph(report.contact or _("No e-mail address given — reply through the messages below."),
                  _("Reporter's e-mail")),
    ]
    blocks += [Paragraph(answer_text(a), a.label) for a in case_file.case.answers]
    if case_file.case.conclusions:
        blocks.append(Paragraph(case_file.case.conclusions, _("Conclusions")))
    return Section(_("The report"), blocks=blocks)


def _thread(case_file: CaseFile, emails: dict[uuid.UUID, str]) -> Section:
    if not case_file.case.thread:
        return Section(_("Messages with the reporter"), blocks=[Paragraph(_("No messages yet."))])
    return Section(_("Messages with the reporter"), blocks=[_message(m, emails) for m in case_file.case.thread])


def _message(message: ThreadMessage, emails: dict[uuid.UUID, str]) -> Paragraph:
    author = {"reporter": _("Reporter"), "system": _("System")}.get(message.author, _("Handler"))
    if message.author == "handler" and message.author_user_id is not None:  # the colleague who wrote it
        author = _("Handler: %(who)s", who=_who(message.author_user_id, emails))
    label = f"{author} · {moment(message.created_at)}"
    if message.is_feedback:
        label += " · " + _("Feedback")
    if message.attachments:
        label += " · " + _("Attachments: %(names)s", names=", ".join(a.filename for a in message.attachments))
    body = message.body
    if message.author == "system" and body == ACK_MESSAGE:
        body = _("Acknowledgement of receipt sent to the reporter.")
    return Paragraph(body, label)


def _notes(case_file: CaseFile, emails: dict[uuid.UUID, str]) -> Section:
    notes = case_file.case.notes
    if not notes:
        return Section(_("Internal notes"), blocks=[Paragraph(_("No notes yet."))])
    return Section(_("Internal notes"), blocks=[
        Paragraph(n.body, f"{_who(n.author_user_id, emails)} · {moment(n.created_at)}") for n in notes])


def _attachments(case_file: CaseFile) -> Section:
    if not case_file.attachments:
        return Section(_("Attachments"), blocks=[Paragraph(_("No attachments."))])
    sources = {"reporter": _("Reporter"), "handler": _("Handler"), "recording": _("Recording")}
    rows = [[d.info.filename, str(sources.get(d.info.source, d.info.source)), size(d.info.size_bytes),
             _grouped(d.sha256)] for d in case_file.attachments]
    return Section(_("Attachments"), blocks=[
        Table([_("File"), _("From"), _("Size"), _("SHA-256")], rows, (4, 2, 2, 5)),
        Paragraph(_("SHA-256 of each file as received (spaces added for reading); the files themselves are "
                    "not part of this document."), muted=True)])


def _who(user_id: uuid.UUID | None, emails: dict[uuid.UUID, str]) -> str:
    if user_id is None:
        return _("System")
    return emails.get(user_id, _("former user"))


def _grouped(digest: str) -> str:
    return " ".join(digest[i:i + 8] for i in range(0, len(digest), 8))
