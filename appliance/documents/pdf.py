"""The appliance's one PDF renderer (fpdf2): a title, a metadata table, headed sections of
paragraphs, label/value pairs and tables with wrapping cells, and a footer on every page
("<footer text> · Page x of y"). Portrait A4, or landscape for wide tables (the insider lists);
a section may start on a new page.

Pure rendering: no database, no keys, no files written; the PDF is built in memory and
returned as bytes. The caller decides what goes in (already translated) and logs the export.

Text is set in DejaVu Sans (regular and bold, version 2.37 from Debian's fonts-dejavu-core),
shipped with the package in ``fonts/`` with its licence, so the output never depends on the
host's fonts. fpdf2 embeds only the glyphs used (a subset), so files stay small. A character
the font lacks is drawn as U+FFFD: fpdf2 would otherwise log the missing characters, and a
log line must never carry content.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace, TTFFont

FAMILY = "dejavu"
FONTS = resources.files("appliance.documents") / "fonts"
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
REPLACEMENT = "\ufffd"
MARGIN = 15
LINE = 5


@dataclass(frozen=True)
class Paragraph:
    """Running text; ``label`` (optional) is set in bold above it. Long texts belong here, not in
    a table: a paragraph flows across pages, a table row does not."""

    text: str
    label: str = ""
    muted: bool = False


@dataclass(frozen=True)
class Table:
    """A table with a heading row (repeated on every page it spans) and cells that wrap.
    ``widths`` are relative column widths (equal when empty); ``size`` is the font size in points
    (smaller for a table of many columns)."""

    headings: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[float] = ()
    size: float = 9


@dataclass(frozen=True)
class Fields:
    """Label/value pairs as a two-column table without a heading row."""

    rows: Sequence[tuple[str, str]]


Block = Paragraph | Table | Fields


@dataclass(frozen=True)
class Section:
    """A heading and what follows it. ``rows`` are label/value pairs set one under the other
    (for long values); ``blocks`` come after them. ``new_page``: the section starts on a page of
    its own (one insider-list section per page, as an authority reads them)."""

    heading: str
    rows: Sequence[tuple[str, str]] = ()
    blocks: Sequence[Block] = ()
    new_page: bool = False


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str = ""
    metadata: Sequence[tuple[str, str]] = ()
    sections: Sequence[Section] = field(default_factory=tuple)
    footer: str = ""
    # The page counter in the document's language; {page} and {pages} are filled in.
    page_label: str = "Page {page} of {pages}"
    language: str = "en"
    empty: str = "-"  # what an empty value shows
    orientation: Literal["portrait", "landscape"] = "portrait"


def render_pdf(document: Document, created_at: dt.datetime) -> bytes:
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
