"""The Content-Type an attachment is served with: never one a browser would run."""

from __future__ import annotations

import pytest

from appliance.cases.metadata_removal import supports
from appliance.cases.reporter_notices import check_address
from appliance.cases.served_types import OCTET_STREAM, served_type
from appliance.errors import InvalidInput

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


@pytest.mark.parametrize(("name", "declared", "head"), [
    ("page.html", "text/plain", b"hello"),  # by name
    ("image.svg", "image/png", JPEG),
    ("script.js", "text/plain", b"var a = 1;"),
    ("module.MJS", "text/plain", b"export {}"),
    ("feed.xml", "text/plain", b"plain"),
    ("page.xhtml", "application/octet-stream", b""),
    ("notes.txt", "text/html", b"hello"),  # by declared type
    ("notes.txt", "image/svg+xml", b"hello"),
    ("notes.txt", "application/xhtml+xml; charset=utf-8", b"hello"),
    ("notes.txt", "text/plain", b"<!DOCTYPE html><p>hi"),  # by content
    ("photo.jpg", "image/jpeg", b"  \n<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
    ("report.pdf", "application/pdf", b"<?xml version='1.0'?><svg/>"),
    ("notes.txt", "text/plain", b"\xef\xbb\xbf<html><script>alert(1)</script>"),
    ("notes.txt", "text/plain", "<html><script>alert(1)</script>".encode("utf-16")),
    ("notes.txt", "text/plain", b"Dear all, <script>alert(1)</script>"),
    ("readme", "text/plain", b"<iframe src=x>"),
])
def test_active_files_are_served_as_octet_stream(name: str, declared: str, head: bytes) -> None:
    assert served_type(name, declared, head) == OCTET_STREAM


@pytest.mark.parametrize(("name", "declared", "head", "expected"), [
    ("report.pdf", "application/pdf", PDF, "application/pdf"),
    ("photo.jpg", "image/jpeg", JPEG, "image/jpeg"),
    ("notes.txt", "text/plain", b"a < b and c > d", "text/plain"),
    ("data.csv", "text/csv", b"a,b\n1,2", "text/csv"),
    ("empty.txt", "", b"", OCTET_STREAM),
])
def test_inert_files_keep_their_type(name: str, declared: str, head: bytes, expected: str) -> None:
    assert served_type(name, declared, head) == expected


@pytest.mark.parametrize(("name", "supported"), [
    ("photo.JPG", True), ("scan.pdf", True), ("minutes.docx", True), ("sheet.ods", True), ("voice.mp3", True),
    ("page.html", False), ("image.svg", False), ("archive.zip", False), ("noext", False), (".pdf", False),
])
def test_metadata_removal_is_offered_for_known_formats_only(name: str, supported: bool) -> None:
    assert supports(name) is supported


@pytest.mark.parametrize("address", ["a@b.se", "first.last+tag@mail.example.org", "  spaced@example.com  "])
def test_notification_addresses_accepted(address: str) -> None:
    assert check_address(address) == address.strip()


@pytest.mark.parametrize("address", [
    "<script>alert(1)</script>@x.se", "a@b", "a b@c.se", "a@b.se\r\nBcc: x@y.se", "a@b.se\nx", "x" * 65 + "@b.se",
    "a@" + "b" * 250 + ".se", "\"quoted\"@b.se", "a@-b.se", "a@b.se>", "@b.se",
])
def test_notification_addresses_refused(address: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_address(address)
    assert raised.value.field == "notify"
    assert address not in str(raised.value)
