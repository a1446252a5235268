"""The insider-list API (MAR Art. 18) under /api/v1/insider-lists: sections, their insiders as at a
moment, new insiders and new versions, exports in the template's columns and the date an export
was transmitted to the competent authority. Scopes ``insiders:read`` and ``insiders:write``."""

from __future__ import annotations

import uuid
from dataclasses import fields

from flask import Response
from flask.typing import ResponseReturnValue

from appliance.api_tokens.service import Scope
from appliance.errors import NotFound
from appliance.insiders.records import InsiderDetails, InsiderView, SectionAsAt
from webapp.api.insider_desk import InsiderApiDesk
from webapp.api.insider_schemas import (
    AsAtQuery,
    Created,
    ExportQuery,
    InsiderChange,
    InsiderFields,
    InsiderIn,
    InsiderOut,
    SectionIn,
    SectionList,
    SectionOut,
    SectionSummary,
    TransmissionIn,
    VersionOut,
)
from webapp.api.views import _json, _principal, _query, api, parsed

MEDIA_TYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "pdf": "application/pdf"}
DETAIL_FIELDS = tuple(f.name for f in fields(InsiderDetails))
assert set(DETAIL_FIELDS) == set(InsiderFields.model_fields)


def _id(value: str, kind: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(kind) from None


def _details(body: InsiderFields) -> InsiderDetails:
    return InsiderDetails(**{name: getattr(body, name) for name in DETAIL_FIELDS})


def _insider(view: InsiderView) -> InsiderOut:
    values = {name: (None if (v := getattr(view.details, name)) is None else str(v)) for name in DETAIL_FIELDS}
    return InsiderOut(id=view.entry_id, version=view.version, obtained=view.obtained, ceased=view.ceased, **values)


def _section(part: SectionAsAt, as_at: object) -> SectionOut:
    s = part.section
    return SectionOut.model_validate({
        "id": s.id, "kind": s.kind, "code": s.code, "description": s.description, "identified_at": s.identified_at,
        "closed_at": s.closed_at, "close_reason": s.close_reason, "updated_at": s.updated_at,
        "transmitted_on": part.transmitted_on, "as_at": as_at, "insiders": [_insider(i) for i in part.insiders]})


@api.operation("POST", "/insider-lists", scope=Scope.INSIDERS_WRITE, summary="Open an insider-list section",
               body=SectionIn, responses={201: Created}, problems=(400, 409, 413, 415, 422))
def create_insider_list() -> ResponseReturnValue:
    """An event section (one piece of inside information: `code`, `description`, `identified_at`)
    or the organisation's one permanent insiders section (409 when it has one)."""
    body = parsed(SectionIn)
    section_id = InsiderApiDesk.of_request().create_section(_principal(), body.kind, body.code, body.description,
                                                            body.identified_at)
    return _json(Created(id=section_id), 201)


@api.operation("GET", "/insider-lists", scope=Scope.INSIDERS_READ, summary="The organisation's insider-list sections",
               responses={200: SectionList}, problems=(409,))
def list_insider_lists() -> ResponseReturnValue:
    """Every section as it stands now, with the number of insiders who have access now."""
    listed = InsiderApiDesk.of_request().sections(_principal())
    return _json(SectionList(sections=[SectionSummary.model_validate({
        "id": p.section.id, "kind": p.section.kind, "code": p.section.code, "identified_at": p.section.identified_at,
        "closed_at": p.section.closed_at, "insiders": sum(1 for i in p.insiders if i.ceased is None)})
        for p in listed.sections]), 200)


@api.operation("GET", "/insider-lists/<section_id>", scope=Scope.INSIDERS_READ,
               summary="A section with its insiders, as at a moment", query=AsAtQuery, responses={200: SectionOut},
               problems=(404, 409, 422))
def get_insider_list(section_id: str) -> ResponseReturnValue:
    """The section and its insiders exactly as their versions stood at `as_at` (default now; not
    in the future). 404 for a section that did not exist then, or is another organisation's."""
    query = _query(AsAtQuery)
    desk = InsiderApiDesk.of_request()
    as_at = query.as_at or desk.now()
    part = desk.section(_principal(), _id(section_id, "insider section"), as_at)
    return _json(_section(part, as_at.replace(second=0, microsecond=0)), 200)


@api.operation("POST", "/insider-lists/<section_id>/insiders", scope=Scope.INSIDERS_WRITE,
               summary="Put a person on a section", body=InsiderIn, responses={201: Created},
               problems=(400, 404, 409, 413, 415, 422))
def add_insider(section_id: str) -> ResponseReturnValue:
    """A new insider (found on the person chain by e-mail or national ID when the organisation
    knows them). 409 when the section is closed, the person is on it already, is a permanent
    insider (event sections), or the provider has its contact person on it already."""
    body = parsed(InsiderIn)
    entry_id = InsiderApiDesk.of_request().add_insider(_principal(), _id(section_id, "insider section"),
                                                       _details(body), body.obtained, body.ceased)
    return _json(Created(id=entry_id), 201)


@api.operation("PATCH", "/insider-lists/<section_id>/insiders/<insider_id>", scope=Scope.INSIDERS_WRITE,
               summary="Record a change of an insider (a new version)", body=InsiderChange,
               responses={200: VersionOut}, problems=(400, 404, 409, 413, 415, 422))
def change_insider(section_id: str, insider_id: str) -> ResponseReturnValue:
    """Nothing is overwritten: the change is a new version valid from `changed_at`, and the list
    as at any earlier moment is unchanged. 409 once the insider has ceased."""
    body = parsed(InsiderChange)
    given = body.model_dump(include=set(DETAIL_FIELDS), exclude_unset=True)
    changes = _details(body) if any(v is not None for v in given.values()) else None
    entry_id = _id(insider_id, "insider")
    version = InsiderApiDesk.of_request().change_insider(_principal(), _id(section_id, "insider section"), entry_id,
                                                         changes, body.changed_at, body.ceased)
    return _json(VersionOut(id=entry_id, version=version), 200)


@api.operation("GET", "/insider-lists/<section_id>/export", scope=Scope.INSIDERS_READ,
               summary="Export a section for the competent authority", query=ExportQuery,
               responses={200: None}, files=tuple(MEDIA_TYPES.values()), problems=(404, 409, 422))
def export_insider_list(section_id: str) -> ResponseReturnValue:
    """The section as at `as_at` (default now) in the columns, header texts and formats of the
    template that applied then: CSV (UTF-8 with BOM), XLSX or PDF."""
    query = _query(ExportQuery)
    data = InsiderApiDesk.of_request().export(_principal(), _id(section_id, "insider section"), query.format,
                                              query.as_at)
    response = Response(data, status=200, mimetype=MEDIA_TYPES[query.format])
    response.headers["Content-Disposition"] = f'attachment; filename="insider-list.{query.format}"'
    return response


@api.operation("POST", "/insider-lists/<section_id>/transmissions", scope=Scope.INSIDERS_WRITE,
               summary="Record the transmission of an export to the competent authority", body=TransmissionIn,
               responses={201: Created}, problems=(400, 404, 409, 413, 415, 422))
def record_transmission(section_id: str) -> ResponseReturnValue:
    """The date an export (its format and as-at moment) was transmitted; the section's heading in
    later exports shows it."""
    body = parsed(TransmissionIn)
    transmission_id = InsiderApiDesk.of_request().record_transmission(
        _principal(), _id(section_id, "insider section"), body.format, body.as_at, body.transmitted_on)
    return _json(Created(id=transmission_id), 201)
