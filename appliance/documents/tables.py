"""Tables as PDF (fpdf2), for any part of the appliance that hands a table to an authority (insider

``TableDocument`` takes plain strings: one or more tables, each with a title, heading lines and
rows under a header. It knows nothing of the domain. Text is set in DejaVu Sans when the host
has it (every script a name may be written in); otherwise in the PDF core font, where a
character outside Latin-1 becomes "?" (the document still opens, and the CSV/XLSX exports keep
the exact text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FONT_FILE = "DejaVuSans.ttf"
BOLD_FILE = "DejaVuSans-Bold.ttf"


@dataclass(frozen=True)
class Table:
    title: str
    heading: Sequence[tuple[str, str]]  # (label, value) lines above the table
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


def render_tables(tables: Sequence[Table], author: str = "appliance") -> bytes:
    """A landscape A4 PDF with one table after another, each starting on a new page."""
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_author(author)
    family, unicode = _font(pdf)
    pdf.set_auto_page_break(auto=True, margin=12)
    for table in tables:
        pdf.add_page()
        pdf.set_font(family, style="B", size=11)
        pdf.multi_cell(0, 6, _fit(table.title, unicode), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        for label, value in table.heading:
            pdf.multi_cell(0, 4.5, _fit(f"{label}: {value}", unicode), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font(family, size=6)
        with pdf.table(headings_style=FontFace(emphasis="BOLD"), line_height=3.2, text_align="LEFT") as grid:
            head = grid.row()
            for text in table.header:
                head.cell(_fit(text, unicode))
            for values in table.rows:
                row = grid.row()
                for text in values:
                    row.cell(_fit(text, unicode))
    return bytes(pdf.output())


def _font(pdf: FPDF) -> tuple[str, bool]:
    for folder in FONT_DIRS:
        regular, bold = folder / FONT_FILE, folder / BOLD_FILE
        if regular.is_file() and bold.is_file():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu", True
    return "Helvetica", False


def _fit(text: str, unicode: bool) -> str:
    return text if unicode else text.encode("latin-1", "replace").decode("latin-1")
