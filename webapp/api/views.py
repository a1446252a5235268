"""The API's routes under /api/v1/. Each is declared once (webapp/api/openapi.py): its policy, its
models and its place in the OpenAPI document come from that declaration."""

from __future__ import annotations

from importlib.metadata import version
from typing import TypeVar

from flask import g, json, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from appliance.api_tokens.service import ApiPrincipal, Scope
from appliance.cases.attachments import Upload
from appliance.cases.reporting import NewReport
from appliance.errors import InvalidInput, TooLarge
from appliance.events.service import NewEvent, Rejected
from webapp.api.desk import ApiDesk
from webapp.api.forms import MEDIA_TYPE as FORM_MEDIA_TYPE
from webapp.api.forms import parsed_form, uploads
from webapp.api.openapi import Operations
from webapp.api.problems import INVALID, MALFORMED, MEDIA, BodyRefused, field_errors, problem
from webapp.api.schemas import (
    BreakdownOut,
    BreakdownRowOut,
    CategoryList,
    CategoryOut,
    CountOut,
    DurationOut,
    EventBatchIn,
    EventIn,
    EventOut,
    EventPage,
    EventQuery,
    EventUploadResult,
    FilesAdded,
    FilesIn,
    RejectedEvent,
    ReportIn,
    ReportReceipt,
    ReportWithFiles,
    ShareOut,
    StatsOut,
    StatsQuery,
)
from webapp.api.stats import stats_out
from webapp.requestctx import app_context
from webapp.templating import category_label
from webapp.unit_of_work import unit_of_work

PREFIX = "/api/v1"
api = Operations()
M = TypeVar("M", bound=BaseModel)


__all__ = ["PREFIX", "BodyRefused", "api"]


def parsed(model: type[M]) -> M:
    """The request's JSON body validated by ``model``; BodyRefused (400, 415 or 422) otherwise.
    The problem names fields and rules, never the values sent."""
    if request.mimetype != "application/json":
        raise BodyRefused(problem(MEDIA, "send application/json"))
    data = _body(app_context().settings.api_max_body_bytes)
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False, include_input=False)):
            raise BodyRefused(problem(MALFORMED)) from None
        raise BodyRefused(problem(INVALID, errors=field_errors(exc))) from None


def _query(model: type[M]) -> M:
    """The query string validated by ``model``; BodyRefused (422) otherwise, naming fields only."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise BodyRefused(problem(INVALID, errors=field_errors(exc))) from None


def _body(limit: int) -> bytes:
    """The body, at most ``limit`` bytes (TooLarge, 413, beyond). A declared length over the limit
    was refused before anything was read (webapp/api/guard.py); a body without one (chunked, from a
    server that terminates the input) is read only up to one byte past the limit."""
    if request.content_length is not None:
        return request.get_data(cache=False)
    if "wsgi.input_terminated" not in request.environ:
        return b""  # no length and no end marked: reading could wait forever (werkzeug does the same)
    data: bytes = request.environ["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        raise TooLarge(limit)
    return data


def _principal() -> ApiPrincipal:
    principal: ApiPrincipal = g.api_principal
    return principal


def _json(model: BaseModel, status: int) -> ResponseReturnValue:
    return model.model_dump(mode="json"), status


@api.operation("GET", "/openapi.json", scope=None, summary="This document", responses={200: None})
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 document, generated from the same models the requests are validated with."""
    return json.jsonify(api.document(PREFIX, version("appliance")))


@api.operation("GET", "/categories", scope=Scope.REPORTS_INTAKE, summary="The organisation's report categories",
               responses={200: CategoryList})
def categories() -> ResponseReturnValue:
    """The active categories of the token's organisation, for ``category`` in a new report."""
    principal = _principal()
    desk = ApiDesk.of_request()
    found = [CategoryOut(id=c.id, label=category_label(c.label)) for c in desk.categories(principal)]
    desk.record(principal, "categories_listed")
    return _json(CategoryList(categories=found), 200)


@api.operation("POST", "/reports", scope=Scope.REPORTS_INTAKE, summary="Record a report from another channel",
               body=ReportIn, form=ReportWithFiles, responses={201: ReportReceipt},
               problems=(400, 413, 415, 422, 503))
def create_report() -> ResponseReturnValue:
    """A report received by phone, letter, in a meeting, by e-mail or otherwise (Directive Art.
    9(2)) goes through the portal's pipeline: sealed to the organisation's readers, the reporter
    and the escrow key. The caller can add reports but never read one back. The answer carries
    the case key, once: give it to the reporter, who follows up on the portal with it.

    With files, send ``multipart/form-data``: the report's JSON in the part ``report`` and each
    file in a part ``files``; files are encrypted as the portal's are, with the portal's limits
    per file and per report (413: nothing is stored)."""
    principal = _principal()
    files: list[Upload] = []
    if request.mimetype == FORM_MEDIA_TYPE:
        _end_transaction_before_upload()
        form = parsed_form(ReportWithFiles)
        body, files = form.report, uploads(form.files)
    else:
        body = parsed(ReportIn)
    desk = ApiDesk.of_request()
    receipt = desk.file_report(principal, NewReport(
        category_id=body.category, what=body.what, when=body.when, where=body.where, people=body.who,
        contact=body.contact, channel=body.channel, received_at=body.received_at), files)
    tenant = desk.tenant(principal)
    follow_up = url_for("reporter.follow_up", slug=tenant.slug, _external=True)
    return _json(ReportReceipt(reference=receipt.reference, case_key=receipt.case_key.display,
                               follow_up_url=follow_up), 201)


