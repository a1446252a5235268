"""A readable PDF of titled sections of label/value pairs (fpdf2). Pure rendering: no database,
no keys; the caller decides what goes in and logs the export.

A Unicode TrueType font (DejaVu Sans, from the fonts-dejavu-core package) is used when the host
has it; otherwise the PDF core font, with characters outside Latin-1 shown as "?".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_PLACES = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True)
class Section:
    heading: str
    rows: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str = ""
    sections: Sequence[Section] = field(default_factory=tuple)
    footer: str = ""


def render_pdf(document: Document, created_at: dt.datetime) -> bytes:
    """The document as PDF bytes (A4, wrapped text, page numbers in the footer)."""
    pdf = _Pdf(document.footer)
    pdf.set_creation_date(created_at)
    pdf.set_title(document.title)
    family = _font(pdf)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    text = _texter(family)
    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 8, text(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.subtitle:
        pdf.set_font(family, "", 10)
        pdf.multi_cell(0, 6, text(document.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for section in document.sections:
        pdf.ln(4)
        pdf.set_font(family, "B", 12)
        pdf.multi_cell(0, 7, text(section.heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for label, value in section.rows:
            pdf.set_font(family, "B", 9)
            pdf.multi_cell(0, 5, text(label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font(family, "", 10)
            pdf.multi_cell(0, 5, text(value or "-"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
    return bytes(pdf.output())


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.font_family or "helvetica", "", 8)
        label = f"{self._footer_text}  ·  {self.page_no()}" if self._footer_text else str(self.page_no())
        self.cell(0, 6, _texter(self.font_family)(label), align="C")


def _font(pdf: FPDF) -> str:
    for place in FONT_PLACES:
        regular, bold = place / "DejaVuSans.ttf", place / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdf.add_font("dejavu", "", str(regular))
            pdf.add_font("dejavu", "B", str(bold))
            return "dejavu"
    return "helvetica"


def _texter(family: str) -> _Text:
    return _Text(family == "dejavu")


class _Text:
    def __init__(self, unicode: bool) -> None:
        self._unicode = unicode

    def __call__(self, value: str) -> str:
        if self._unicode:
            return value
        return value.replace("·", "-").encode("latin-1", "replace").decode("latin-1")
