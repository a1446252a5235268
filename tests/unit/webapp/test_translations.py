"""The message catalogs: sv and de translate every user-visible string, en exists.

Unit level: extracts the messages from the sources in-process (same mapping as
``pybabel extract -F babel.cfg -k lazy_gettext -k _l``) and reads the .po files; rendering
in each language is covered by the functional and browser suites.
"""

from __future__ import annotations

import gettext
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from appliance.settings import LANGUAGES

ROOT = Path(__file__).resolve().parents[3]
TRANSLATIONS = ROOT / "webapp" / "translations"
TRANSLATED = ("sv", "de")  # every message must be translated
FALLBACK = "en"  # msgids are English: empty msgstr falls back to them
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
SOURCE_ROOTS = ("appliance", "webapp")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]")

Key = tuple[str, str | None]  # (msgid, msgctxt)


def source_messages() -> dict[Key, str | tuple[str, ...]]:
    """Every msgid the sources use right now, keyed like the catalog."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")

    def descend(path: str) -> bool:
        rel = Path(os.path.relpath(path, ROOT)).parts
        return not rel or (rel[0] in SOURCE_ROOTS and not any(p.startswith((".", "_")) for p in rel))

    found: dict[Key, str | tuple[str, ...]] = {}
    for _filename, _lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=descend):
        singular = message[0] if isinstance(message, tuple) else message
        if singular:
            found[(singular, context)] = message
    return found


SOURCE = source_messages()


def load(lang: str) -> Catalog:
    path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as f:
        return read_po(f, locale=lang)


def entries(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def key(message: Message) -> Key:
    singular = message.id[0] if isinstance(message.id, tuple) else message.id
    return (singular, message.context)


def forms(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_extraction_finds_the_sources() -> None:
    # Python (_, lazy_gettext/_l, ngettext) and templates both under webapp/templates and
    # webapp/<blueprint>/templates: a broken babel.cfg would silently shrink this set.
    assert len(SOURCE) > 100
    texts = set(SOURCE)
    assert ("Skip to content", None) in texts  # webapp/templates/base.html
    assert ("Work queue", None) in texts  # webapp/handler/templates/
    assert ("Your case key", None) in texts  # lazy_gettext in webapp/reporter/forms.py
    assert ("Not found", None) in texts  # gettext in webapp/errors.py
    assert any(isinstance(m, tuple) for m in SOURCE.values()), "no ngettext plural found"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_configured_language_has_a_catalog(lang: str) -> None:
    assert (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").is_file()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_language_switcher_offers_every_language(lang: str) -> None:
    base = (ROOT / "webapp" / "templates" / "base.html").read_text(encoding="utf-8")
    assert re.search(rf"""\(\s*["']{lang}["']\s*,""", base), f"base.html language switcher lacks {lang}"


@pytest.mark.parametrize("lang", (*TRANSLATED, FALLBACK))
def test_catalog_covers_every_source_message(lang: str) -> None:
    catalog = load(lang)
    present = {key(m): m for m in entries(catalog)}
    missing = sorted(k[0] for k in SOURCE.keys() - present.keys())
    assert not missing, f"{lang}: run pybabel extract + update; missing: {missing}"
    for k, source in SOURCE.items():
        assert present[k].pluralizable == isinstance(source, tuple), f"{lang}: plural mismatch for {k[0]!r}"
        if isinstance(source, tuple):
            assert tuple(present[k].id) == source[:2], f"{lang}: plural msgid differs for {k[0]!r}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated_and_not_fuzzy(lang: str) -> None:
    catalog = load(lang)
    assert not catalog.fuzzy, f"{lang}: the catalog header is marked fuzzy"
    untranslated, fuzzy = [], []
    for m in entries(catalog):
        strings = forms(m.string)
        if m.pluralizable and len(strings) != catalog.num_plurals:
            untranslated.append(m.id)
        if not all(s.strip() for s in strings):
            untranslated.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
    assert not untranslated, f"{lang}: untranslated: {untranslated}"
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy}"


@pytest.mark.parametrize("lang", (*TRANSLATED, FALLBACK))
def test_placeholders_match_the_msgid(lang: str) -> None:
    catalog = load(lang)
    wrong = []
    for m in entries(catalog):
        expected = set().union(*(placeholders(i) for i in forms(m.id)))
        for s in forms(m.string):
            if not s:
                continue  # fallback to the msgid (en)
            if placeholders(s) != expected:
                wrong.append((m.id, s))
                continue
            # Jinja's new-style gettext %-formats every string, with or without variables.
            try:
                s % dict.fromkeys(expected, 1)
            except (ValueError, TypeError, KeyError) as exc:
                wrong.append((m.id, f"{s} ({exc})"))
    assert not wrong, f"{lang}: placeholders differ: {wrong}"
    assert not [errors for _m, errors in catalog.check()], f"{lang}: babel's checkers report errors"


@pytest.mark.parametrize(("lang", "one", "two"), [
    ("sv", "1 ärende", "2 ärenden"),
    ("de", "1 Fall", "2 Fälle"),
    ("en", "1 case", "2 cases"),
])
def test_compiled_catalog_chooses_plural_forms(lang: str, one: str, two: str) -> None:
    buffer = io.BytesIO()
    write_mo(buffer, load(lang))
    buffer.seek(0)
    translations = gettext.GNUTranslations(buffer)
    assert translations.ngettext("%(num)d case", "%(num)d cases", 1) % {"num": 1} == one
    assert translations.ngettext("%(num)d case", "%(num)d cases", 2) % {"num": 2} == two
