"""The one PDF renderer (appliance/documents/pdf.py): Unicode text from the bundled font, the
blocks every export uses, and a footer with page x of y on every page. No database."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import subprocess

import pytest

from appliance.documents import pdf as renderer
from appliance.documents.pdf import Document, Fields, Paragraph, Section, Table, render_pdf
from tests.functional.pdf_text import pdf_pages, pdf_text, squeezed

MOMENT = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
NORDIC = "Åsa Öberg, Jürgen Groß und Ängelholms Fähre: å ä ö Å Ä Ö ß ü é"


def document(*sections: Section, **fields: object) -> Document:
    return Document(title=fields.pop("title", "Fallakt Ärende ÅÄÖ-17"), sections=sections,  # type: ignore[arg-type]
                    **fields)  # type: ignore[arg-type]


def test_swedish_and_german_text_renders_and_extracts() -> None:
    pdf = render_pdf(document(
        Section("Rapporten", blocks=[Paragraph(NORDIC, label="Vad hände?")]),
        Section("Bilagor", blocks=[Table(["Fil", "Storlek"], [["Lönelista-Åsa.pdf", "12 kB"]])]),
        subtitle="Exporterad för Åsa", metadata=[("Kategori", "Mutor och bestickning"), ("Namn", NORDIC)],
        footer="Exporterad av åsa@example.com"), MOMENT)
    text = pdf_text(pdf)
    assert text.count(NORDIC) == 2
    for expected in ("Fallakt Ärende ÅÄÖ-17", "Exporterad för Åsa", "Vad hände?", "Lönelista-Åsa.pdf",
                     "Mutor och bestickning", "Exporterad av åsa@example.com"):
        assert expected in text
    assert "?" not in text.replace("Vad hände?", "")


def test_the_font_is_the_bundled_one_subset_embedded_and_no_host_font_is_used() -> None:
    pdf = render_pdf(document(Section("Å", blocks=[Paragraph(NORDIC)])), MOMENT)
    names = set(re.findall(rb"/BaseFont\s*/([A-Za-z0-9+\-]+)", pdf))
    assert names and all(re.fullmatch(rb"[A-Z]{6}\+DejaVuSans(Book|Bold)", name) for name in names), names
    assert b"/FontFile2" in pdf  # embedded TrueType, not a reference to a font on the reader's host
    assert b"Helvetica" not in pdf
    assert len(pdf) < 60_000  # a subset: the full regular and bold faces alone are 1.4 MB
    assert renderer.FONTS.joinpath(renderer.REGULAR).is_file()
    assert renderer.FONTS.joinpath("LICENSE").read_text().count("Bitstream") > 1


def test_every_page_has_the_footer_with_page_x_of_y() -> None:
    long_text = " ".join(f"Stycke {n} om Öresund." for n in range(1500))
    pdf = render_pdf(document(Section("Lång text", blocks=[Paragraph(long_text)]),
                              footer="Exporterad av handläggare", page_label="Sida {page} av {pages}"), MOMENT)
    pages = pdf_pages(pdf)
    assert len(pages) > 2
    for number, page in enumerate(pages, start=1):
        assert page.rstrip().endswith(f"Exporterad av handläggare · Sida {number} av {len(pages)}")
    body = "".join(page.rstrip().rsplit("\n", 1)[0] for page in pages)
    assert squeezed(body).endswith(squeezed(long_text))


def test_tables_wrap_long_cells_and_repeat_their_heading_on_each_page() -> None:
    name = "ett-mycket-långt-filnamn-" * 8 + ".pdf"
    rows = [[f"{n}-{name}", "1,2 MB", "ab12 " * 16] for n in range(60)]
    pdf = render_pdf(document(Section("Bilagor", blocks=[Table(["Fil", "Storlek", "SHA-256"], rows, (3, 1, 3))])),
                     MOMENT)
    pages = pdf_pages(pdf)
    assert len(pages) > 1
    assert all("SHA-256" in page for page in pages)
    text = squeezed(pdf_text(pdf))
    assert all(squeezed(f"{n}-{name}") in text for n in range(60))


def test_fields_and_label_value_rows_show_a_dash_for_empty_values() -> None:
    pdf = render_pdf(document(Section("Uppgifter", rows=[("Tom", "")], blocks=[Fields([("Också tom", ""),
                                                                                     ("Ifylld", "ja")])])), MOMENT)
    assert "Uppgifter\nTom\n-\nOckså tom -\nIfylld ja\n" in pdf_text(pdf)


def test_text_is_drawn_literally_and_unknown_characters_leave_no_trace_in_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tricky = "{nb} {pages} **fett** <b>html</b> %PDF ) ( \\ tab\there nul\x00 end 🦊 漢字"
    pdf = render_pdf(document(Section("Text", blocks=[Paragraph(tricky)]), footer="{nb}"), MOMENT)
    text = pdf_text(pdf)
    assert "{nb} {pages} **fett** <b>html</b> %PDF ) ( \\ tab here nul end" in text
    assert text.rstrip().endswith("{nb} · Page 1 of 1")
    assert "\ufffd \ufffd\ufffd" in text  # drawn as the replacement character, not dropped silently
    assert "🦊" not in caplog.text and "漢" not in caplog.text and "missing" not in caplog.text


def test_the_document_metadata_names_the_title_language_and_creation_time() -> None:
    pdf = render_pdf(document(Section("S"), title="Ärende 7", language="sv"), MOMENT)
    assert shutil.which("pdfinfo")
    info = subprocess.run(["pdfinfo", "-isodates", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert re.search(r"^Title:\s+Ärende 7$", info, re.M)
    assert re.search(r"^Creator:\s+appliance$", info, re.M)
    assert re.search(r"^CreationDate:\s+2026-03-01T09:30:00", info, re.M)
    assert b"/Lang (sv)" in pdf
