"""Which Content-Type an attachment is served with: never one a browser would run.

Reporters and handlers upload whatever they have; the stored type is what the browser said,
already narrowed to well-known types (``clean_content_type``). On the way out the name and
the first bytes are checked as well: a page, an SVG, a script or any XML is served as
``application/octet-stream`` whatever it was declared as, so no browser renders it, even one
that ignores ``Content-Disposition: attachment`` or ``nosniff``.
"""

from __future__ import annotations

ACTIVE_EXTENSIONS = frozenset({
    "htm", "html", "shtml", "xhtml", "xht", "mht", "mhtml", "svg", "svgz", "xml", "xsl", "xslt", "js",
    "mjs", "cjs", "jsx", "ts", "wasm", "swf", "hta", "xbl", "rdf", "vtt", "css", "appcache", "manifest",
    "webmanifest", "php", "jsp", "asp", "aspx",
})
OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 1024
# What a browser's own sniffing (WHATWG MIME Sniffing, "text/html" and XML signatures) or an
# SVG/XML parser would take as a document, after leading white space and a byte order mark.
ACTIVE_PREFIXES = (
    b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<?xml", b"<xsl",
    b"<!--", b"<frameset", b"<object", b"<embed", b"<meta", b"<style", b"<a ", b"<img", b"<table", b"<div",
    b"<font", b"<title", b"<br", b"<p>", b"<p ", b"<h1", b"<b>", b"<b ",
)
ACTIVE_ANYWHERE = (b"<script", b"<svg", b"<html", b"<iframe", b"javascript:")
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def extension_of(filename: str) -> str:
    """The lower-case extension without the dot ('' when there is none)."""
    stem, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and stem else ""


def is_active(filename: str, content_type: str, head: bytes) -> bool:
    """Whether a browser could run this file: by its name, its declared type or its first bytes."""
    base = content_type.split(";", 1)[0].strip().lower()
    if extension_of(filename) in ACTIVE_EXTENSIONS:
        return True
    if "html" in base or "xml" in base or "javascript" in base or "ecmascript" in base or base.startswith("text/css"):
        return True
    return looks_active(head)


def looks_active(head: bytes) -> bool:
    """Content sniffing on the first bytes: markup at the start, or script anywhere in them.
    UTF-16 text is checked as well (a browser would decode it)."""
    sample = head[:SNIFF_BYTES]
    for bom in BOMS:
        if sample.startswith(bom):
            sample = sample[len(bom):]
            break
    if sample[:2] in (b"<\x00", b"\x00<") or b"<\x00s\x00" in sample or b"\x00<\x00s" in sample:
        sample = sample.replace(b"\x00", b"")
    lowered = sample.lstrip(b" \t\r\n\x0c").lower()
    return lowered.startswith(ACTIVE_PREFIXES) or any(marker in lowered for marker in ACTIVE_ANYWHERE)


def served_type(filename: str, content_type: str, head: bytes) -> str:
    """The Content-Type to send: the stored one, or octet-stream for anything a browser could run."""
    if is_active(filename, content_type, head):
        return OCTET_STREAM
    return content_type.split(";", 1)[0].strip().lower() or OCTET_STREAM
