"""A purged redaction is gone from the database itself (Directive 2019/1937 Art. 17): not only
unreadable through the appliance, but absent from the raw SQLite file (every page decrypted with
the database key, free pages included, after a WAL checkpoint) and from a PostgreSQL dump.

The passage was never stored in the clear (it is sealed under the case's content key), so the
needles are its ciphertexts: the report field as it was before the redaction, and the sealed copy
the redaction kept until the purge. Whoever holds the case's key and a copy of the database could
open those; after the purge there is nothing to open. A positive control (the redacted field's
current ciphertext) proves each search can find what is there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlcipher3.dbapi2 as sqlcipher
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from appliance.cases.models import AttachmentChunk, Case, Redaction
from appliance.context import AppContext
from appliance.crypto.keys import sqlcipher_key
from appliance.services import Services
from tests.functional.conftest import Org, ReportFactory, upload

pytestmark = pytest.mark.fresh_database

MARKER = "PURGED-PASSAGE-MARKER-9f3c Bertil Bengtsson"
PAGE_SIZE, RESERVE, SALT = 4096, 80, 16  # SQLCipher 4 defaults: 16-byte IV + 64-byte HMAC per page


def sqlcipher_pages(path: Path, key: bytes) -> bytes:
    """Every page of the file as SQLCipher decrypts it (raw key: no KDF), free pages included."""
    data = path.read_bytes()
    plain = bytearray()
    for number, start in enumerate(range(0, len(data), PAGE_SIZE)):
        page = data[start:start + PAGE_SIZE]
        offset = SALT if number == 0 else 0
        iv = page[PAGE_SIZE - RESERVE:PAGE_SIZE - RESERVE + 16]
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        plain += decryptor.update(page[offset:PAGE_SIZE - RESERVE]) + decryptor.finalize()
    return bytes(plain)


def raw_database(backend: str, ctx: AppContext) -> bytes:
    """What a copy of the database holds, as bytes an attacker with its key could search."""
    if backend == "sqlite":
        ctx.engine.dispose()
        path = Path(sa.make_url(ctx.settings.database_url).database or "")
        connection = sqlcipher.connect(str(path), isolation_level=None)
        try:  # what SQLite's automatic checkpoint does, now rather than after 1000 pages
            connection.execute(f"PRAGMA key = \"x'{sqlcipher_key(ctx.master).hex()}'\"")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            connection.close()
        wal = Path(f"{path}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        return sqlcipher_pages(path, sqlcipher_key(ctx.master))
    ctx.engine.dispose()
    url = sa.make_url(ctx.settings.database_url)
    dump = subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                           url.username or "postgres", url.database or ""], capture_output=True, check=True)
    return dump.stdout


def found(raw: bytes, needle: bytes, backend: str) -> bool:
    """Whether any 16-byte piece of ``needle`` is in ``raw``: a freed cell is partly overwritten by
    the next one, and what is left of it is enough to matter (a GCM tag, a run of ciphertext)."""
    pieces = {needle[start:start + 16] for start in range(0, len(needle) - 15, 4)}
    if backend == "sqlite":
        return any(piece in raw for piece in pieces)
    return any(piece.hex().encode() in raw for piece in pieces)  # pg_dump writes bytea as hex


def test_a_purged_passage_leaves_no_ciphertext_in_the_raw_database(
        backend: str, ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, what=f"The stock was sold by {MARKER} at night.")
    before = bytes(services.session.get_one(Case, receipt.case_id).what_sealed)
    redaction_id = services.redactions.redact_text(org_a.handler, receipt.case_id, "report", "what", MARKER,
                                                   "not relevant", purge=False)
    services.session.commit()
    kept = services.session.get_one(Redaction, redaction_id).removed_sealed
    assert kept is not None
    kept_bytes = bytes(kept)

    services.redactions.purge(org_a.handler, receipt.case_id, redaction_id)
    services.session.commit()
    after = bytes(services.session.get_one(Case, receipt.case_id).what_sealed)
    services.session.close()

    raw = raw_database(backend, ctx)
    assert found(raw, after, backend), "the search finds the redacted field's current ciphertext"
    assert not found(raw, kept_bytes, backend), "the sealed copy of the passage survived the purge"
    assert not found(raw, before, backend), "the field's old ciphertext survived the redaction"
    assert MARKER.encode() not in raw and MARKER.encode().hex().encode() not in raw


def test_a_redaction_purged_at_once_never_keeps_a_copy(
        backend: str, ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, what=f"Sold by {MARKER}.")
    before = bytes(services.session.get_one(Case, receipt.case_id).what_sealed)
    redaction_id = services.redactions.redact_text(org_a.handler, receipt.case_id, "report", "what", MARKER,
                                                   "not relevant", purge=True)
    services.session.commit()
    row = services.session.get_one(Redaction, redaction_id)
    assert (row.removed_sealed, row.disposition) == (None, "purged")
    services.session.close()
    raw = raw_database(backend, ctx)
    assert not found(raw, before, backend)


def test_a_purged_attachment_leaves_no_chunk_in_the_raw_database(
        backend: str, ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory) -> None:
    content = (MARKER.encode() + b" ") * 4000  # ~180 KB: chunk rows on pages of their own
    receipt = file_report(org_a, uploads=[upload("evidence.pdf", b"%PDF-1.4 " + content)])
    [attachment] = services.cases.open_case(org_a.handler, receipt.case_id).report_attachments
    chunks = [bytes(data) for data in services.session.execute(sa.select(AttachmentChunk.data).where(
        AttachmentChunk.attachment_id == attachment.id)).scalars()]
    assert chunks
    services.session.close()
    raw = raw_database(backend, ctx)
    assert all(found(raw, chunk[:64], backend) for chunk in chunks), "the search finds the chunks while they are there"
    redaction_id = services.redactions.redact_attachment(org_a.handler, receipt.case_id, attachment.id,
                                                         "not relevant", purge=False)
    services.session.commit()
    services.redactions.purge(org_a.handler, receipt.case_id, redaction_id)
    services.session.commit()
    services.session.close()

    raw = raw_database(backend, ctx)
    for chunk in chunks:
        assert not found(raw, chunk[:64], backend) and not found(raw, chunk[-64:], backend)
