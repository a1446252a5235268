"""A copy of an attachment without its metadata (EXIF and GPS in photos, authors in PDFs and
office files), made by Debian's ``mat2`` when a handler asks for one. The original stays
stored and downloadable as it was; the cleaned copy is made for one download and never stored.

mat2 works on files, so the decrypted copy exists for a moment: in a private directory (0700)
on a tmpfs when the host has one (``/dev/shm``), under a fixed name with only the extension
taken from the upload (a hostile name never reaches a command line), with a timeout, and the
directory is removed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

from appliance.cases.served_types import extension_of
from appliance.errors import ApplianceError

# The formats mat2 cleans with what a Debian install of it brings (video needs ffmpeg, left out).
SUPPORTED_EXTENSIONS = frozenset({
    "pdf", "jpg", "jpeg", "jpe", "jfif", "png", "gif", "tif", "tiff", "heic", "docx", "xlsx", "pptx",
    "odt", "ods", "odp", "odg", "epub", "mp3", "flac", "ogg", "oga", "opus", "wav", "aif", "aiff",
})
TMPFS = Path("/dev/shm")  # noqa: S108 -- a private 0700 directory is made inside it


class MetadataNotRemovable(ApplianceError):
    """No cleaned copy can be made: the type is not supported, mat2 is missing, failed or took too long.
    The reason names a kind of problem, never the file's name or content."""

    exit_code = 65

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # unsupported | unavailable | failed | timeout

    def message(self) -> str:
        return f"metadata removal: {self.reason}"


def supports(filename: str) -> bool:
    """Whether a cleaned copy can be offered for a file of this name."""
    return extension_of(filename) in SUPPORTED_EXTENSIONS


def cleaned_name(attachment_id: uuid.UUID, filename: str) -> str:
    """The cleaned copy's download name: neutral, since the uploaded name may itself identify someone."""
    return f"file-{attachment_id.hex[:8]}.{extension_of(filename)}"


class MetadataRemover:
    """Runs ``mat2`` on one decrypted file in a private temporary directory."""

    def __init__(self, program: str = "mat2", timeout_seconds: float = 60, work_root: Path | None = None) -> None:
        self._program = program
        self._timeout = timeout_seconds
        self._work_root = work_root

    @property
    def available(self) -> bool:
        return shutil.which(self._program) is not None

    def clean(self, filename: str, chunks: Iterable[bytes]) -> bytes:
        """The file without its metadata. Raises MetadataNotRemovable (the original is untouched)."""
        if not supports(filename):
            raise MetadataNotRemovable("unsupported")
        program = shutil.which(self._program)
        if program is None:
            raise MetadataNotRemovable("unavailable")
        extension = extension_of(filename)
        work = Path(tempfile.mkdtemp(prefix="appliance-mat2-", dir=self._root()))  # mode 0700
        try:
            source = work / f"attachment.{extension}"
            with open(os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            try:
                done = subprocess.run([program, "--", source.name], cwd=work, stdin=subprocess.DEVNULL,
                                      capture_output=True, timeout=self._timeout, check=False,
                                      env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
                                           "LANG": "C.UTF-8"})
            except subprocess.TimeoutExpired:
                raise MetadataNotRemovable("timeout") from None
            cleaned = work / f"attachment.cleaned.{extension}"
            if done.returncode != 0 or not cleaned.is_file():
                raise MetadataNotRemovable("failed")
            return cleaned.read_bytes()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _root(self) -> str | None:
        if self._work_root is not None:
            return str(self._work_root)
        if TMPFS.is_dir() and os.access(TMPFS, os.W_OK | os.X_OK):
            return str(TMPFS)
        return None  # the system's temporary directory
