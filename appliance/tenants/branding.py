"""What an organisation's portal shows of its own: logo, intro text, privacy notice, policy link.

Reporters trust these words and this link: a DBA who could change them could send reporters
to a phishing site or add "enter your name" to the intro. So every row carries a MAC under the
master key's key binding (``appliance.crypto.binding``) over the tenant, a version number, the
texts, the link and the SHA-256 of the logo, and every change is announced in the logbook with
its version (``v=N``). A row whose MAC fails, an older row put back, or a row deleted while its
logbook event is kept does not verify: the portal then shows the appliance's own texts and no
logo, ``appliance doctor`` and the administrator's Branding page say so, and nothing but a
reset (which an administrator chooses, after looking) writes over it. IT with the master key
could compute a MAC: the residual risk the README documents for that insider.

Texts are plain text (the web layer escapes them; blank lines make paragraphs). The link must
be https to a named host, with no user part (``https://intranet@evil.example``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session, undefer

from appliance.actors import Actor
from appliance.audit.models import AuditEvent
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.binding import KeyBinding
from appliance.errors import BrandingTampered, InvalidInput, NotFound
from appliance.tenants.logo import clean_logo
from appliance.tenants.models import Tenant, TenantBranding

MAX_INTRO = 4000
MAX_PRIVACY_NOTICE = 20000
MAX_POLICY_URL = 500
MAC_KIND = "tenant-branding"
CHANGED, RESET, TAMPERED = "tenant.branding_changed", "tenant.branding_reset", "tenant.branding_tampered"
DELETED, EDITED, OLDER = ("the branding was deleted", "the branding was changed outside the appliance",
                          "an older branding was put back")
_CODES = {DELETED: "deleted", EDITED: "changed", OLDER: "older"}
_VERSION = re.compile(r"\bv=(\d+)\b")
_HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")
# Never allowed in a link: markup and quote characters, and what hides where a link leads.
_URL_REFUSED = set('<>"\'\\^`{|}') | {chr(c) for c in range(0x21)} | {"\x7f"}
_URL_SAFE = "".join(sorted(set(string.printable) - set(string.whitespace) - _URL_REFUSED))
# Bidirectional overrides and isolates reorder what a reader sees (e.g. a link in a notice).
_HIDDEN = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
_CONTROLS = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f"}


@dataclass(frozen=True)
class PortalBranding:
    """A branding that verified: what the portal may show."""

    version: int
    intro: str | None
    privacy_notice: str | None
    policy_url: str | None
    logo_type: str | None
    logo_width: int | None
    logo_height: int | None
    logo_etag: str | None

    @property
    def policy_host(self) -> str | None:
        """Where the link leads, as the reporter should see it (IDN hosts in their xn-- form)."""
        return urlsplit(self.policy_url).netloc if self.policy_url else None


@dataclass(frozen=True)
class BrandingState:
    """The administrator's view: the verified branding (None: none set), or why it does not verify."""

    branding: PortalBranding | None
    problem: str | None = None


def check_portal_text(field: str, value: str, limit: int) -> str | None:
    """Plain text, trimmed, at most ``limit`` characters; None when empty."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(value) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    if any(c in _CONTROLS or c in _HIDDEN for c in value):
        raise InvalidInput(field, "contains a character that is not allowed")
    return value or None


def check_policy_url(value: str) -> str | None:
    """An https link to a named host, normalised (host in lower case, IDN as xn--); None when empty."""
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_POLICY_URL or any(c in _URL_REFUSED or c in _HIDDEN for c in value):
        raise InvalidInput("policy_url", "not a plain https link")
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.netloc or "@" in parts.netloc or not value.lower().startswith(
            "https://"):
        raise InvalidInput("policy_url", "must be an https:// link to a named host")
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii").lower()
        port = parts.port
    except (UnicodeError, ValueError):
        raise InvalidInput("policy_url", "must be an https:// link to a named host") from None
    if not host or len(host) > 253 or not _HOST.match(host):
        raise InvalidInput("policy_url", "must be an https:// link to a named host")
    tail = quote(parts.path, safe=_URL_SAFE)
    tail += f"?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else ""
    tail += f"#{quote(parts.fragment, safe=_URL_SAFE)}" if parts.fragment else ""
    url = f"https://{host}{f':{port}' if port is not None else ''}{tail}"
    if len(url) > MAX_POLICY_URL:
        raise InvalidInput("policy_url", f"must be at most {MAX_POLICY_URL} characters")
    return url


def paragraphs(text: str | None) -> list[str]:
    """A plain text's paragraphs (separated by blank lines); single line breaks stay in them."""
    return [p.strip() for p in re.split(r"\n(?:[ \t]*\n)+", text or "") if p.strip()]


