"""Turning multipart uploads into domain Uploads, and attachments into download responses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, request, stream_with_context
from werkzeug.datastructures import FileStorage

from appliance.cases.attachments import Download, Upload
from appliance.cases.served_types import SNIFF_BYTES, served_type
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
    """Stream plaintext chunks; always as an attachment, never rendered inline.

    The Content-Type is decided by the name, the stored type and the first bytes: anything a
    browser could run (HTML, SVG, XML, script) goes out as application/octet-stream, with
    ``nosniff`` and a sandboxing CSP, so even a browser that ignored the disposition would not."""
    unit = unit_of_work()
    chunks = iter(download.chunks)
    head = b""
    while len(head) < SNIFF_BYTES:  # the first chunk is normally enough; the sniff needs no more
        piece = next(chunks, None)
        if piece is None:
            break
        head += piece
    info = download.info

    def body() -> Iterator[bytes]:
        # The request's unit of work was settled before the body streams; what is left are the
        # reads of each chunk, ended between chunks so no lock is held while sending.
        if head:
            yield head
        for piece in chunks:
            unit.commit_now()
            yield piece

    response = Response(stream_with_context(body()), mimetype=served_type(info.filename, info.content_type, head))
    response.headers["Content-Disposition"] = content_disposition(info.filename)
    response.headers["Content-Length"] = str(info.size_bytes)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def content_disposition(filename: str) -> str:
    """RFC 6266: ``attachment`` with an ASCII fallback name and the exact one as RFC 8187 ``filename*``."""
    fallback = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\%;' else "_" for ch in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
