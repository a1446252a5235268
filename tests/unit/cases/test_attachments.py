"""Attachment names, types and size budgets (the storage itself is tested functionally)."""

from __future__ import annotations

import pytest

from appliance.cases.attachments import (
    MAX_FILENAME,
    SAFE_TYPES,
    clean_content_type,
    clean_filename,
    remaining_budget,
)
from appliance.errors import TooLarge


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\anna\\Desktop\\proof.xlsx", "proof.xlsx"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("dir/", "attachment"),
        ("", "attachment"),
        ("..", "attachment"),
        ("...", "attachment"),
        ("   ", "attachment"),
        ("\x00\x01\x1f", "attachment"),
        (" .hidden. ", "hidden"),
        ("report\x00.pdf", "report.pdf"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("Protokoll für Märta.docx", "Protokoll für Märta.docx"),
    ],
)
def test_clean_filename(given: str, expected: str) -> None:
    assert clean_filename(given) == expected


def test_attack_right_to_left_override_is_removed() -> None:
    """U+202E makes "invoice\u202Efdp.exe" display as "invoiceexe.pdf"."""
    assert clean_filename("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert clean_filename("a\u200bb\ufeffc.txt") == "abc.txt"


def test_filename_is_nfc_normalised() -> None:
    decomposed = "Ma\u0308rta.txt"
    assert clean_filename(decomposed) == "M\u00e4rta.txt"


def test_long_filename_is_cut_in_its_stem_keeping_the_extension() -> None:
    cleaned = clean_filename("a" * 1000 + ".pdf")
    assert len(cleaned) == MAX_FILENAME and cleaned.endswith("a.pdf")
    assert clean_filename("Bericht " * 40 + "Q3.final.xlsx").endswith(".xlsx")
    assert len(clean_filename("b" * 1000)) == MAX_FILENAME  # no extension: simply cut
    # A "name" that is one long extension is cut like a name, not kept whole.
    assert len(clean_filename("x." + "y" * 1000)) == MAX_FILENAME


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("C:\\Users\\victim\\Documents\\Whistle\\evidence.pdf", "evidence.pdf"),
        ("\\\\fileserver\\home$\\victim\\scan.png", "scan.png"),
        ("C:evidence.pdf", "evidence.pdf"),
        ("D:", "attachment"),
        ("/home/victim/Desktop/notes.txt", "notes.txt"),
        ("C:\\Users\\victim\\" + "v" * 300 + ".docx", "v" * (MAX_FILENAME - 5) + ".docx"),
    ],
)
def test_paths_keep_only_the_base_name(given: str, expected: str) -> None:
    """A full path (old browsers, some upload tools) would name the reporter's account."""
    cleaned = clean_filename(given)
    assert cleaned == expected
    assert "victim" not in cleaned and "Users" not in cleaned


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("application/pdf", "application/pdf"),
        ("IMAGE/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("  text/csv ;charset=latin1", "text/csv"),
        ("text/html", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("text/html; x=application/pdf", "application/octet-stream"),
        ("", "application/octet-stream"),
        ("garbage", "application/octet-stream"),
    ],
)
def test_clean_content_type(given: str, expected: str) -> None:
    assert clean_content_type(given) == expected


def test_no_type_a_browser_would_run_is_safe() -> None:
    for risky in ("text/html", "image/svg+xml", "application/xml", "text/xml", "text/javascript",
                  "application/x-shockwave-flash"):
        assert risky not in SAFE_TYPES


@pytest.mark.parametrize(
    ("used", "per_report", "per_file", "expected"),
    [
        (0, 200, 50, 50),
        (100, 200, 50, 50),
        (150, 200, 50, 50),
        (170, 200, 50, 30),
        (199, 200, 50, 1),
        (0, 40, 50, 40),
    ],
)
def test_remaining_budget(used: int, per_report: int, per_file: int, expected: int) -> None:
    assert remaining_budget(used, per_report, per_file) == expected


@pytest.mark.parametrize("used", [200, 201, 10_000])
def test_no_budget_left_is_too_large(used: int) -> None:
    with pytest.raises(TooLarge) as caught:
        remaining_budget(used, 200, 50)
    assert caught.value.limit_bytes == 200
