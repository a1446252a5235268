"""Turning multipart uploads into domain Uploads, and attachments into download responses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, request, stream_with_context
from werkzeug.datastructures import FileStorage

from appliance.cases.attachments import Download, Upload
from webapp.unit_of_work import unit_of_work

RAW_FILENAME = re.compile(r';\s*filename\s*=\s*"([^"]*)"', re.IGNORECASE)


def uploads_from(field: str) -> list[Upload]:
    """Files the browser actually sent (an empty file input sends an empty part)."""
    return [Upload(sent_filename(f), f.mimetype or "", f.stream)  # type: ignore[arg-type]
            for f in request.files.getlist(field) if f.filename]


def sent_filename(upload: FileStorage) -> str:
    """The file name as the browser sent it. Werkzeug reads backslashes in the header as escapes,
    so a Windows path ``C:\\Users\\victim\\x.pdf`` would become ``C:Usersvictimx.pdf`` and keep
    the user's name; browsers send backslashes as they are (and a quote as %22), so read the raw
    header and let clean_filename keep only the base name."""
    raw = RAW_FILENAME.search(upload.headers.get("Content-Disposition", ""))
    if raw is not None and "\\" in raw.group(1):
        return raw.group(1).replace("%22", '"')
    return upload.filename or "attachment"


def download_response(download: Download) -> Response:
    """Stream plaintext chunks; always as an attachment, never rendered inline."""
    unit = unit_of_work()

    def body() -> Iterator[bytes]:
        # The request's unit of work was settled before the body streams; what is left are the
        # reads of each chunk, ended between chunks so no lock is held while sending.
        for piece in download.chunks:
            unit.commit_now()
            yield piece

    ascii_name = download.info.filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    response = Response(stream_with_context(body()), mimetype=download.info.content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(download.info.filename)}')
    response.headers["Content-Length"] = str(download.info.size_bytes)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
