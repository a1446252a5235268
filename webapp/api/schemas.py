"""The API's request and response bodies. Requests are validated with these models and the
OpenAPI document (webapp/api/openapi.py) is generated from them: one source for both."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema
from werkzeug.datastructures import FileStorage

from appliance.cases.api_intake import MAX_FILES
from appliance.cases.content import MAX_SHORT, MAX_TEXT
from appliance.events.service import MAX_ACTION, MAX_BATCH, MAX_ID, MAX_OBJECT, MAX_PAGE, MAX_PROJECT, MAX_SOURCE
from appliance.persons.service import MAX_EMAIL

Channel = Literal["phone", "letter", "meeting", "email", "other"]


class Body(BaseModel):
    # Unknown fields are refused rather than dropped: a misspelt field would otherwise lose
    # what a reporter said without anyone noticing.
    model_config = ConfigDict(extra="forbid")


class ReportIn(Body):
    """A report received through another channel (Directive Art. 9(2)), recorded by an API client."""

    category: uuid.UUID = Field(description="One of the organisation's categories (GET /api/v1/categories).")
    what: str = Field(min_length=1, max_length=MAX_TEXT, description="What happened.")
    when: str = Field("", max_length=MAX_SHORT, description="When it happened.")
    where: str = Field("", max_length=MAX_SHORT, description="Where it happened.")
    who: str = Field("", max_length=MAX_SHORT, description="Who was involved.")
    contact: str = Field("", max_length=254, description="An e-mail address the reporter agreed to be reached at.")
    channel: Channel = Field(description="How the report reached the organisation.")
    received_at: AwareDatetime = Field(description="When it reached the organisation (RFC 3339, with an offset).")


class ReportReceipt(Body):
    """The new case. Give the case key to the reporter: it is shown once, here, and with it they
    follow up on the portal like any reporter."""

    reference: str = Field(description="The case's reference, as handlers see it.")
    case_key: str = Field(description="The reporter's case key, XXXX-XXXX-XXXX-XXXX. Shown once.")
    follow_up_url: str = Field(description="Where the reporter follows up with the case key.")


# One file part of a multipart/form-data body (OpenAPI 3.1 spells a binary part this way).
FilePart = Annotated[FileStorage, WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream"})]


class Form(Body):
    """A multipart/form-data body: fields typed ``list[FilePart]`` take the parts sent as files;
    every other field is one part holding JSON (webapp/api/forms.py)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class ReportWithFiles(Form):
    """A report with files, as ``multipart/form-data``: the part ``report`` holds the same JSON as
    the JSON body, each part ``files`` one file (any type; types the portal does not know are kept
    as application/octet-stream). The portal's limits apply per file and per report."""

    report: ReportIn
    files: list[FilePart] = Field(default_factory=list, max_length=MAX_FILES,
                                  description=f"At most {MAX_FILES} files per report.")


class FilesIn(Form):
    files: list[FilePart] = Field(min_length=1, max_length=MAX_FILES,
                                  description=f"The files to add; at most {MAX_FILES} per report in all.")


class FilesAdded(Body):
    """What was added; it cannot be read back through the API."""

    reference: str
    count: int
    attachments: list[uuid.UUID] = Field(description="The new attachments' ids.")



class CategoryOut(Body):
    id: uuid.UUID
    label: str


class CategoryList(Body):
    categories: list[CategoryOut]


class EventIn(Body):
    """One access event: who opened what, when, for which deal or matter."""

    id: str = Field(min_length=1, max_length=MAX_ID, description="The event's id at its source; with `source`, "
                                                                "what makes it unique (a repeated upload is a duplicate).")
    source: str = Field(min_length=1, max_length=MAX_SOURCE, description="The system that recorded it (e.g. `dms`).")
    occurred_at: AwareDatetime = Field(description="When it happened (RFC 3339, with an offset); not in the future.")
    actor_email: str = Field(min_length=3, max_length=MAX_EMAIL, description="Who: their e-mail address.")
    action: str = Field(min_length=1, max_length=MAX_ACTION, description="What they did (e.g. `open`, `download`).")
    object: str = Field(min_length=1, max_length=MAX_OBJECT, description="What they accessed (a document, a folder).")
    project: str = Field(min_length=1, max_length=MAX_PROJECT,
                         description="The deal or matter code the access concerns (matched to insider-list sections).")


