"""Domain exceptions. They carry data, never report content or secrets.

webapp/errors.py maps them to HTTP responses; the CLI maps them to an exit code
and one clear line.
"""

from __future__ import annotations

import uuid


class ApplianceError(Exception):
    """Base of every error the appliance raises on purpose."""

    exit_code = 1

    def __str__(self) -> str:  # one clear line for the CLI and logs
        return self.message()

    def message(self) -> str:
        return self.__class__.__doc__.splitlines()[0].rstrip(".") if self.__class__.__doc__ else "error"


class SettingsError(ApplianceError):
    """A setting is missing or invalid."""

    exit_code = 78  # EX_CONFIG

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, reason)
        self.name = name
        self.reason = reason

    def message(self) -> str:
        return f"setting {self.name}: {self.reason}"


class MasterKeyError(ApplianceError):
    """The master key file cannot be used."""

    exit_code = 78

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def message(self) -> str:
        return f"master key {self.path}: {self.reason}"


class DatabaseUnavailable(ApplianceError):
    """The database cannot be opened."""

    exit_code = 69  # EX_UNAVAILABLE

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def message(self) -> str:
        return f"database: {self.reason}"


class VaultMissing(ApplianceError):
    """The person key vault's file is missing; it is never re-created empty behind the operator's back."""

    exit_code = 69

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path

    def message(self) -> str:
        return (f"person key vault {self.path} not found; restore it with `appliance backup restore-vault` "
                "(an empty vault would leave every person's data unreadable)")


class BindFailed(ApplianceError):
    """The web server cannot listen on the address it was given."""

    exit_code = 69

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(address, reason)
        self.address = address
        self.reason = reason

    def message(self) -> str:
        return f"cannot listen on {self.address}: {self.reason}"


class NotFound(ApplianceError):
    """The object does not exist, or the caller may not know that it exists."""

    # Not 2: that is a usage error (click's own), so a script can tell "no such tenant"
    # from "wrong option". The README and `appliance --help` list the codes.
    exit_code = 6

    def __init__(self, kind: str, object_id: uuid.UUID | str | None = None) -> None:
        super().__init__(kind, object_id)
        self.kind = kind
        self.object_id = object_id

    def message(self) -> str:
        # The value is an id or a slug the caller gave (never a name or an address: those
        # are raised without one), so the line says which one was not found.
        return f"{self.kind} {self.object_id} not found" if self.object_id is not None else f"{self.kind} not found"


class AccessDenied(ApplianceError):
    """The actor lacks the role this operation needs."""

    exit_code = 3

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action

    def message(self) -> str:
        return f"not allowed: {self.action}"


class InvalidInput(ApplianceError):
    """A value given to the appliance is not acceptable."""

    exit_code = 2

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def message(self) -> str:
        return f"{self.field}: {self.reason}"


class Conflict(ApplianceError):
    """The operation clashes with existing state."""

    exit_code = 2

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def message(self) -> str:
        return self.what


class WindowClosed(Conflict):
    """A step allowed only for a while after another came too late (files for a report an API
    token filed: only within minutes of filing it)."""

    def __init__(self, what: str, minutes: int) -> None:
        super().__init__(f"{what} only within {minutes} minutes")
        self.minutes = minutes


class OwnAccessKept(ApplianceError):
    """An administrator cannot take away their own access (their roles, their account, their password or second factor)."""

    exit_code = 3

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action

    def message(self) -> str:
        return f"not on your own account: {self.action}"


class AuthenticationFailed(ApplianceError):
    """Credentials were wrong. Deliberately says nothing about which part."""

    exit_code = 3

    def message(self) -> str:
        return "authentication failed"


class LockedOut(ApplianceError):
    """Too many failed attempts; try again later."""

    exit_code = 3

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds

    def message(self) -> str:
        return f"too many failed attempts, retry in {self.retry_after_seconds} s"


class RateLimited(ApplianceError):
    """Too many requests of this kind from this client or for this channel; nothing was stored."""

    exit_code = 3

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds

    def message(self) -> str:
        return f"too many requests, retry in {self.retry_after_seconds} s"


class TooLarge(ApplianceError):
    """An upload exceeds a configured size limit; nothing was stored."""

    exit_code = 2

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(limit_bytes)
        self.limit_bytes = limit_bytes

    def message(self) -> str:
        return f"upload exceeds the limit of {self.limit_bytes} bytes"


class DecryptionFailed(ApplianceError):
    """A ciphertext failed authentication: wrong key, wrong row or tampered data."""

    exit_code = 4

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def message(self) -> str:
        return f"cannot decrypt {self.what}: wrong key or tampered data"


class CaseLocked(ApplianceError):
    """No key of yours opens this case."""

    exit_code = 7

    def __init__(self, case_id: uuid.UUID, reason: str) -> None:
        super().__init__(case_id, reason)
        self.case_id = case_id
        self.reason = reason  # no-access | key-reset | no-session-key | not-sealed

    def message(self) -> str:
        hints = {
            "no-access": "this case is not shared with you; a handler with access can share it",
            "key-reset": "your password was reset, so your old key is gone; a colleague with access "
                         "or the escrow holder can restore your access",
            "no-session-key": "sign in again to unlock your key",
            "not-sealed": "this case is from before sealed keys; run `appliance keys seal-existing` first",
        }
        return f"no key of yours opens this case: {hints.get(self.reason, self.reason)}"