def _mac_parts(row: TenantBranding) -> tuple[bytes, ...]:
    return (row.tenant_id.bytes, str(row.version).encode(), (row.intro or "").encode(),
            (row.privacy_notice or "").encode(), (row.policy_url or "").encode(), (row.logo_type or "").encode(),
            str(row.logo_width or 0).encode(), str(row.logo_height or 0).encode(), row.logo_digest or b"")


def _logo_intact(row: TenantBranding) -> bool:
    """The logo's bytes are the ones whose digest the MAC covers (or there is neither)."""
    if row.logo is None or row.logo_digest is None:
        return row.logo is None and row.logo_digest is None
    return hmac.compare_digest(hashlib.sha256(row.logo).digest(), row.logo_digest)


class PortalBrandings:
    """Reads (verified) and changes a tenant's portal branding. Never commits."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock, binding: KeyBinding) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock
        self._binding = binding

    # --- reading ------------------------------------------------------------------------
    def portal(self, tenant_id: uuid.UUID) -> PortalBranding | None:
        """What the portal shows: the branding if it verifies, else None (the default texts)."""
        return self.state(tenant_id).branding

    def state(self, tenant_id: uuid.UUID) -> BrandingState:
        row = self._row(tenant_id)
        problem = self._problem(tenant_id, row)
        if problem is not None or row is None:
            return BrandingState(None, problem)
        return BrandingState(_view(row))

    def checked_state(self, tenant_id: uuid.UUID, actor: Actor) -> BrandingState:
        """``state`` for an administrator's page: a branding that does not verify is written to the
        logbook (``tenant.branding_tampered``, the kind of change only), once until it is reset."""
        state = self.state(tenant_id)
        if state.problem is not None:
            newest = self._session.execute(sa.select(AuditEvent.action).where(
                AuditEvent.tenant_id == tenant_id, AuditEvent.action.in_((CHANGED, RESET, TAMPERED)))
                .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
            if newest != TAMPERED:
                self._logbook.record(TAMPERED, actor, tenant_id=tenant_id, object_type="tenant", object_id=tenant_id,
                                     detail=f"found={_CODES[state.problem]}")
        return state

    def logo(self, tenant_id: uuid.UUID) -> tuple[bytes, PortalBranding] | None:
        """The logo's bytes, only if the branding verifies (the bytes too: the MAC covers their digest)."""
        row = self._row(tenant_id)
        if row is None or row.logo is None or self._problem(tenant_id, row) is not None:
            return None
        return row.logo, _view(row)

    def problems(self) -> dict[uuid.UUID, str]:
        """Every tenant whose branding does not verify, with the reason (``appliance doctor``)."""
        found = {}
        for tenant_id in self._session.execute(sa.select(Tenant.id)).scalars():
            problem = self._problem(tenant_id, self._row(tenant_id))
            if problem is not None:
                found[tenant_id] = problem
        return found

    # --- changing -----------------------------------------------------------------------
    def set_texts(self, tenant_id: uuid.UUID, intro: str, privacy_notice: str, policy_url: str,
                  actor: Actor) -> PortalBranding:
        """Replace the intro text, the privacy notice and the policy link (empty: the default)."""
        checked = (check_portal_text("intro", intro, MAX_INTRO),
                   check_portal_text("privacy_notice", privacy_notice, MAX_PRIVACY_NOTICE),
                   check_policy_url(policy_url))
        row = self._writable(tenant_id)
        row.intro, row.privacy_notice, row.policy_url = checked
        return self._save(row, actor, CHANGED, "texts")

    def set_logo(self, tenant_id: uuid.UUID, data: bytes, actor: Actor) -> PortalBranding:
        """Replace the logo with a re-encoded copy of ``data`` (PNG or JPEG; InvalidInput otherwise)."""
        logo = clean_logo(data)
        row = self._writable(tenant_id)
        row.logo, row.logo_type, row.logo_width, row.logo_height = logo.data, logo.content_type, logo.width, logo.height
        row.logo_digest = hashlib.sha256(logo.data).digest()
        return self._save(row, actor, CHANGED, "logo")

    def remove_logo(self, tenant_id: uuid.UUID, actor: Actor) -> PortalBranding:
        row = self._writable(tenant_id)
        row.logo = row.logo_type = row.logo_width = row.logo_height = row.logo_digest = None
        return self._save(row, actor, CHANGED, "logo-removed")

    def reset(self, tenant_id: uuid.UUID, actor: Actor) -> PortalBranding:
        """Back to the appliance's own texts and no logo, whatever the row holds now: the one way out
        of a branding that does not verify (nothing of it is kept, so nothing of it is re-signed)."""
        if self._session.get(Tenant, tenant_id) is None:
            raise NotFound("tenant", tenant_id)
        row = self._row(tenant_id)
        trusted = row.version if row is not None and self._problem(tenant_id, row) is None else 0
        version = max(trusted, self._announced(tenant_id) or 0)
        if row is None:
            row = TenantBranding(tenant_id=tenant_id)
            self._session.add(row)
        row.version = version
        row.intro = row.privacy_notice = row.policy_url = None
        row.logo = row.logo_type = row.logo_width = row.logo_height = row.logo_digest = None
        return self._save(row, actor, RESET, "all")

    # --- inside -------------------------------------------------------------------------
    def _row(self, tenant_id: uuid.UUID) -> TenantBranding | None:
        """The row as the database holds it now, with the logo: checking the logo's digest needs its bytes
        (a swapped logo must stop the whole branding, as a swapped text does, not only the image)."""
        query = sa.select(TenantBranding).where(TenantBranding.tenant_id == tenant_id).options(
            undefer(TenantBranding.logo))
        return self._session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()

    def _problem(self, tenant_id: uuid.UUID, row: TenantBranding | None) -> str | None:
        announced = self._announced(tenant_id)
        if row is None:
            return DELETED if announced is not None else None
        if (row.tenant_id != tenant_id or not self._binding.check(row.mac, MAC_KIND, *_mac_parts(row))
                or not _logo_intact(row)):
            return EDITED
        if announced is not None and row.version != announced:
            return OLDER
        return None

    def _announced(self, tenant_id: uuid.UUID) -> int | None:
        """The newest version the logbook announced (None: no event kept, e.g. pruned)."""
        detail = self._session.execute(sa.select(AuditEvent.detail).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action.in_((CHANGED, RESET)))
            .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
        found = _VERSION.search(detail or "")
        return int(found.group(1)) if found else None

    def _writable(self, tenant_id: uuid.UUID) -> TenantBranding:
        """The row to change: refused while it does not verify (a change would sign what a DBA wrote)."""
        if self._session.get(Tenant, tenant_id) is None:
            raise NotFound("tenant", tenant_id)
        row = self._row(tenant_id)
        problem = self._problem(tenant_id, row)
        if problem is not None:
            raise BrandingTampered(tenant_id, problem)
        if row is None:
            row = TenantBranding(tenant_id=tenant_id, version=0)
            self._session.add(row)
        return row

    def _save(self, row: TenantBranding, actor: Actor, action: str, part: str) -> PortalBranding:
        row.version += 1
        row.updated_at = self._clock()
        row.mac = self._binding.tag(MAC_KIND, *_mac_parts(row))
        self._session.flush()
        self._logbook.record(action, actor, tenant_id=row.tenant_id, object_type="tenant", object_id=row.tenant_id,
                             detail=f"v={row.version} part={part}")
        return _view(row)


def _view(row: TenantBranding) -> PortalBranding:
    return PortalBranding(row.version, row.intro, row.privacy_notice, row.policy_url, row.logo_type,
                          row.logo_width, row.logo_height, row.logo_digest.hex()[:32] if row.logo_digest else None)
