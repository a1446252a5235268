"""A logo is served only as a fresh PNG or JPEG encoding of its pixels: no other type, no metadata,
nothing a polyglot hid around the image, nothing too large to decode."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from appliance.errors import InvalidInput
from appliance.tenants.logo import MAX_LOGO_BYTES, clean_logo


def png(size: tuple[int, int] = (40, 20), mode: str = "RGBA", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 80, 160, 255) if mode == "RGBA" else 128).save(out, format="PNG", **options)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (40, 20), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="JPEG", **options)
    return out.getvalue()


def reason(data: bytes) -> str:
    with pytest.raises(InvalidInput) as caught:
        clean_logo(data)
    assert caught.value.field == "logo"
    return caught.value.reason


def test_a_png_and_a_jpeg_come_back_re_encoded_with_their_type_and_size() -> None:
    cleaned = clean_logo(png((40, 20)))
    assert (cleaned.content_type, cleaned.width, cleaned.height) == ("image/png", 40, 20)
    assert Image.open(io.BytesIO(cleaned.data)).format == "PNG"
    cleaned = clean_logo(jpeg((30, 50)))
    assert (cleaned.content_type, cleaned.width, cleaned.height) == ("image/jpeg", 30, 50)
    assert Image.open(io.BytesIO(cleaned.data)).format == "JPEG"


def test_metadata_is_stripped() -> None:
    exif = Image.Exif()
    exif[0x013B] = "Artist Marker Name"  # Artist
    exif[0x8825] = {2: (59.0, 19.0, 48.0)}  # GPS latitude
    photo = jpeg(exif=exif.tobytes(), icc_profile=b"icc-marker" * 10, comment=b"comment-marker")
    assert b"Marker Name" in photo
    cleaned = clean_logo(photo).data
    for marker in (b"Marker Name", b"Exif", b"icc-marker", b"comment-marker"):
        assert marker not in cleaned
    assert not Image.open(io.BytesIO(cleaned)).getexif()
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Author Marker Name")
    info.add_itxt("Comment", "itxt-marker")
    tagged = png(pnginfo=info, exif=exif.tobytes())
    assert b"Author Marker Name" in tagged
    cleaned = clean_logo(tagged).data
    for marker in (b"Author Marker Name", b"itxt-marker", b"Marker Name", b"eXIf"):
        assert marker not in cleaned


def test_a_transparent_palette_png_keeps_its_transparency() -> None:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=0)
    cleaned = Image.open(io.BytesIO(clean_logo(out.getvalue()).data))
    assert cleaned.mode == "P" and cleaned.info.get("transparency") == 0


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"GIF89a" + b"\x00" * 40,
    b"<html><script>alert(1)</script></html>",
    b"%PDF-1.7\n",
    b"",
    b"BM" + b"\x00" * 60,
], ids=["svg", "svg-xml", "gif", "html", "pdf", "empty", "bmp"])
def test_anything_but_png_or_jpeg_is_refused_by_its_first_bytes(data: bytes) -> None:
    assert reason(data) == "wrong-type"


def test_a_polyglot_loses_what_it_carried_around_the_image() -> None:
    hidden = b"<script>alert(document.domain)</script><html><body>phish</body></html>"
    cleaned = clean_logo(png() + hidden).data
    assert hidden not in cleaned and b"<script" not in cleaned
    # HTML in a PNG text chunk and in a JPEG comment are dropped too.
    info = PngImagePlugin.PngInfo()
    info.add_text("x", hidden.decode())
    assert b"<script" not in clean_logo(png(pnginfo=info)).data
    assert b"<script" not in clean_logo(jpeg(comment=hidden)).data


def test_truncated_or_garbled_images_are_refused() -> None:
    whole = png((64, 64), mode="RGB")
    assert reason(whole[:60]) == "unreadable"
    assert reason(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20) == "unreadable"
    assert reason(b"\xff\xd8\xff\xe0" + b"garbage" * 20) == "unreadable"
    # A PNG that says JPEG in its name or type is still read as what its bytes are: a PNG.
    assert clean_logo(whole).content_type == "image/png"


def test_size_and_dimensions_are_limited_before_decoding() -> None:
    assert reason(b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_LOGO_BYTES) == "too-large"
    assert reason(png((1201, 10), mode="L")) == "dimensions"
    assert reason(png((4, 4))) == "dimensions"
    # A small file that declares a huge image (a decompression bomb) is refused by its header.
    assert reason(declared_png(5000, 5000)) == "dimensions"
    assert reason(declared_png(60000, 60000)) in ("dimensions", "unreadable")  # Pillow's own bomb check


def declared_png(width: int, height: int) -> bytes:
    """A PNG header that declares ``width`` x ``height`` in front of a few bytes of image data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