@api.operation("POST", "/events", scope=Scope.EVENTS_UPLOAD, summary="Upload a batch of access events",
               body=EventBatchIn, responses={202: EventUploadResult}, problems=(400, 413, 415, 422),
               models=(EventIn,))
def upload_events() -> ResponseReturnValue:
    """Up to 1,000 access events (who opened what, for which deal or matter), the source of
    insider-list proposals. Idempotent: an event is identified by `source` and `id`, and one
    sent again is counted as a duplicate and changes nothing. Each event is checked on its own:
    a bad one is listed in `rejected` with its index, the others are stored. The actor's address
    is personal data: it is kept encrypted under that person's own key."""
    principal = _principal()
    body = parsed(EventBatchIn)
    items: list[NewEvent | Rejected] = []
    for index, raw in enumerate(body.events):
        try:
            event = EventIn.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "event"
            items.append(Rejected(index, f"{where}: {first['msg']}"))
            continue
        items.append(NewEvent(event.id, event.source, event.occurred_at, event.actor_email, event.action,
                              event.object, event.project))
    result = ApiDesk.of_request().upload_events(principal, items)
    return _json(EventUploadResult(accepted=result.accepted, duplicates=result.duplicates, rejected=[
        RejectedEvent(index=r.index, reason=r.reason) for r in result.rejected]), 202)


@api.operation("GET", "/events", scope=Scope.INSIDERS_READ, summary="List access events by project",
               query=EventQuery, responses={200: EventPage}, problems=(400, 422))
def list_events() -> ResponseReturnValue:
    """The organisation's access events for one deal or matter code, oldest first, a page at a
    time: pass `next_cursor` back as `cursor` for the next page (the cursor is bound to the
    same `project` and `since`)."""
    principal = _principal()
    query = _query(EventQuery)
    page = ApiDesk.of_request().events_for_project(principal, query.project, query.since, query.limit, query.cursor)
    return _json(EventPage(events=[
        EventOut(id=e.id, source=e.source, occurred_at=e.occurred_at, actor_email=e.actor_email, action=e.action,
                 object=e.object, project=e.project) for e in page.events], next_cursor=page.next_cursor), 200)


@api.operation("POST", "/reports/<reference>/attachments", scope=Scope.REPORTS_INTAKE,
               summary="Add files to a report this token just recorded", form=FilesIn, responses={201: FilesAdded},
               problems=(400, 404, 409, 413, 415, 422))
def add_attachments(reference: str) -> ResponseReturnValue:
    """Files for a report recorded with this same token, within 10 minutes of recording it; they
    are sealed to the case like the report's own and cannot be read back. Any other report, or
    another organisation's, is 404; after the 10 minutes, 409 (`attachment-window-closed`)."""
    principal = _principal()
    _end_transaction_before_upload()
    form = parsed_form(FilesIn)
    added = ApiDesk.of_request().add_files(principal, reference, uploads(form.files))
    return _json(FilesAdded(reference=reference, count=len(added.attachment_ids),
                            attachments=list(added.attachment_ids)), 201)


def _end_transaction_before_upload() -> None:
    # The token check wrote (last use) and, on SQLite, holds the write lock: commit it before the
    # upload streams in, as the portal does, so no other request waits on a slow client.
    unit_of_work().commit_now()


@api.operation("GET", "/stats", scope=Scope.STATS_READ, summary="The organisation's report statistics",
               query=StatsQuery, responses={200: StatsOut}, problems=(422,),
               models=(BreakdownOut, CountOut, DurationOut, ShareOut, BreakdownRowOut))
def stats() -> ResponseReturnValue:
    """Counts and times of the reports the token's organisation received in the period (ISO 37002
    §9.1.2 indicators, the Directive's annual figures), from case metadata only. A count under five,
    and one that would let it be worked out from a total, is withheld (null, with the reason)."""
    principal = _principal()
    query = _query(StatsQuery)
    desk = ApiDesk.of_request()
    try:
        figures = desk.statistics(principal, query.from_, query.to)
    except InvalidInput as exc:
        return problem(INVALID, errors=[{"field": exc.field, "message": "must be a month as YYYY-MM, "
                                         "`to` not before `from`, at most 120 months"}])
    return _json(stats_out(figures), 200)
