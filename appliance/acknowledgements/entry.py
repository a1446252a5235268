"""The public side of an acknowledgement: a person types the code they were given, reads the
notice and confirms it. Wrong codes pause the client like wrong case keys do (per tenant and
client, in the host's ephemeral store only); 100-bit codes make guessing hopeless anyway, the
pause keeps the logbook and the database quiet."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from appliance.acknowledgements.notices import LANGUAGES
from appliance.acknowledgements.service import AcknowledgementLinks, LinkRefused, LinkView, Pending
from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.ephemeral.store import EphemeralStore, Lockout, Subject

T = TypeVar("T")
CODE_HOLDER = Actor("code-holder")  # the person holding a code: no account, nothing kept of them


class CodeEntry:
    def __init__(self, links: AcknowledgementLinks, clients: EphemeralStore, lockout: Lockout,
                 logbook: Logbook) -> None:
        self._links = links
        self._clients = clients
        self._lockout = lockout
        self._logbook = logbook

    def open(self, tenant_id: uuid.UUID, typed: str, client: str, language: str) -> Pending:
        """The notice a valid code asks to confirm, in ``language`` when the notice exists in it
        (else in the link's). LinkRefused, counted against the client, otherwise; LockedOut while
        paused."""
        pending = self._attempt(tenant_id, typed, client, lambda: self._links.open(tenant_id, typed))
        if language in LANGUAGES and language != pending.link.language:
            return Pending(pending.link, self._links.notice(tenant_id, pending.link.purpose, language))
        return pending

    def confirm(self, tenant_id: uuid.UUID, typed: str, client: str) -> LinkView:
        """Record the confirmation; the code is spent."""
        return self._attempt(tenant_id, typed, client, lambda: self._links.confirm(tenant_id, typed, CODE_HOLDER))

    def _attempt(self, tenant_id: uuid.UUID, typed: str, client: str, call: Callable[[], T]) -> T:
        throttle = Subject("acknowledgement-code/client", (str(tenant_id), client), self._lockout)
        self._clients.check(throttle)
        try:
            return call()
        except LinkRefused:
            self._clients.fail(throttle)
            self._logbook.record("acknowledgement.refused", CODE_HOLDER, tenant_id=tenant_id)
            raise

