"""Logos for the branding tests: real PNG and JPEG files made with Pillow."""

from __future__ import annotations

import io

from PIL import Image


def logo_png(size: tuple[int, int] = (120, 40), colour: tuple[int, int, int, int] = (31, 95, 139, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, format="PNG")
    return out.getvalue()


def logo_jpeg(size: tuple[int, int] = (120, 40), exif: bytes = b"") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()
