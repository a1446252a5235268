"""An organisation's logo as the portal serves it: PNG or JPEG only, small, and re-encoded.

What an administrator uploads is never served as it came. Its first bytes must be PNG's or
JPEG's signature (SVG, which can carry scripts, HTML, GIF and everything else are refused
whatever the file is called or claims to be), Pillow must decode the whole image, and the
portal gets a fresh encoding of the pixels alone: no EXIF or GPS, no ICC profile, no text
chunks, and nothing a polyglot hid before or after the image data.

The size is checked before the pixels are decoded (a small file can declare a huge image).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from appliance.errors import InvalidInput

MAX_LOGO_BYTES = 200 * 1024  # what may be uploaded
MAX_STORED_BYTES = 400 * 1024  # the re-encoded copy (a PNG can grow a little when written again)
MAX_SIDE = 1200
MIN_SIDE = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA"})


@dataclass(frozen=True)
class CleanLogo:
    data: bytes
    content_type: str  # image/png | image/jpeg
    width: int
    height: int


def signature_format(data: bytes) -> str | None:
    """PNG or JPEG by the file's first bytes (never by its name or declared type)."""
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(JPEG_SIGNATURE):
        return "JPEG"
    return None


def clean_logo(data: bytes) -> CleanLogo:
    """The logo re-encoded from its pixels, or InvalidInput("logo", reason) with a reason a page
    can name: ``too-large``, ``wrong-type``, ``unreadable``, ``dimensions``."""
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidInput("logo", "too-large")
    kind = signature_format(data)
    if kind is None:
        raise InvalidInput("logo", "wrong-type")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
                if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
                    raise InvalidInput("logo", "dimensions")
                image.load()
                cleaned = _reencode(image, kind)
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError):
        raise InvalidInput("logo", "unreadable") from None
    if len(cleaned) > MAX_STORED_BYTES:
        raise InvalidInput("logo", "too-large")
    return CleanLogo(cleaned, TYPES[kind], width, height)


def _reencode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "PNG":
        pixels = image if image.mode in _PNG_MODES else image.convert("RGBA")
        fresh = pixels.copy()
        transparency = fresh.info.get("transparency")
        fresh.info = {"transparency": transparency} if transparency is not None else {}
        fresh.save(out, format="PNG", optimize=True)
    else:
        fresh = (image if image.mode in ("L", "RGB") else image.convert("RGB")).copy()
        fresh.info = {}
        fresh.save(out, format="JPEG", quality=90, optimize=True)
    return out.getvalue()
