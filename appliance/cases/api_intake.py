"""Reports an API token records from another channel (Directive 2019/1937 Art. 9(2)), with files.

A report and its files go through the portal's pipeline (``ReportingService.file``): sealed to
the channel's readers, the reporter's case key and the escrow key; files are encrypted chunk by
chunk under their own keys with the portal's limits. The token that filed a report may add more
files to it for ``ATTACH_WINDOW`` afterwards (a client that sends the text first and the files
after it), sealed to the case's public key: it can add to the case but never read it, nor what it
added. For any other token, or another tenant's report, the report does not exist (NotFound: no
oracle); after the window, WindowClosed.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.attachments import Upload
from appliance.cases.content import CaseContent
from appliance.cases.models import ApiIntakeRecord, Attachment, Case
from appliance.cases.reporting import Limits, NewReport, Receipt, ReportingService
from appliance.clock import Clock
from appliance.errors import InvalidInput, NotFound, WindowClosed
from appliance.tenants.models import Tenant

ATTACH_WINDOW = dt.timedelta(minutes=10)
# Files one report may carry through the API, filed with it and added after it together.
MAX_FILES = 20
SOURCE = "reporter"  # the reporter's own documents: handlers see them with the report
REFERENCE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}")  # ReportingService._new_reference


@dataclass(frozen=True)
class FilesAdded:
    case_id: uuid.UUID
    attachment_ids: tuple[uuid.UUID, ...]


class ApiIntake:
    def __init__(self, session: Session, reporting: ReportingService, content: CaseContent, logbook: Logbook,
                 clock: Clock, limits: Limits) -> None:
        self._session = session
        self._reporting = reporting
        self._content = content
        self._logbook = logbook
        self._clock = clock
        self._limits = limits

    def file(self, tenant: Tenant, report: NewReport, uploads: list[Upload], token_id: uuid.UUID,
             actor: Actor) -> Receipt:
        """File a report with its files and remember which token filed it, and when."""
        _check_count(len(uploads))
        filed = self._reporting.file(tenant, report, uploads, actor)
        self._session.add(ApiIntakeRecord(case_id=filed.case.id, tenant_id=tenant.id, token_id=token_id,
                                          created_at=self._clock()))
        self._session.flush()
        return filed.receipt

    def add_files(self, tenant_id: uuid.UUID, reference: str, uploads: list[Upload], token_id: uuid.UUID,
                  actor: Actor) -> FilesAdded:
        """Add files to a report this token filed less than ``ATTACH_WINDOW`` ago. NotFound for
        another tenant's or another token's report (as for none); WindowClosed after the window;
        TooLarge or InvalidInput (nothing stored) over the per-file, per-report or count limits."""
        if not REFERENCE.fullmatch(reference):
            raise NotFound("report")  # nothing to look up (and nothing a database would refuse)
        found = self._session.execute(
            sa.select(Case, ApiIntakeRecord.created_at).join(ApiIntakeRecord, ApiIntakeRecord.case_id == Case.id)
            .where(Case.tenant_id == tenant_id, Case.reference == reference, ApiIntakeRecord.tenant_id == tenant_id,
                   ApiIntakeRecord.token_id == token_id)
        ).one_or_none()
        if found is None:
            raise NotFound("report")
        case, filed_at = found
        if self._clock() - filed_at > ATTACH_WINDOW:
            raise WindowClosed("files can be added", int(ATTACH_WINDOW.total_seconds() // 60))
        if not uploads:
            raise InvalidInput("files", "send at least one file")
        count, used = self._session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Attachment.size_bytes), 0))
            .where(Attachment.case_id == case.id, Attachment.tenant_id == tenant_id, Attachment.source == SOURCE,
                   Attachment.message_id.is_(None))
        ).one()
        _check_count(int(count) + len(uploads))
        stored = self._content.store_uploads(case, self._content.access.writer(case), uploads, source=SOURCE,
                                             message_id=None, per_file=self._limits.per_file,
                                             per_batch=self._limits.per_report - int(used))
        case.updated_at = self._clock()
        self._logbook.record("case.attachments_added", actor, tenant_id=tenant_id, object_type="case",
                             object_id=case.id, detail=f"attachments={len(stored)}")
        return FilesAdded(case.id, tuple(a.id for a in stored))


def _check_count(count: int) -> None:
    if count > MAX_FILES:
        raise InvalidInput("files", f"at most {MAX_FILES} files per report")
