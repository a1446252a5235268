"""The API's request and response bodies. Requests are validated with these models and the
OpenAPI document (webapp/api/openapi.py) is generated from them: one source for both."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema
from werkzeug.datastructures import FileStorage

from appliance.cases.api_intake import MAX_FILES
from appliance.cases.content import MAX_SHORT, MAX_TEXT

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
