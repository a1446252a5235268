"""Drawing a ``pdf.Document`` with fpdf2 (imported by ``pdf.render_pdf`` at the first document)."""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace, TTFFont

from appliance.documents.document import (
    BOLD,
    FAMILY,
    FONTS,
    LINE,
    MARGIN,
    REGULAR,
    REPLACEMENT,
    Document,
    Fields,
    Paragraph,
    Section,
    Table,
)


def render(document: Document, created_at: dt.datetime) -> bytes:
    """The document as PDF bytes (A4 in the document's orientation, wrapped text, the footer and
    page x of y on every page)."""
    pdf = _Pdf(document)
    pdf.set_creation_date(created_at)
    pdf.set_title(clean(document.title))
    pdf.set_creator("appliance")
    pdf.set_lang(document.language)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_margins(MARGIN, MARGIN)
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 8, clean(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.subtitle:
        pdf.set_font(FAMILY, "", 10)
        pdf.multi_cell(0, LINE, clean(document.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.metadata:
        pdf.ln(3)
        _fields(pdf, Fields(document.metadata), document.empty)
    for section in document.sections:
        _section(pdf, section, document.empty)
    return bytes(pdf.output())


def clean(value: str) -> str:
    """Text the font can draw: control characters go (tabs become spaces), a character without
    a glyph in DejaVu Sans becomes U+FFFD."""
    glyphs = _glyphs()
    out = []
    for char in unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\t", "    ")):
        if char == "\n":
            out.append(char)
        elif unicodedata.category(char)[0] == "C":
            continue
        else:
            out.append(char if ord(char) in glyphs or char == " " else REPLACEMENT)
    return "".join(out)


@cache
def _glyphs() -> frozenset[int]:
    """The characters both faces can draw (read once per process)."""
    pdf = _Pdf(Document(""))
    faces = [font for font in pdf.fonts.values() if isinstance(font, TTFFont)]
    glyphs = frozenset.intersection(*(frozenset(face.cmap) for face in faces))
    for face in faces:
        face.close()  # output() would close them; this document is never output
    return glyphs


def _section(pdf: FPDF, section: Section, empty: str) -> None:
    if section.new_page:
        pdf.add_page()
    else:
        pdf.ln(4)
    pdf.set_font(FAMILY, "B", 12)
    pdf.multi_cell(0, 7, clean(section.heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for label, value in section.rows:
        _paragraph(pdf, Paragraph(value, label), empty)
    for block in section.blocks:
        if isinstance(block, Paragraph):
            _paragraph(pdf, block, empty)
        elif isinstance(block, Table):
            _table(pdf, block, empty)
        else:
            _fields(pdf, block, empty)


def _paragraph(pdf: FPDF, paragraph: Paragraph, empty: str) -> None:
    if paragraph.label:
        pdf.set_font(FAMILY, "B", 9)
        pdf.multi_cell(0, LINE, clean(paragraph.label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 8 if paragraph.muted else 10)
    pdf.multi_cell(0, LINE, clean(paragraph.text) or empty, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _table(pdf: FPDF, table: Table, empty: str) -> None:
    pdf.set_font(FAMILY, "", table.size)
    widths = tuple(table.widths) or (1.0,) * len(table.headings)
    line = LINE * table.size / 9
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=line, padding=1, repeat_headings=1,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
                   borders_layout=TableBordersLayout.HORIZONTAL_LINES) as out:
        heading = out.row()
        for text in table.headings:
            heading.cell(clean(text))
        for values in table.rows:
            row = out.row()
            for value in values:
                row.cell(clean(value) or empty)
    pdf.ln(2)


def _fields(pdf: FPDF, fields: Fields, empty: str) -> None:
    pdf.set_font(FAMILY, "", 9)
    with pdf.table(col_widths=(1, 2), text_align="LEFT", line_height=LINE, padding=1, first_row_as_headings=False,
                   borders_layout=TableBordersLayout.HORIZONTAL_LINES) as out:
        for label, value in fields.rows:
            row = out.row()
            row.cell(clean(label), style=FontFace(emphasis="BOLD"))
            row.cell(clean(value) or empty)
    pdf.ln(2)


class _Pdf(FPDF):
    def __init__(self, document: Document) -> None:
        super().__init__(orientation="L" if document.orientation == "landscape" else "P", format="A4")
        self._footer_text = document.footer
        self._page_label = document.page_label
        # An alias no text can contain: fpdf2 replaces it everywhere once the page count is known.
        self._pages = "{pages" + secrets.token_hex(4) + "}"
        self.alias_nb_pages(self._pages)
        for style, name in (("", REGULAR), ("B", BOLD)):
            with resources.as_file(FONTS / name) as path:
                self.add_font(FAMILY, style, Path(path))

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        pages = self._page_label.format(page=self.page_no(), pages=self._pages)
        self.cell(0, 6, f"{clean(self._footer_text)}  ·  {pages}" if self._footer_text else pages, align="C")
