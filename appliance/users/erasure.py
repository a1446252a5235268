"""What erasing a staff member's person record does to their account.

The account row stays, as a pseudonym: messages, notes and logbook events keep pointing at
its id. Everything that identifies the person or lets anyone use the account goes.
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.tenants.models import ChannelRecipient
from appliance.users.models import Membership, RecoveryCode, User, WebSession

ERASED_PASSWORD = "!erased"  # noqa: S105 (a marker, not a password: no hash has this form, so nobody signs in)


def erase_staff_account(session: Session, user: User, now: dt.datetime) -> None:
    """Disable the account for good and drop its identity, keys, roles, sessions and codes.
    Its e-mail stays only as ciphertext under the person's key, which the caller destroys; its
    sealed copies of case private keys the caller drops too (``appliance.cases.key_copies``)."""
    session.execute(sa.delete(ChannelRecipient).where(ChannelRecipient.user_id == user.id))
    session.execute(sa.delete(Membership).where(Membership.user_id == user.id))
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(sa.delete(WebSession).where(WebSession.user_id == user.id))
    user.email_index = secrets.token_bytes(32)  # frees the address; matches no HMAC
    user.password_hash = ERASED_PASSWORD
    user.totp_secret_sealed = None
    user.totp_enabled_at = None
    user.public_key = None
    user.private_key_sealed = None
    user.disabled_at = user.disabled_at or now
    user.person_id = None
    session.flush()
