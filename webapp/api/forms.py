"""multipart/form-data bodies for the API, validated by a ``Form`` model (webapp/api/schemas.py).

Fields typed ``list[FilePart]`` take the parts sent as files (each waits in the encrypted spool,
webapp/security.py, until the domain encrypts it into the database); every other field is one
part holding JSON. The whole body is limited by the upload limit (``MAX_CONTENT_LENGTH``: 413),
each JSON part by ``api_max_body_bytes``. Problems name fields and rules, never what was sent.
"""

from __future__ import annotations

import json
import typing
from typing import Any, TypeVar

from flask import request
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from werkzeug.datastructures import FileStorage, MultiDict

from appliance.cases.attachments import Upload
from appliance.errors import TooLarge
from webapp.api.problems import INVALID, MALFORMED, MEDIA, BodyRefused, field_errors, problem
from webapp.api.schemas import Form
from webapp.requestctx import app_context
from webapp.uploads import sent_filename

MEDIA_TYPE = "multipart/form-data"
F = TypeVar("F", bound=Form)


def is_files(field: FieldInfo) -> bool:
    """Whether a Form field takes file parts (``list[FilePart]``)."""
    if typing.get_origin(field.annotation) is not list:
        return False
    (item,) = typing.get_args(field.annotation)
    return (typing.get_args(item)[:1] or (item,))[0] is FileStorage


def parsed_form(model: type[F]) -> F:
    """The request's multipart body validated by ``model``; BodyRefused otherwise: 415 for another
    media type, 400 for a malformed body or a JSON part that is not JSON, 422 for what the model
    refuses. Nothing is stored by reading it: files wait in the encrypted spool."""
    if request.mimetype != MEDIA_TYPE:
        raise BodyRefused(problem(MEDIA, f"send {MEDIA_TYPE}"))
    form, files = _strict_parts()
    limit = app_context().settings.api_max_body_bytes
    data: dict[str, Any] = {}
    for name in sorted((set(form) | set(files)) - set(model.model_fields)):
        data[name] = None  # refused by the model as an unknown field
    for name, field in model.model_fields.items():
        if is_files(field):
            if name in form:
                raise BodyRefused(problem(INVALID, errors=[
                    {"field": name, "message": "send each file as a file part, with a filename"}]))
            if name in files:
                data[name] = files.getlist(name)
            continue
        parts: list[str | bytes] = [*form.getlist(name), *(f.stream.read(limit + 1) for f in files.getlist(name))]
        if not parts:
            continue  # the model says whether it is required
        if len(parts) > 1:
            raise BodyRefused(problem(INVALID, errors=[{"field": name, "message": "send one part"}]))
        if len(parts[0]) > limit:
            raise TooLarge(limit)
        try:
            data[name] = json.loads(parts[0], parse_constant=_no_constant)
        except ValueError:
            raise BodyRefused(problem(MALFORMED, f"the part {name} is not JSON")) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BodyRefused(problem(INVALID, errors=field_errors(exc))) from None


def uploads(parts: list[FileStorage]) -> list[Upload]:
    """The domain's view of the file parts: name as sent, declared type, the spooled stream."""
    return [Upload(sent_filename(f), f.mimetype or "", f.stream) for f in parts]  # type: ignore[arg-type]


def _strict_parts() -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """request.form and request.files, but a malformed body is a 400 rather than an empty form."""
    if "form" not in request.__dict__:
        parser = request.make_form_data_parser()
        parser.silent = False
        try:
            stream, form, files = parser.parse(request.stream, request.mimetype, request.content_length,
                                               request.mimetype_params)
        except ValueError:
            raise BodyRefused(problem(MALFORMED, "the multipart body could not be read")) from None
        request.__dict__.update(stream=stream, form=form, files=files)
    return request.form, request.files


def _no_constant(value: str) -> object:
    raise ValueError(f"{value} is not JSON")
