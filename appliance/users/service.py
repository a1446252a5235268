"""Staff accounts: creation, roles, password + TOTP sign-in, recovery codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import SYSTEM, Actor, Role, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto import totp
from appliance.crypto.binding import KeyBinding
from appliance.crypto.blind_index import EMAIL_ADDRESS, BlindIndex, normalise_email
from appliance.crypto.fields import FieldCipher, Place
from appliance.crypto.passwords import PasswordPolicy, PasswordSecret
from appliance.crypto.sealing import new_private_key, public_key_of
from appliance.crypto.signing import (
    USER_KEYS_CONTEXT,
    sign,
    signing_public,
    signing_seed,
    user_keys_signed,
    user_keys_statement,
)
from appliance.ephemeral.store import EphemeralStore, Subject
from appliance.errors import AccessDenied, AuthenticationFailed, Conflict, InvalidInput, NotFound
from appliance.persons.service import PersonDetails, PersonService
from appliance.users.erasure import ERASED_PASSWORD
from appliance.users.models import Membership, RecoveryCode, User
from appliance.users.sessions import SessionStore
from appliance.users.throttle import SignInLimits, Throttles


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str


@dataclass(frozen=True)
class SignedIn:
    """A user past the first factor, with their private key unlocked by the password (None
    while the password is one an administrator set: the key pair comes with the user's own)."""

    user: User
    private_key: bytes | None = field(repr=False)


@dataclass(frozen=True)
class UserSummary:
    id: uuid.UUID
    email: str
    roles: tuple[tuple[uuid.UUID, str], ...]
    disabled: bool
    two_factor: bool


ERASED_LABEL = "(erased)"


def staff_account_of(session: Session, person_id: uuid.UUID) -> uuid.UUID | None:
    """The staff account recorded for a person, if any (given to ``PersonService``)."""
    return session.execute(sa.select(User.id).where(User.person_id == person_id)).scalar_one_or_none()


class CaseCopies(Protocol):
    """A handler's sealed copies of a tenant's case private keys (``appliance.cases.key_copies``: cases
    sit above users, so the service gets them as a value)."""

    def drop(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        """Drop them, or raise InvalidInput when a case would be left with no other copy."""


class UserService:
    def __init__(self, session: Session, logbook: Logbook, passwords: PasswordPolicy,
                 blind_index: BlindIndex, cipher: FieldCipher, throttles: Throttles, clock: Clock,
                 persons: PersonService, clients: EphemeralStore, limits: SignInLimits, binding: KeyBinding,
                 case_copies: CaseCopies) -> None:
        self._case_copies = case_copies
        self._session = session
        self._clients = clients
        self._limits = limits
        self._binding = binding
        self._persons = persons
        self._logbook = logbook
        self._passwords = passwords
        self._index = blind_index
        self._cipher = cipher
        self._throttles = throttles
        self._clock = clock

    # --- accounts -------------------------------------------------------------------
    def create_user(self, email: str, password: str, roles: list[tuple[uuid.UUID, Role]], actor: Actor,
                    with_totp: bool = False, chosen_by_user: bool = False) -> tuple[User, Enrolment | None]:
        """Create a staff account. With ``with_totp`` the TOTP secret is made now (CLI).

        The password is the administrator's: the user must choose their own at the first
        sign-in, and only then gets a key pair (so no administrator ever knew a password that
        unlocks a key). ``chosen_by_user`` is for the local demo and tests, where the same
        program is both."""
        email = normalise_email(email)
        if not EMAIL_ADDRESS.match(email) or len(email) > 254:
            raise InvalidInput("email", "is not a valid e-mail address")
        index = self._email_index(email)
        if self._session.execute(sa.select(User.id).where(User.email_index == index)).first():
            raise Conflict("a user with this e-mail address already exists")
        now = self._clock()
        secret = self._passwords.derive(password)
        user = User(id=uuid.uuid4(), email_index=index, password_hash=secret.stored,
                    created_at=now, password_changed_at=now, must_change_password=not chosen_by_user)
        if chosen_by_user:
            self._store_private_key(user, new_private_key(), secret)
        self._attach_person(user, email, actor, new=True)
        for tenant_id, role in roles:
            self._session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=Role(role).value))
            self._logbook.record("user.role_granted", actor, tenant_id=tenant_id, object_type="user",
                                 object_id=user.id, detail=f"role={Role(role).value}")
        self._logbook.record("user.created", actor, object_type="user", object_id=user.id)
        enrolment = self.begin_enrolment(user) if with_totp else None
        self._session.flush()
        return user, enrolment

    def get(self, user_id: uuid.UUID) -> User:
        user = self._session.get(User, user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    def by_email(self, email: str) -> User:
        user = self._session.execute(
            sa.select(User).where(User.email_index == self._email_index(normalise_email(email)))
        ).scalar_one_or_none()
        if user is None:
            raise NotFound("user", "with the e-mail address given")  # the address itself is personal data
        return user

    def email_of(self, user: User) -> str:
        """The account's address: sealed under its person's key (or, for accounts from before
        the person chain, under the installation key); an erased account has none."""
        if user.person_id is not None:
            person = self._persons.get(user.person_id)
            return self._persons.cipher(person, SYSTEM).open(user.email_sealed, Place("users", "email", user.id))
        if user.password_hash == ERASED_PASSWORD:
            return ERASED_LABEL
        return self._cipher.open(user.email_sealed, Place("users", "email", user.id))

    def _attach_person(self, user: User, email: str, actor: Actor, new: bool = False) -> None:
        person = self._persons.record(None, PersonDetails(email=email), actor)
        user.person_id = person.id
        user.email_sealed = self._persons.cipher(person, actor).seal(email, Place("users", "email", user.id))
        if new:
            self._session.add(user)
        self._session.flush()
        self._persons.link(person, "staff_user", "user", user.id, actor)

    def link_existing_to_persons(self, actor: Actor) -> int:
        """Give every account from before the person chain its person record, moving its
        e-mail under the person's key (idempotent; `appliance db upgrade` runs it)."""
        users = self._session.execute(sa.select(User).where(
            User.person_id.is_(None), User.password_hash != ERASED_PASSWORD)).scalars().all()
        for user in users:
            self._attach_person(user, self._cipher.open(user.email_sealed, Place("users", "email", user.id)), actor)
        return len(users)

    def principal(self, user_id: uuid.UUID, private_key: bytes | None = None) -> StaffPrincipal:
        rows = self._session.execute(
            sa.select(Membership.tenant_id, Membership.role).where(Membership.user_id == user_id)
        ).all()
        return StaffPrincipal(user_id, frozenset((t, Role(r)) for t, r in rows), private_key)

    def users_in(self, tenant_ids: frozenset[uuid.UUID]) -> list[UserSummary]:
        """Users holding any role in the given tenants, with their roles there."""
        if not tenant_ids:
            return []
        rows = self._session.execute(
            sa.select(Membership.user_id, Membership.tenant_id, Membership.role)
            .where(Membership.tenant_id.in_(tenant_ids))
        ).all()
        roles: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        for user_id, tenant_id, role in rows:
            roles.setdefault(user_id, []).append((tenant_id, role))
        users = self._session.execute(sa.select(User).where(User.id.in_(roles))).scalars().all()
        summaries = [
            UserSummary(u.id, self.email_of(u), tuple(sorted(roles[u.id], key=str)),
                        u.disabled_at is not None, u.totp_enabled_at is not None)
            for u in users
        ]
        return sorted(summaries, key=lambda s: s.email)

    def handlers_of(self, tenant_id: uuid.UUID) -> list[UserSummary]:
        return [u for u in self.users_in(frozenset({tenant_id}))
                if not u.disabled and (tenant_id, Role.HANDLER.value) in u.roles]

    def check_administers(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID,
                          account_wide: bool = False) -> None:
        """An admin of a tenant manages that tenant's users. Changes to the whole account
        (disable, reset 2FA or password) also need admin rights wherever the user has a role,
        so one entity's admin cannot lock out another entity's staff."""
        if not principal.has(tenant_id, Role.ADMIN):
            raise NotFound("tenant", tenant_id)
        tenants = set(self._session.execute(
            sa.select(Membership.tenant_id).where(Membership.user_id == user_id)).scalars())
        if tenant_id not in tenants:
            raise NotFound("user", user_id)
        if account_wide and any(not principal.has(t, Role.ADMIN) for t in tenants):
            raise AccessDenied("change an account that also belongs to another organisation")

    def grant_role(self, user_id: uuid.UUID, tenant_id: uuid.UUID, role: Role, actor: Actor) -> None:
        self.get(user_id)
        exists = self._session.execute(sa.select(Membership.id).where(
            Membership.user_id == user_id, Membership.tenant_id == tenant_id, Membership.role == role.value
        )).first()
        if exists:
            return
        self._session.add(Membership(user_id=user_id, tenant_id=tenant_id, role=role.value))
        self._logbook.record("user.role_granted", actor, tenant_id=tenant_id, object_type="user",
                             object_id=user_id, detail=f"role={role.value}")

    def revoke_role(self, user_id: uuid.UUID, tenant_id: uuid.UUID, role: Role, actor: Actor) -> None:
        """Remove a role. Losing the handler role also drops the user's sealed copies of that
        tenant's case private keys (a former handler's password must open nothing, even with a copy of
        the database), unless a case would be left with no other copy: share it first."""
        if role == Role.HANDLER:
            self._case_copies.drop(user_id, tenant_id)
        result = self._session.execute(sa.delete(Membership).where(
            Membership.user_id == user_id, Membership.tenant_id == tenant_id, Membership.role == role.value
        ))
        if result.rowcount:  # type: ignore[attr-defined]
            self._logbook.record("user.role_revoked", actor, tenant_id=tenant_id, object_type="user",
                                 object_id=user_id, detail=f"role={role.value}")

    def set_disabled(self, user_id: uuid.UUID, disabled: bool, actor: Actor) -> None:
        user = self.get(user_id)
        user.disabled_at = self._clock() if disabled else None
        if disabled:
            SessionStore(self._session, self._clock).destroy_for_user(user_id)
        self._logbook.record("user.disabled" if disabled else "user.enabled", actor,
                             object_type="user", object_id=user_id)

    def reset_two_factor(self, user_id: uuid.UUID, actor: Actor, with_totp: bool = False) -> Enrolment | None:
        """Forget the TOTP secret and recovery codes; the user enrols again at next login."""
        user = self.get(user_id)
        user.totp_secret_sealed = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        self._session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        SessionStore(self._session, self._clock).destroy_for_user(user_id)
        self._logbook.record("user.2fa_reset", actor, object_type="user", object_id=user_id)
        return self.begin_enrolment(user) if with_totp else None

    def change_password(self, user_id: uuid.UUID, current: str, new: str, actor: Actor,
                        keep_session: uuid.UUID | None = None) -> bytes:
        """The user's own change: the same private key, now under the new password (access kept).
        A wrong current password is logged (user.password_change_failed) and throttled per
        account: only the user, or someone holding their session, can try it. Every other
        session of the user ends; ``keep_session`` (the caller's) goes on. Returns the private
        key for the caller's session."""
        user = self.get(user_id)
        throttle = self._throttle_key("password-change", user.id.hex)
        self._throttles.check(throttle)
        private_key = self._unlock(user, current)
        if private_key is None or user.must_change_password:
            self._throttles.fail(throttle)
            self._logbook.record("user.password_change_failed", actor, object_type="user", object_id=user_id)
            raise AuthenticationFailed()
        self._throttles.clear(throttle)
        self._store_private_key(user, private_key, self._passwords.derive(new))
        user.password_changed_at = self._clock()
        ended = SessionStore(self._session, self._clock).destroy_for_user(user_id, keep=keep_session)
        self._logbook.record("user.password_changed", actor, object_type="user", object_id=user_id,
                             detail=f"other_sessions_ended={ended}")
        return private_key

    def set_password(self, user_id: uuid.UUID, new: str, actor: Actor) -> None:
        """An administrator's reset: ends the user's sessions. Nobody but the user knew the old
        password, so the old private key is gone. The user must choose their own password at the
        next sign-in and gets a new key pair then (never one under the administrator's password);
        their copies of case private keys stay stale until a reader confirms the new key and a colleague
        or the escrow holder restores them."""
        user = self.get(user_id)
        had_key = user.private_key_sealed is not None
        user.password_hash = self._passwords.derive(new).stored
        user.public_key = user.private_key_sealed = user.sign_key = user.key_signature = user.key_mac = None
        user.must_change_password = True
        now = self._clock()
        user.password_changed_at = now
        if had_key:
            user.keys_reset_at = now
        SessionStore(self._session, self._clock).destroy_for_user(user_id)
        self._logbook.record("user.password_reset", actor, object_type="user", object_id=user_id,
                             detail="new key pair" if had_key else None)

    def choose_password(self, user_id: uuid.UUID, new: str, actor: Actor) -> bytes:
        """The first password of the user's own, replacing one an administrator set: the user's
        key pair is made now, under it. Returns the private key for the caller's session."""
        user = self.get(user_id)
        if not user.must_change_password:
            raise Conflict("the password was already chosen by its user")
        self._store_private_key(user, new_private_key(), self._passwords.derive(new))
        user.must_change_password = False
        user.password_changed_at = self._clock()
        self._logbook.record("user.password_chosen", actor, object_type="user", object_id=user_id)
        self._logbook.record("user.keys_created", actor, object_type="user", object_id=user_id)
        assert user.private_key_sealed is not None
        return self.unlock_private_key(user_id, new)

    def unlock_private_key(self, user_id: uuid.UUID, password: str) -> bytes:
        """The user's private key from their password (AuthenticationFailed when wrong, or while
        the password is still an administrator's)."""
        private_key = self._unlock(self.get(user_id), password)
        if private_key is None:
            raise AuthenticationFailed()
        return private_key

    def keys_bound(self, user: User) -> bool:
        """Whether the user's stored public keys carry both their own signature and the server's
        MAC (a key planted with SQL carries neither)."""
        if user.public_key is None or user.sign_key is None or user.key_signature is None:
            return False
        statement = user_keys_statement(user.id, user.public_key, user.sign_key)
        return (self._binding.check(user.key_mac, "user-keys", statement)
                and user_keys_signed(user.id, user.public_key, user.sign_key, user.key_signature))

    def unbound_keys(self) -> list[uuid.UUID]:
        """Accounts whose stored keys claim a signature that does not verify (changed in SQL).
        Keys from before 0.3 carry none yet and are bound at the user's next sign-in."""
        rows = self._session.execute(sa.select(User).where(User.sign_key.is_not(None))).scalars().all()
        return [user.id for user in rows if not self.keys_bound(user)]

    def _store_private_key(self, user: User, private_key: bytes, secret: PasswordSecret) -> None:
        user.password_hash = secret.stored
        self._bind_keys(user, private_key)
        user.private_key_sealed = FieldCipher(secret.key, 1).seal(private_key, Place("users", "private_key", user.id))

    def _bind_keys(self, user: User, private_key: bytes) -> None:
        """The public halves, signed by the user's own signing key and MACed by the server."""
        seed = signing_seed(private_key)
        user.public_key, user.sign_key = public_key_of(private_key), signing_public(seed)
        statement = user_keys_statement(user.id, user.public_key, user.sign_key)
        user.key_signature = sign(seed, USER_KEYS_CONTEXT, statement)
        user.key_mac = self._binding.tag("user-keys", statement)

    def _unlock(self, user: User, password: str) -> bytes | None:
        """The user's private key, or None for a wrong password or an administrator's password.
        Upgrades what needs it: a pre-upgrade hash gets its first key pair, changed argon2
        parameters a new wrap, keys from before 0.3 their signature and MAC."""
        verified = self._passwords.verify(user.password_hash, password)
        if verified is None or user.must_change_password:
            return None
        if verified.key is None or user.private_key_sealed is None:
            private_key = new_private_key()
            self._store_private_key(user, private_key, self._passwords.derive(password))
            self._logbook.record("user.keys_created", Actor("user", user.id), object_type="user", object_id=user.id)
            return private_key
        private_key = FieldCipher(verified.key, 1).open_bytes(user.private_key_sealed,
                                                              Place("users", "private_key", user.id))
        if user.sign_key is None or user.public_key != public_key_of(private_key):
            self._bind_keys(user, private_key)  # keys from before 0.3 (or a public key changed in SQL)
            self._logbook.record("user.keys_bound", Actor("user", user.id), object_type="user", object_id=user.id)
        if verified.needs_rehash:
            self._store_private_key(user, private_key, self._passwords.derive(password))
            self._logbook.record("user.password_rehashed", Actor("user", user.id), object_type="user",
                                 object_id=user.id)
        return private_key

    # --- sign-in --------------------------------------------------------------------
    def authenticate_password(self, email: str, password: str, client: str) -> SignedIn:
        """First factor: one argon2id run checks the password and unlocks the private key.
        Never says which part was wrong.

        Failures lock the account for the failing client only, and a client failing many
        accounts, in the host's ephemeral store (``client`` is never stored or logged): so the
        real user from a client that did not fail is let in while an attacker's client is
        locked. Every failure is also counted per account in the database and logged
        (login.failed); once an account has LOCKOUT_ACCOUNT_THRESHOLD of them, each client that
        fails it is locked at its first failure, which keeps guessing from many clients slow."""
        normalised = normalise_email(email)[:254]
        pair, by_client = self._sign_in_subjects(normalised, client)
        self._clients.check(pair, by_client)
        user = self._session.execute(
            sa.select(User).where(User.email_index == self._email_index(normalised))
        ).scalar_one_or_none()
        passed, private_key = self._first_factor(user, password)
        if user is None or not passed or user.disabled_at is not None:
            account = self._throttle_key("account", normalised)
            under_attack = self._throttles.failures(account) >= self._limits.account_alert
            self._throttles.fail(account, lock=False)
            self._clients.fail(Subject(pair.purpose, pair.values, self._limits.strict_pair) if under_attack else pair,
                               by_client)
            self._logbook.record("login.failed", Actor("user", user.id) if user else Actor("anonymous"),
                                 object_type="user", object_id=user.id if user else None,
                                 detail="first factor")
            raise AuthenticationFailed()
        self._clients.clear(pair)
        return SignedIn(user, private_key)

    def _first_factor(self, user: User | None, password: str) -> tuple[bool, bytes | None]:
        """(password right, private key). An administrator's password unlocks no key: the
        user is let in only to choose their own."""
        if user is None:
            self._passwords.verify(None, password)  # the same work as for a real account
            return False, None
        if user.must_change_password:
            return self._passwords.verify(user.password_hash, password) is not None, None
        private_key = self._unlock(user, password)
        return private_key is not None, private_key

    def _sign_in_subjects(self, account: str, client: str) -> tuple[Subject, Subject]:
        return (Subject("sign-in/account-client", (account, client), self._limits.pair),
                Subject("sign-in/client", (client,), self._limits.client))

    def begin_enrolment(self, user: User) -> Enrolment:
        """The TOTP secret to show while the user is not yet enrolled."""
        if user.totp_enabled_at is not None:
            raise Conflict("two-factor authentication is already set up")
        place = Place("users", "totp_secret", user.id)
        if user.totp_secret_sealed is None:
            secret = totp.new_secret()
            user.totp_secret_sealed = self._cipher.seal(secret, place)
        else:
            secret = self._cipher.open(user.totp_secret_sealed, place)
        return Enrolment(secret, totp.provisioning_uri(secret, self.email_of(user)))

    def complete_enrolment(self, user_id: uuid.UUID, code: str, client: str) -> list[str]:
        """Confirm the first code; returns the one-time recovery codes (shown once)."""
        user = self.get(user_id)
        self._check_code(user, code, client, allow_recovery=False)
        user.totp_enabled_at = self._clock()
        codes = totp.new_recovery_codes()
        self._session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        for code_text in codes:
            self._session.add(RecoveryCode(user_id=user_id, code_hash=self._recovery_hash(code_text)))
        self._logbook.record("user.2fa_enrolled", Actor("user", user_id), object_type="user", object_id=user_id)
        return codes

    def verify_second_factor(self, user_id: uuid.UUID, code: str, client: str) -> None:
        """TOTP code or one recovery code; a used code never works twice."""
        user = self.get(user_id)
        if user.totp_enabled_at is None:
            raise Conflict("two-factor authentication is not set up")
        self._check_code(user, code, client, allow_recovery=True)
        user.last_login_at = self._clock()
        self._logbook.record("login.succeeded", Actor("user", user_id), object_type="user", object_id=user_id)

    def _check_code(self, user: User, code: str, client: str, allow_recovery: bool) -> None:
        """Locked per account (in the database): only someone who has the password gets here, and
        six digits must not be guessed from many clients at once; and per client, with the
        sign-in failures of that client."""
        account = self._throttle_key("totp", user.id.hex)
        _, by_client = self._sign_in_subjects("", client)
        self._throttles.check(account)
        self._clients.check(by_client)
        if user.disabled_at is None and user.totp_secret_sealed is not None:
            secret = self._cipher.open(user.totp_secret_sealed, Place("users", "totp_secret", user.id))
            step = totp.matching_step(secret, code[:32], self._clock(), user.totp_last_step)
            if step is not None:
                user.totp_last_step = step
                self._throttles.clear(account)
                self._logbook.record("2fa.succeeded", Actor("user", user.id), object_type="user",
                                     object_id=user.id, detail="totp")
                return
            if allow_recovery and self._use_recovery_code(user, code[:32]):
                self._throttles.clear(account)
                self._logbook.record("2fa.succeeded", Actor("user", user.id), object_type="user",
                                     object_id=user.id, detail="recovery code")
                return
        self._throttles.fail(account)
        self._clients.fail(by_client)
        self._logbook.record("2fa.failed", Actor("user", user.id), object_type="user", object_id=user.id)
        raise AuthenticationFailed()

    def _use_recovery_code(self, user: User, code: str) -> bool:
        row = self._session.execute(sa.select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == self._recovery_hash(code),
            RecoveryCode.used_at.is_(None),
        )).scalar_one_or_none()
        if row is None:
            return False
        row.used_at = self._clock()
        return True

    def remaining_recovery_codes(self, user_id: uuid.UUID) -> int:
        return int(self._session.execute(sa.select(sa.func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))).scalar_one())

    def _email_index(self, normalised: str) -> bytes:
        return self._index.compute("user-email", normalised)

    def _recovery_hash(self, code: str) -> bytes:
        return self._index.compute("recovery-code", totp.normalise_recovery_code(code))

    def _throttle_key(self, scope: str, value: str) -> bytes:
        return self._index.compute(f"throttle/{scope}", value)
