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

The drawing itself (fpdf2, about a third of a second to import) is in ``pdf_drawing`` and loaded
at the first document, so the command line and the web app start without it.
"""

from __future__ import annotations

import datetime as dt

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

__all__ = ["BOLD", "FAMILY", "FONTS", "LINE", "MARGIN", "REGULAR", "REPLACEMENT", "Document", "Fields", "Paragraph",
           "Section", "Table", "clean", "render_pdf"]


def render_pdf(document: Document, created_at: dt.datetime) -> bytes:
    """The document as PDF bytes (A4 in the document's orientation, wrapped text, the footer and
    page x of y on every page)."""
    from appliance.documents import pdf_drawing

    return pdf_drawing.render(document, created_at)


def clean(value: str) -> str:
    """Text the font can draw: control characters go (tabs become spaces), a character without
    a glyph in DejaVu Sans becomes U+FFFD."""
    from appliance.documents import pdf_drawing

    return pdf_drawing.clean(value)
