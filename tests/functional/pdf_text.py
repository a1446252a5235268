"""Reading a PDF back as text with poppler's pdftotext (./scripts/test installs poppler-utils)."""

from __future__ import annotations

import shutil
import subprocess


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page in the order it was drawn (-raw: a table cell's lines stay together)."""
    assert shutil.which("pdftotext"), "pdftotext is missing: apt-get install poppler-utils"
    done = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True)
    pages = done.stdout.decode("utf-8").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdf_text(pdf: bytes) -> str:
    return "\n".join(pdf_pages(pdf))


def squeezed(text: str) -> str:
    """Without whitespace: a value wrapped over lines or table cells reads as one."""
    return "".join(text.split())
