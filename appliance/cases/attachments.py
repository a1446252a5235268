"""Storing and streaming encrypted attachments in chunk rows."""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.cases.models import Attachment, AttachmentChunk
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from appliance.crypto.files import ChunkSealer, open_chunks, read_chunks, seal_stream
from appliance.errors import DecryptionFailed, TooLarge

MAX_FILENAME = 200
# A file a handler took out of the case (appliance/cases/redaction.py): listed nowhere, downloaded by nobody.
REDACTED_SOURCE = "redacted"
MAX_EXTENSION = 16  # longer "extensions" are part of the name, shortened with it
DRIVE = re.compile(r"^[A-Za-z]:")
SAFE_TYPES = {
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
    "text/csv", "application/zip", "audio/mpeg", "audio/ogg", "video/mp4",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "message/rfc822",
}
# A handler's recording of an oral report (Directive 2019/1937 Art. 18(2)(a)) may also be in
# these formats; portal uploads keep the list above.
RECORDING_TYPES = frozenset(SAFE_TYPES | {
    "audio/wav", "audio/x-wav", "audio/webm", "audio/mp4", "audio/x-m4a", "audio/aac", "audio/flac",
    "audio/opus", "video/webm",
})


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    stream: BinaryIO


@dataclass(frozen=True)
class AttachmentInfo:
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    source: str
    message_id: uuid.UUID | None


@dataclass(frozen=True)
class Download:
    info: AttachmentInfo
    chunks: Iterator[bytes]


def clean_filename(name: str) -> str:
    """A display name without paths or control characters (the stored name is encrypted).

    Only the base name is kept: a path a browser sent (``C:\\Users\\victim\\report.pdf``)
    would name its user. A long name is shortened in its stem, keeping the extension."""
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    name = DRIVE.sub("", name)  # "C:report.pdf": a drive-relative path
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= MAX_EXTENSION:
            name = stem[:MAX_FILENAME - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    return name or "attachment"


def clean_content_type(value: str, allowed: frozenset[str] | set[str] = SAFE_TYPES) -> str:
    """Only well-known types keep their name; everything else downloads as octet-stream."""
    base = value.split(";", 1)[0].strip().lower()
    return base if base in allowed else "application/octet-stream"


class AttachmentStore:
    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def add(self, *, case_id: uuid.UUID, tenant_id: uuid.UUID, cipher: CaseCipher,
            upload: Upload, source: str, message_id: uuid.UUID | None, limit_bytes: int,
            allowed_types: frozenset[str] | set[str] = SAFE_TYPES) -> Attachment:
        """Encrypt and store one upload, chunk by chunk, under its own file key (sealed with the
        case cipher, so a writer holding only the case's public key can add files too)."""
        attachment_id = uuid.uuid4()
        file_key = secrets.token_bytes(32)
        sealer = ChunkSealer(file_key, attachment_id)
        attachment = Attachment(
            id=attachment_id, case_id=case_id, tenant_id=tenant_id, message_id=message_id, source=source,
            file_key_sealed=cipher.seal(file_key, Place("attachments", "file_key", attachment_id)),
            filename_sealed=cipher.seal(clean_filename(upload.filename), Place("attachments", "filename", attachment_id)),
            content_type_sealed=cipher.seal(clean_content_type(upload.content_type, allowed_types),
                                            Place("attachments", "content_type", attachment_id)),
            size_bytes=0, chunk_count=0, created_at=self._clock(),
        )
        self._session.add(attachment)
        self._session.flush()
        size = count = 0
        for index, blob, plain_size in seal_stream(sealer, read_chunks(upload.stream), limit_bytes):
            self._session.execute(sa.insert(AttachmentChunk).values(attachment_id=attachment_id, idx=index, data=blob))
            size += plain_size
            count += 1
        attachment.size_bytes = size
        attachment.chunk_count = count
        self._session.flush()
        return attachment

    def list_for_case(self, case_id: uuid.UUID, cipher: CaseCipher, sources: tuple[str, ...]) -> list[AttachmentInfo]:
        rows = self._session.execute(
            sa.select(Attachment).where(Attachment.case_id == case_id, Attachment.source.in_(sources))
            .order_by(Attachment.created_at, Attachment.id)
        ).scalars()
        return [self.info(a, cipher) for a in rows]

    def info(self, attachment: Attachment, cipher: CaseCipher) -> AttachmentInfo:
        return AttachmentInfo(
            attachment.id,
            cipher.open(attachment.filename_sealed, Place("attachments", "filename", attachment.id)),
            cipher.open(attachment.content_type_sealed, Place("attachments", "content_type", attachment.id)),
            attachment.size_bytes, attachment.source, attachment.message_id,
        )

    def get(self, case_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment | None:
        return self._session.execute(
            sa.select(Attachment).where(Attachment.id == attachment_id, Attachment.case_id == case_id,
                                        Attachment.source != REDACTED_SOURCE)
        ).scalar_one_or_none()

    def stream(self, attachment: Attachment, cipher: CaseCipher) -> Iterator[bytes]:
        """Plaintext chunks, fetched one row at a time."""
        sealer = ChunkSealer(self._file_key(attachment, cipher), attachment.id)

        def rows() -> Iterator[tuple[int, bytes]]:
            indexes = self._session.execute(
                sa.select(AttachmentChunk.idx).where(AttachmentChunk.attachment_id == attachment.id)
                .order_by(AttachmentChunk.idx)
            ).scalars().all()
            for index in indexes:
                data = self._session.execute(sa.select(AttachmentChunk.data).where(
                    AttachmentChunk.attachment_id == attachment.id, AttachmentChunk.idx == index
                )).scalar_one()
                yield index, data

        return open_chunks(sealer, rows(), attachment.chunk_count)

    @staticmethod
    def _file_key(attachment: Attachment, cipher: CaseCipher) -> bytes:
        if attachment.file_key_sealed is not None:
            return cipher.open_bytes(attachment.file_key_sealed, Place("attachments", "file_key", attachment.id))
        if cipher.content_key is None:  # a file from before sealed keys used the content key itself
            raise DecryptionFailed("attachments.file_key")
        return cipher.content_key


def remaining_budget(used: int, per_report: int, per_file: int) -> int:
    """The most the next file may take: the per-file limit or what is left of the report's."""
    left = per_report - used
    if left <= 0:
        raise TooLarge(per_report)
    return min(per_file, left)
