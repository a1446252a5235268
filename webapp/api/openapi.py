"""The OpenAPI 3.1 document, generated from the routes' own declarations and their pydantic models.

Each API route is declared once with ``Operations.operation(...)``: method, path, scope, the
model its body is validated with and the models of its answers. The same declaration registers
the route, gives it its access policy and describes it here, and the schemas are pydantic's
``model_json_schema`` output (JSON Schema 2020-12, which OpenAPI 3.1 uses as is). A route that
takes files declares a ``Form`` model: its multipart/form-data body, each part's encoding and the
larger body limit (webapp/api/guard.py) come from it. Nothing of the document is written by hand
beside the models.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from appliance.api_tokens.service import Scope
from webapp.api.forms import MEDIA_TYPE as FORM_MEDIA_TYPE
from webapp.api.forms import is_files
from webapp.api.problems import ALL, MEDIA_TYPE
from webapp.api.schemas import Form, Problem
from webapp.policy import access
from webapp.routes import RouteTable

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearer"
PATH_PARAMETER = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")  # Flask's <name> or <converter:name>
UPLOADS = "api_accepts_uploads"  # set on a view that takes a Form: its body may be as large as an upload


def accepts_uploads(view: object) -> bool:
    return bool(getattr(view, UPLOADS, False))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Flask's form, below the blueprint's prefix: /reports/<reference>/attachments
    operation_id: str
    summary: str
    description: str
    scope: Scope | None
    body: type[BaseModel] | None
    form: type[Form] | None
    responses: dict[int, type[BaseModel] | None]
    problems: tuple[int, ...]
    query: type[BaseModel] | None = None  # the query parameters, each a field of the model
    models: tuple[type[BaseModel], ...] = ()  # models the others refer to by $ref


@dataclass
class Operations:
    """The API's routes: a RouteTable for the blueprint and the list the document is made from."""

    routes: RouteTable = field(default_factory=RouteTable)
    declared: list[Operation] = field(default_factory=list)

    def operation(self, method: str, path: str, *, scope: Scope | None, summary: str,
                  body: type[BaseModel] | None = None, form: type[Form] | None = None,
                  responses: dict[int, type[BaseModel] | None], problems: tuple[int, ...] = (),
                  query: type[BaseModel] | None = None, models: tuple[type[BaseModel], ...] = ()) -> Callable[[F], F]:
        def add(view: F) -> F:
            policy = f"api:{scope.value}" if scope is not None else "public"
            access(policy)(view)
            if form is not None:
                setattr(view, UPLOADS, True)
            self.routes.route(path, methods=[method], endpoint=view.__name__)(view)
            auth = (401, 403, 429) if scope is not None else ()
            self.declared.append(Operation(method.lower(), path, view.__name__, summary,
                                           inspect.cleandoc(view.__doc__ or ""), scope, body, form, responses,
                                           tuple(sorted(set(problems) | set(auth))), query, models))
            return view
        return add

    def document(self, prefix: str, version: str) -> dict[str, Any]:
        models: list[type[BaseModel]] = [Problem]
        for op in self.declared:
            models += [m for m in (op.body, op.form, *op.responses.values(), *op.models) if m is not None]
        unique = list(dict.fromkeys(models))
        _, schemas = models_json_schema([(m, "validation") for m in unique], ref_template=REF)
        paths: dict[str, dict[str, Any]] = {}
        for op in self.declared:
            paths.setdefault(prefix + PATH_PARAMETER.sub(r"{\1}", op.path), {})[op.method] = _operation(op)
        return {
            "openapi": "3.1.0",
            "info": {"title": "Compliance appliance API", "version": version,
                     "description": "Errors are RFC 9457 problem details; their `type` URIs: "
                                    + ", ".join(f"`{p.uri}` ({p.status})" for p in ALL) + "."},
            "paths": paths,
            "components": {
                "schemas": schemas.get("$defs", {}),
                "securitySchemes": {SECURITY_SCHEME: {
                    "type": "http", "scheme": "bearer",
                    "description": "An API token: `appliance api-token create` or the administration pages. "
                                   "Scopes: " + ", ".join(f"`{s.value}`" for s in Scope) + "."}},
            },
        }


def _operation(op: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        described["description"] = op.description
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in PATH_PARAMETER.findall(op.path)]
    if parameters:
        described["parameters"] = parameters
    if op.scope is not None:
        described["security"] = [{SECURITY_SCHEME: []}]
        described["x-scope"] = op.scope.value
    else:
        described["security"] = []
    if op.query is not None:
        schema = op.query.model_json_schema()
        described.setdefault("parameters", []).extend(
            {"name": name, "in": "query", "required": name in schema.get("required", []),
             "description": field.pop("description", ""), "schema": field}
            for name, field in schema["properties"].items())
    content: dict[str, Any] = {}
    if op.body is not None:
        content["application/json"] = {"schema": {"$ref": REF.format(model=op.body.__name__)}}
    if op.form is not None:
        content[FORM_MEDIA_TYPE] = {"schema": {"$ref": REF.format(model=op.form.__name__)}, "encoding": {
            name: {"contentType": "application/json"}
            for name, field in op.form.model_fields.items() if not is_files(field)}}
    if content:
        described["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Success")}
        if model is not None:
            answer["content"] = {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}
        responses[str(status)] = answer
    for status in op.problems:
        text = _STATUS_TEXT.get(status, "Error")
        if status == 415:
            text = "Not " + " or ".join(content)
        responses[str(status)] = {"description": text, "content": {
            MEDIA_TYPE: {"schema": {"$ref": REF.format(model=Problem.__name__)}}}}
    described["responses"] = responses
    return described


_STATUS_TEXT = {200: "OK", 201: "Created", 400: "Malformed JSON or multipart body",
                401: "Missing, wrong, revoked or expired token", 403: "The token lacks the scope", 404: "Not found",
                409: "Conflicts with the current state", 413: "Body too large", 422: "The body does not meet the schema",
                429: "Rate limit; see Retry-After", 503: "The organisation cannot receive reports yet"}
