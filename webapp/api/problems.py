"""RFC 9457 problem details: every error the API answers is ``application/problem+json`` with a
stable ``type`` URI per kind of error. ``detail`` never carries what the caller sent (report
content, tokens): only the field names and what the appliance expects."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, json
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from appliance.errors import (
    AccessDenied,
    ApplianceError,
    AuthenticationFailed,
    ChannelNotReady,
    Conflict,
    InvalidInput,
    LockedOut,
    NotFound,
    RateLimited,
    ReaderListTampered,
    TooLarge,
    WindowClosed,
)
from appliance.events.service import CursorInvalid

TYPE_BASE = "https://appliance.invalid/problems/"
MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return TYPE_BASE + self.slug


MALFORMED = ProblemType("malformed-request", 400, "The body (or a JSON part of it) could not be read")
BAD_CURSOR = ProblemType("invalid-cursor", 400, "The cursor is not one this listing gave")
UNAUTHORIZED = ProblemType("unauthorized", 401, "A valid bearer token is required")
FORBIDDEN = ProblemType("forbidden", 403, "The token lacks the scope this needs")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
METHOD = ProblemType("method-not-allowed", 405, "Method not allowed")
CONFLICT = ProblemType("conflict", 409, "Conflicts with the current state")
WINDOW_CLOSED = ProblemType("attachment-window-closed", 409, "Files can be added only shortly after the report")
TOO_LARGE = ProblemType("too-large", 413, "The body is larger than allowed")
MEDIA = ProblemType("unsupported-media-type", 415, "Send the media type the operation accepts")
INVALID = ProblemType("invalid-input", 422, "The body does not meet the schema")
RATE_LIMITED = ProblemType("rate-limited", 429, "Too many requests")
UNAVAILABLE = ProblemType("channel-not-ready", 503, "The organisation cannot receive reports yet")
SERVER = ProblemType("server-error", 500, "The request could not be completed")
GENERIC = (MALFORMED, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, METHOD, CONFLICT, TOO_LARGE, MEDIA, INVALID, RATE_LIMITED,
           UNAVAILABLE, SERVER)
ALL = (*GENERIC, BAD_CURSOR, WINDOW_CLOSED)
BY_STATUS = {p.status: p for p in GENERIC}


def problem(kind: ProblemType, detail: str | None = None, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body: dict[str, object] = {"type": kind.uri, "title": kind.title, "status": kind.status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=kind.status, mimetype=MEDIA_TYPE)
    response.headers.update(headers or {})
    return response


class BodyRefused(Exception):
    """The body is not what the operation accepts; carries the problem response."""

    def __init__(self, response: ResponseReturnValue) -> None:
        super().__init__("body refused")
        self.response = response


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Each refused field, dotted, and the rule it broke: never the value sent."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in errors]


def from_domain(exc: ApplianceError) -> Response:
    """The problem for a domain error (never its message when that could echo input)."""
    if isinstance(exc, AuthenticationFailed):
        return problem(UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if isinstance(exc, AccessDenied):
        return problem(FORBIDDEN, f"needs {exc.action}")
    if isinstance(exc, NotFound):
        return problem(NOT_FOUND, f"{exc.kind} not found")
    if isinstance(exc, InvalidInput):
        return problem(INVALID, errors=[{"field": exc.field, "message": exc.reason}])
    if isinstance(exc, RateLimited | LockedOut):
        return problem(RATE_LIMITED, f"retry in {exc.retry_after_seconds} s",
                       headers={"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, TooLarge):
        return problem(TOO_LARGE, f"at most {exc.limit_bytes} bytes")
    if isinstance(exc, ChannelNotReady | ReaderListTampered):
        return problem(UNAVAILABLE, "nothing was stored; nobody could read a report filed now")
    if isinstance(exc, WindowClosed):
        return problem(WINDOW_CLOSED, exc.what)
    if isinstance(exc, CursorInvalid):
        return problem(BAD_CURSOR, "ask again without a cursor")
    if isinstance(exc, Conflict):
        return problem(CONFLICT, exc.what)
    return problem(SERVER)


def from_http(exc: HTTPException) -> Response:
    kind = BY_STATUS.get(exc.code or 500, SERVER)
    if kind is SERVER and (exc.code or 500) < 500:
        kind = ProblemType("http-" + str(exc.code), exc.code or 400, exc.name)
    allowed = getattr(exc, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else None
    return problem(kind, headers=headers)
