"""Mail texts in the recipient's language, from the same Babel catalogs as the web pages
(webapp/translations/<lang>/LC_MESSAGES/messages.mo), read without Flask.

Texts are marked with ``N_`` where they are defined (pybabel extracts them like the web's) and
translated with ``translate`` when a mail is written. An unknown language, or a catalog not
compiled yet, gives the English msgid: a mail always goes, at worst in English.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

from babel.support import Translations

CATALOGS = Path(__file__).resolve().parents[2] / "webapp" / "translations"


def N_(text: str) -> str:
    """Marks ``text`` for extraction; ``translate`` translates it when a mail is written."""
    return text


@lru_cache(maxsize=8)
def _catalog(language: str) -> gettext.NullTranslations:
    return Translations.load(str(CATALOGS), [language], domain="messages")


def translate(text: str, language: str, **values: object) -> str:
    """``text`` in ``language``, its ``%(name)s`` placeholders filled with ``values``."""
    translated = _catalog(language).gettext(text)
    return translated % values if values else translated