class EventBatchIn(Body):
    """A batch of access events. Each is checked on its own: a bad one is rejected by index, the
    others are stored."""

    events: list[JsonValue] = Field(max_length=MAX_BATCH, json_schema_extra={
        "items": {"$ref": "#/components/schemas/EventIn"}},
        description=f"At most {MAX_BATCH} events (each an `EventIn`).")


class RejectedEvent(Body):
    index: int = Field(description="The event's position in `events`, from 0.")
    reason: str = Field(description="The field and the rule it breaks (never the value sent).")


class EventUploadResult(Body):
    """What became of a batch: nothing is stored twice (by `source` and `id`)."""

    accepted: int = Field(description="New events stored.")
    duplicates: int = Field(description="Events stored before (or twice in this batch), left as they were.")
    rejected: list[RejectedEvent]


class EventQuery(Body):
    """Which events to list."""

    project: str = Field(min_length=1, max_length=MAX_PROJECT, description="The deal or matter code.")
    since: AwareDatetime | None = Field(None, description="Only events at or after this time (RFC 3339, with an offset).")
    limit: int = Field(MAX_PAGE, ge=1, le=MAX_PAGE, description="At most this many events per page.")
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")


class EventOut(Body):
    id: str
    source: str
    occurred_at: AwareDatetime
    actor_email: str | None = Field(description="None when the person was erased.")
    action: str
    object: str
    project: str


class EventPage(Body):
    """Events oldest first (then by their order of storage); `next_cursor` is null on the last page."""

    events: list[EventOut]
    next_cursor: str | None


class StatsQuery(Body):
    """Which months: both as YYYY-MM (UTC), both included; either left out, the twelve months up to
    this one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    from_: str | None = Field(None, alias="from", max_length=7, pattern=r"^[0-9]{4}-[0-9]{2}$",
                              description="The first month, YYYY-MM.")
    to: str | None = Field(None, max_length=7, pattern=r"^[0-9]{4}-[0-9]{2}$", description="The last month, YYYY-MM.")


class CountOut(Body):
    """A count, or null when withheld: `small` (fewer than five cases) or `secondary` (five or more,
    withheld so that a small count cannot be worked out from a total)."""

    value: int | None
    withheld: Literal["small", "secondary"] | None


class BreakdownRowOut(Body):
    key: str = Field(description="Month (YYYY-MM), category label, channel, status, open/closed or outcome; "
                                 "an empty key is no category or no outcome recorded.")
    count: CountOut


class BreakdownOut(Body):
    rows: list[BreakdownRowOut]
    total: CountOut = Field(description="What the rows add up to: the reports (closed reports for `outcome`).")


class DurationOut(Body):
    """Days from receipt, over the cases that reached the step; null below five cases."""

    cases: CountOut
    median_days: float | None
    p90_days: float | None


class ShareOut(Body):
    """Of the cases whose deadline has passed or that were answered, how many in time; the percentage is
    null when it would single out fewer than five cases."""

    due: CountOut
    in_time: CountOut
    percent: float | None


class StatsOut(Body):
    """The organisation's figures over the reports received in the period, with small cells withheld
    exactly as on the analyst's page and in its exports."""

    period_from: str = Field(description="YYYY-MM")
    period_to: str = Field(description="YYYY-MM")
    reports: CountOut
    open: CountOut
    overdue: CountOut
    breakdowns: dict[str, BreakdownOut] = Field(
        description="Reports by `month`, `category`, `channel`, `status`, `state` (open/closed) and `outcome`; "
                    "access events uploaded through the API by the month they happened (`events`).")
    to_acknowledge: DurationOut
    to_first_feedback: DurationOut
    acknowledged_within_7_days: ShareOut
    feedback_within_3_months: ShareOut


class FieldProblem(Body):
    field: str = Field(description="Where in the body, dotted (e.g. `received_at`).")
    message: str


class Problem(Body):
    """RFC 9457 problem details (``application/problem+json``). ``type`` is stable per error."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = Field(None, description="For invalid bodies: each field and what is wrong.")
