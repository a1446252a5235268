"""The logbook's live copy for central log collection: one JSON line per committed event.

The ``appliance.audit`` logger gets each event's canonical JSON after its transaction
commits (never for a rollback). Where those lines go depends on the process:

- long-running services (the web app, the scheduler): standard output, which systemd
  hands to journald under the unit's name; nothing else is written there;
- one-shot commands: journald's native socket when there is one (their standard output
  belongs to the command, e.g. ``--json``), else nowhere: the database keeps the logbook,
  and the scheduler's and web app's lines carry everything they write.

Either way a line is the bare JSON (no level or logger prefix), exactly the text the
chain hashes, and the root logger does not repeat it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from pathlib import Path
from typing import TextIO

AUDIT_LOGGER = "appliance.audit"
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
JOURNAL_IDENTIFIER = "appliance"


class EventLineFormatter(logging.Formatter):
    """The event's canonical JSON and nothing around it."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class EventStreamHandler(logging.StreamHandler[TextIO]):
    """One event per line on a text stream, flushed at once (collectors read it live)."""


class JournalHandler(logging.Handler):
    """Sends each event to journald over its native protocol: one datagram per entry with
    ``MESSAGE=<json>``. No dependency: a JSON line never contains a newline, so the simple
    ``KEY=value`` form of the protocol is enough."""

    def __init__(self, socket_path: Path = JOURNAL_SOCKET, identifier: str = JOURNAL_IDENTIFIER) -> None:
        super().__init__()
        self._path = str(socket_path)
        self._identifier = identifier
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        payload = f"MESSAGE={message}\nPRIORITY=6\nSYSLOG_IDENTIFIER={self._identifier}\n"
        # journald restarting or gone: a one-shot command must not fail or print for it; the
        # database holds the logbook.
        with contextlib.suppress(OSError):
            self._socket.sendto(payload.encode(), self._path)

    def close(self) -> None:
        self._socket.close()
        super().close()


_ROUTES = (EventStreamHandler, JournalHandler)


def route_events(handler: logging.Handler) -> logging.Handler:
    """Send every committed event to ``handler`` as a bare JSON line, and only there. Replaces
    the route set before (a process has one), so calling it again never duplicates lines."""
    logger = logging.getLogger(AUDIT_LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _ROUTES)]:
        logger.removeHandler(old)
        old.close()
    handler.setFormatter(EventLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # whatever LOG_LEVEL says for the rest
    logger.propagate = False  # the root handler would repeat it with a level prefix
    return handler


def stop_routing() -> None:
    """Undo :func:`route_events`: the logger goes back to propagating to the root."""
    logger = logging.getLogger(AUDIT_LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _ROUTES)]:
        logger.removeHandler(old)
        old.close()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def stream_events_to_stdout(stream: TextIO | None = None) -> logging.Handler:
    """For the web app and the scheduler (see the module docstring)."""
    return route_events(EventStreamHandler(stream or sys.stdout))


def stream_events_to_journal(socket_path: Path = JOURNAL_SOCKET) -> logging.Handler | None:
    """For one-shot commands: journald's socket if this host has one, else no copy."""
    if not socket_path.is_socket():
        return None
    return route_events(JournalHandler(socket_path))
