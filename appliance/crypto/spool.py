"""A temporary file that holds uploads only as ciphertext under a throw-away key.

Multipart parsing has to park an upload somewhere before the view can read it; a plain
temp file would leave a reporter's evidence in clear on disk. This spool encrypts as it
is written (AES-GCM per block, key held only in memory) and decrypts as it is read, so a
crash or a disk image holds nothing readable, and memory stays at one block.
"""

from __future__ import annotations

import os
import secrets
import struct
import tempfile
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BLOCK = 256 * 1024
_LEN = struct.Struct(">I")


class EncryptedSpool:
    """Write-then-read file object (the part of the file API multipart parsing uses)."""

    def __init__(self, directory: str | None = None) -> None:
        self._aead = AESGCM(secrets.token_bytes(32))
        # Closed by close()/__exit__; the spool itself is the context manager.
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self._pending = bytearray()
        self._block = 0
        self._reading = False
        self._plain = b""
        self._size = 0

    # writing ------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        if self._reading:
            raise OSError("spool is being read")
        self._pending += data
        self._size += len(data)
        while len(self._pending) >= BLOCK:
            self._emit(bytes(self._pending[:BLOCK]))
            del self._pending[:BLOCK]
        return len(data)

    def _emit(self, block: bytes) -> None:
        nonce = self._block.to_bytes(12, "big")
        sealed = self._aead.encrypt(nonce, block, None)
        self._file.write(_LEN.pack(len(sealed)) + sealed)
        self._block += 1

    def flush(self) -> None:
        self._file.flush()

    # reading ------------------------------------------------------------------------
    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if offset != 0 or whence != os.SEEK_SET:
            raise OSError("spool only rewinds to the start")
        if not self._reading:
            if self._pending:
                self._emit(bytes(self._pending))
                self._pending.clear()
            self._reading = True
        self._file.seek(0)
        self._read_block = 0
        self._plain = b""
        return 0

    def tell(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        if not self._reading:
            self.seek(0)
        out = bytearray()
        while size < 0 or len(out) < size:
            if not self._plain:
                header = self._file.read(_LEN.size)
                if not header:
                    break
                (length,) = _LEN.unpack(header)
                nonce = self._read_block.to_bytes(12, "big")
                self._plain = self._aead.decrypt(nonce, self._file.read(length), None)
                self._read_block += 1
            take = len(self._plain) if size < 0 else min(size - len(out), len(self._plain))
            out += self._plain[:take]
            self._plain = self._plain[take:]
        return bytes(out)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return not self._reading

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> EncryptedSpool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self._size
