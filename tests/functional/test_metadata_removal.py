"""mat2 makes a copy without metadata: GPS positions out of a photo, the author out of a PDF.

The copy is made in a private temporary directory that is gone afterwards, under a fixed name
(a hostile upload name never reaches the command line), with a timeout."""

from __future__ import annotations

import io
import re
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image

from appliance.cases.metadata_removal import MetadataNotRemovable, MetadataRemover

needs_mat2 = pytest.mark.skipif(shutil.which("mat2") is None,
                                reason="mat2 is not installed (./scripts/test installs it: apt-get install mat2)")
GPS_IFD = 0x8825
GPS_LATITUDE_REF, GPS_LATITUDE = 1, 2


def jpeg_with_gps(comment: str) -> bytes:
    """A photo as a phone takes it: EXIF with a GPS position and the camera's owner."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x013B] = comment  # Artist
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({GPS_LATITUDE_REF: "N", GPS_LATITUDE: (59.0, 19.0, 48.0),
                                  3: "E", 4: (18.0, 4.0, 7.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def gps_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(GPS_IFD))


def pdf_with_author(author: str) -> bytes:
    pdf = FPDF()
    pdf.set_author(author)
    pdf.set_creator(f"{author}-creator")
    pdf.set_compression(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Minutes of the board meeting")
    return bytes(pdf.output())


def chunks(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


@needs_mat2
def test_mat2_removes_the_gps_position_from_a_jpeg(work: Path) -> None:
    marker = f"MKartist{secrets.token_hex(6)}"
    photo = jpeg_with_gps(marker)
    assert gps_of(photo)[GPS_LATITUDE_REF] == "N" and marker.encode() in photo  # control: it is there

    cleaned = MetadataRemover(work_root=work).clean("IMG_0001.JPG", chunks(photo))

    assert gps_of(cleaned) == {}
    assert marker.encode() not in cleaned and b"PhoneMaker" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert image.size == (64, 48)  # still the picture
    assert list(work.iterdir()) == []  # the decrypted copy is gone


@needs_mat2
def test_mat2_removes_the_author_from_a_pdf(work: Path) -> None:
    marker = f"MKauthor{secrets.token_hex(6)}"
    document = pdf_with_author(marker)
    assert marker.encode() in document

    cleaned = MetadataRemover(work_root=work).clean("minutes.pdf", chunks(document))

    assert cleaned.startswith(b"%PDF") and marker.encode() not in cleaned
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", "-"], input=cleaned, capture_output=True, check=True, timeout=60).stdout
        assert marker.encode() not in info
        # mat2 renders each page as an image: the page stays, its text becomes a picture.
        assert re.search(rb"^Pages: +1$", info, re.MULTILINE)
    assert list(work.iterdir()) == []


@needs_mat2
@pytest.mark.parametrize("hostile", ["--help.jpg", "-v.jpg", "$(touch pwned).jpg", "a;touch pwned;.jpg",
                                     "../../etc/passwd.jpg", "report.pdf\n.jpg", "фото.JPEG"])
def test_a_hostile_name_never_reaches_the_command_line(work: Path, hostile: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cleaned = MetadataRemover(work_root=work).clean(hostile, [jpeg_with_gps("someone")])
    assert gps_of(cleaned) == {}
    assert not (tmp_path / "pwned").exists() and not (work / "pwned").exists()
    assert list(work.iterdir()) == []


@needs_mat2
def test_a_broken_file_is_refused_and_leaves_nothing_behind(work: Path) -> None:
    with pytest.raises(MetadataNotRemovable) as raised:
        MetadataRemover(work_root=work).clean("photo.jpg", [b"not a jpeg at all"])
    assert raised.value.reason == "failed"
    assert list(work.iterdir()) == []


def test_the_working_directory_is_private_while_mat2_runs(work: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    program = tmp_path / "fake-mat2"
    # A stand-in for mat2 that records what it was given and where, and writes a "cleaned" file.
    program.write_text(f"""#!/bin/sh
stat -c '%a' . > {seen}
ls -l "$2" >> {seen}
printf '%s\\n' "$@" >> {seen}
cp "$2" attachment.cleaned.pdf
""")
    program.chmod(0o700)
    cleaned = MetadataRemover(str(program), work_root=work).clean("Secret name; rm -rf.pdf", [b"%PDF-1.4 x"])
    assert cleaned == b"%PDF-1.4 x"
    mode, listing, *arguments = seen.read_text().splitlines()
    assert mode == "700"
    assert listing.startswith("-rw-------")
    assert arguments == ["--", "attachment.pdf"]  # never the uploaded name
    assert list(work.iterdir()) == []


def test_unsupported_missing_and_slow_are_clear_errors(work: Path, tmp_path: Path) -> None:
    with pytest.raises(MetadataNotRemovable) as unsupported:
        MetadataRemover(work_root=work).clean("page.html", [b"<html>"])
    assert unsupported.value.reason == "unsupported"
    with pytest.raises(MetadataNotRemovable) as missing:
        MetadataRemover("no-such-mat2-anywhere", work_root=work).clean("photo.jpg", [b"x"])
    assert missing.value.reason == "unavailable"
    slow = tmp_path / "slow-mat2"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(stat.S_IRWXU)
    with pytest.raises(MetadataNotRemovable) as timeout:
        MetadataRemover(str(slow), timeout_seconds=0.5, work_root=work).clean("photo.jpg", [b"x"])
    assert timeout.value.reason == "timeout"
    assert "photo" not in str(timeout.value)
    assert list(work.iterdir()) == []
