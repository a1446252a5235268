"""What a PDF holds: a document of titled sections (paragraphs, label/value pairs, tables), and
the fonts it is set in. Drawn by ``pdf_drawing``; see ``pdf`` for the renderer's contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

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