class EscrowError(ApplianceError):
    """The escrow key could not be used."""

    exit_code = 8

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def message(self) -> str:
        return f"escrow key: {self.reason}"


class ChannelNotReady(ApplianceError):
    """This organisation's reporting channel has nobody to receive reports yet."""

    exit_code = 69

    def __init__(self, tenant_id: uuid.UUID) -> None:
        super().__init__(tenant_id)
        self.tenant_id = tenant_id

    def message(self) -> str:
        return ("the reporting channel has no confirmed reader who receives new reports and no confirmed escrow key, "
                "so nobody could read a report; a handler starts the reader list on their Readers page and the "
                "compliance lead confirms their fingerprint (see README, \"Who can read a report\")")


class ChainBroken(ApplianceError):
    """A tenant's signed chain (reader list, insider list) does not verify at entry ``seq``."""

    exit_code = 9

    def __init__(self, tenant_id: uuid.UUID, seq: int, reason: str) -> None:
        super().__init__(tenant_id, seq, reason)
        self.tenant_id = tenant_id
        self.seq = seq
        self.reason = reason


class ReaderListTampered(ChainBroken):
    """A tenant's reader list does not verify: a row was changed, inserted or removed by someone
    who could not sign for it. Nothing is sealed to any key of it until this is resolved."""

    def message(self) -> str:
        return (f"the reader list of tenant {self.tenant_id} does not verify at entry {self.seq}: {self.reason}; "
                "new reports are refused until it is restored from a backup (see README, \"Who can read a report\")")


class KeyBindingInvalid(ApplianceError):
    """A stored public key's binding (MAC or owner's signature) does not verify: it was planted
    or changed outside the appliance. Nothing is sealed to it."""

    exit_code = 9

    def __init__(self, what: str, object_id: uuid.UUID | str) -> None:
        super().__init__(what, object_id)
        self.what = what
        self.object_id = object_id

    def message(self) -> str:
        return f"the {self.what} key of {self.object_id} is not bound to its owner (changed outside the appliance)"


class BrandingTampered(ApplianceError):
    """A tenant's portal branding does not verify: it was changed outside the appliance. The
    portal shows the appliance's own texts and no logo until an administrator resets it."""

    exit_code = 9

    def __init__(self, tenant_id: uuid.UUID, reason: str) -> None:
        super().__init__(tenant_id, reason)
        self.tenant_id = tenant_id
        self.reason = reason

    def message(self) -> str:
        return (f"the portal branding of tenant {self.tenant_id} does not verify ({self.reason}); the portal shows "
                "the default texts until an administrator resets it on the Branding page")


class NotAReader(ApplianceError):
    """The user is not (or no longer, with this key) on the tenant's confirmed reader list."""

    exit_code = 3

    def __init__(self, user_id: uuid.UUID, reason: str = "not-a-reader") -> None:
        super().__init__(user_id, reason)
        self.user_id = user_id
        self.reason = reason  # not-a-reader | key-changed

    def message(self) -> str:
        if self.reason == "key-changed":
            return (f"user {self.user_id} has a new key that no reader has confirmed yet; a reader confirms it on the "
                    "Readers page (or the escrow holder with `appliance keys recover`)")
        return (f"user {self.user_id} is not a confirmed reader of this organisation; propose them "
                "(`appliance readers propose` or the admin page) and have a reader confirm")


class BackupError(ApplianceError):
    """A backup, copy, verification or restore failed."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def message(self) -> str:
        return f"backup: {self.reason}"


class BackupChainGap(BackupError):
    """A restore chain misses a backup it needs; restoring it would lose data silently."""

    def __init__(self, missing: str, needed_by: str) -> None:
        super().__init__(f"chain gap: {missing} is missing (needed by {needed_by}); refusing to restore")
        self.missing = missing
        self.needed_by = needed_by


class SiteCopyFailed(BackupError):
    """Copies reached some sites but not all; each failed site is named."""

    def __init__(self, failures: dict[str, str]) -> None:
        names = ", ".join(f"{site} ({reason})" for site, reason in sorted(failures.items()))
        super().__init__(f"copy failed at {len(failures)} site(s): {names}")
        self.failures = failures


class AlreadyNamed(InvalidInput):
    """The e-mail address or national ID given is already on an entry of this case (compared
    with what this case recorded only, never with what other cases know)."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "this person is already named in the case")


class PersonConflict(ApplianceError):
    """The e-mail address and the national ID given belong to two different persons."""

    exit_code = 2


class ErasureBlocked(ApplianceError):
    """A person cannot be erased yet (legal hold, legal retention, sole key holder)."""

    exit_code = 3

    def __init__(self, person_id: uuid.UUID, reasons: list[str]) -> None:
        super().__init__(person_id, reasons)
        self.person_id = person_id
        self.reasons = reasons

    def message(self) -> str:
        return "erasure blocked: " + "; ".join(self.reasons)


class InsiderListTampered(ChainBroken):
    """A tenant's insider list does not verify: a version was changed, inserted or removed outside
    the appliance (MAR Art. 18(4) history). Its exports are refused until it is restored from a backup."""

    def message(self) -> str:
        return (f"the insider list of tenant {self.tenant_id} does not verify at version {self.seq}: {self.reason}; "
                "restore it from a backup")
