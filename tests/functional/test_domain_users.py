"""Staff accounts on real databases: passwords, lockout, TOTP, recovery codes, web sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from appliance.actors import CLI, Actor, Role
from appliance.audit.models import AuditEvent
from appliance.cases.key_copies import HandlerCopies
from appliance.context import AppContext
from appliance.crypto import totp
from appliance.crypto.passwords import Argon2Params, PasswordPolicy
from appliance.errors import AuthenticationFailed, Conflict, InvalidInput, LockedOut, NotFound
from appliance.keys.keyring import installation_cipher
from appliance.keys.secrets import INSTALLATION_DATA
from appliance.services import Services, reporter_session_limits, staff_session_limits
from appliance.settings import Settings
from appliance.users.models import RecoveryCode, Throttle, User
from appliance.users.service import UserService
from appliance.users.sessions import SessionLimits
from tests.functional.conftest import STAFF_PASSWORD, Org, ServicesOpener
from tests.support import FrozenClock

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

EMAIL = "Officer@Example.com"
_clients = itertools.count()


def new_client() -> str:
    """A fresh client address, so only the per-account throttle is in play."""
    return f"198.51.100.{next(_clients)}"


@pytest.fixture
def officer(services: Services, org_a: Org) -> User:
    """A handler whose password is their own (the first-sign-in choice is behind them)."""
    user, _ = services.users.create_user(EMAIL, STAFF_PASSWORD, [(org_a.tenant.id, Role.HANDLER)], CLI,
                                         chosen_by_user=True)
    services.session.commit()
    return user


def test_a_password_an_administrator_set_unlocks_no_key_until_the_user_chose_their_own(
        services: Services, org_a: Org) -> None:
    user, _ = services.users.create_user("fresh@example.com", "set by the administrator", [(org_a.tenant.id,
                                         Role.HANDLER)], CLI)
    assert user.must_change_password and user.public_key is None and user.private_key_sealed is None
    signed_in = services.users.authenticate_password("fresh@example.com", "set by the administrator", new_client())
    assert signed_in.user.id == user.id and signed_in.private_key is None  # let in, only to choose
    with pytest.raises(AuthenticationFailed):
        services.users.unlock_private_key(user.id, "set by the administrator")
    with pytest.raises(AuthenticationFailed):  # the account page's change needs a chosen password
        services.users.change_password(user.id, "set by the administrator", "something else entirely", CLI)
    with pytest.raises(InvalidInput):
        services.users.choose_password(user.id, "short", CLI)
    private = services.users.choose_password(user.id, "my own words for this", CLI)
    assert services.users.unlock_private_key(user.id, "my own words for this") == private
    assert services.users.keys_bound(user) and not user.must_change_password
    with pytest.raises(Conflict):
        services.users.choose_password(user.id, "and again my own words", CLI)
    actions = [e.action for e in services.session.execute(sa.select(AuditEvent).where(
        AuditEvent.object_id == str(user.id))).scalars()]
    assert "user.password_chosen" in actions and "user.keys_created" in actions


@pytest.fixture
def enrolled(services: Services, officer: User, clock: FrozenClock) -> Iterator[tuple[User, str, list[str]]]:
    """The officer with TOTP set up: (user, secret, recovery codes)."""
    enrolment = services.users.begin_enrolment(officer)
    codes = services.users.complete_enrolment(officer.id, totp.current_code(enrolment.secret, clock()), new_client())
    services.session.commit()
    clock.advance(seconds=totp.PERIOD)  # the enrolment code's step is used up
    yield officer, enrolment.secret, codes


# --- accounts ---------------------------------------------------------------------------------
def test_create_user_normalises_email_and_refuses_duplicates(services: Services, officer: User, org_a: Org) -> None:
    assert services.users.by_email("  officer@EXAMPLE.com ").id == officer.id
    assert services.users.email_of(officer) == "officer@example.com"
    assert services.users.principal(officer.id).has(org_a.tenant.id, Role.HANDLER)

    with pytest.raises(Conflict):
        services.users.create_user("OFFICER@example.COM", STAFF_PASSWORD, [], CLI)
    for email in ("no-at-sign", "a@b", "two@@example.com", "space in@example.com"):
        with pytest.raises(InvalidInput) as refused:
            services.users.create_user(email, STAFF_PASSWORD, [], CLI)
        assert refused.value.field == "email"
    for password in ("short", "aaaaaaaaaaaaaaaa", "x" * 1025):
        with pytest.raises(InvalidInput) as refused:
            services.users.create_user("new@example.com", password, [], CLI)
        assert refused.value.field == "password"
    with pytest.raises(NotFound):
        services.users.by_email("nobody@example.com")


def test_password_authentication(services: Services, officer: User) -> None:
    assert services.users.authenticate_password("officer@example.com", STAFF_PASSWORD, new_client()).user.id == officer.id
    assert services.users.authenticate_password(" OFFICER@example.com", STAFF_PASSWORD, new_client()).user.id == officer.id

    for email, password in ((EMAIL, STAFF_PASSWORD + "!"), (EMAIL, ""), ("nobody@example.com", STAFF_PASSWORD),
                            (EMAIL, STAFF_PASSWORD.upper())):
        with pytest.raises(AuthenticationFailed) as failed:
            services.users.authenticate_password(email, password, new_client())
        assert str(failed.value) == "authentication failed"  # never says which part was wrong


def test_password_is_stored_as_argon2id_only(services: Services, officer: User) -> None:
    stored = services.session.execute(sa.select(User.password_hash).where(User.id == officer.id)).scalar_one()
    assert stored.startswith("$appliance-argon2id$v=19$") and STAFF_PASSWORD not in stored


# --- lockout ---------------------------------------------------------------------------------------
def fail_logins(services: Services, email: str, times: int, client: str | None = None) -> None:
    """``times`` wrong passwords, from ``client`` or each from a fresh client."""
    for _ in range(times):
        with pytest.raises(AuthenticationFailed):
            services.users.authenticate_password(email, "wrong password, again", client or new_client())


def login_failures_logged(services: Services) -> int:
    return int(services.session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "login.failed")).scalar_one())


@pytest.mark.fresh_database
def test_failures_lock_the_account_for_the_failing_client_only(
        services: Services, settings: Settings, clock: FrozenClock, officer: User,
        other_services: ServicesOpener) -> None:
    attacker = new_client()
    fail_logins(services, EMAIL, settings.lockout_threshold, attacker)
    services.session.commit()

    with pytest.raises(LockedOut) as locked:  # even the right password, from the attacker's client
        services.users.authenticate_password(EMAIL, STAFF_PASSWORD, attacker)
    assert 0 < locked.value.retry_after_seconds <= settings.lockout_base_seconds
    # The real user, from a client that did not fail, is let in: nobody can lock a handler out
    # from everywhere by failing on purpose.
    assert services.users.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.id == officer.id
    services.session.commit()
    with other_services() as fresh:  # another worker of this host: the attacker's client is still locked
        with pytest.raises(LockedOut):
            fresh.users.authenticate_password(EMAIL, STAFF_PASSWORD, attacker)

    clock.advance(seconds=settings.lockout_base_seconds)
    with other_services() as fresh:  # the lock is short
        assert fresh.users.authenticate_password(EMAIL, STAFF_PASSWORD, attacker).user.id == officer.id
        fresh.session.commit()
    with other_services() as fresh:  # a success clears the pair's count
        fail_logins(fresh, EMAIL, settings.lockout_threshold - 1, attacker)
        assert fresh.users.authenticate_password(EMAIL, STAFF_PASSWORD, attacker).user.id == officer.id


def test_lockouts_back_off_but_stay_short(services: Services, settings: Settings, clock: FrozenClock,
                                          officer: User) -> None:
    attacker = new_client()
    fail_logins(services, EMAIL, settings.lockout_threshold, attacker)
    locks = []
    for _ in range(10):
        with pytest.raises(LockedOut) as locked:
            services.users.authenticate_password(EMAIL, STAFF_PASSWORD, attacker)
        locks.append(locked.value.retry_after_seconds)
        clock.advance(seconds=locks[-1])
        fail_logins(services, EMAIL, 1, attacker)  # one more wrong guess as soon as the lock ends

    assert locks[0] == settings.lockout_base_seconds and locks[1] == 2 * locks[0]
    assert locks == sorted(locks)
    assert max(locks) == settings.lockout_max_seconds <= 15 * 60
    clock.advance(seconds=settings.lockout_max_seconds)
    assert services.users.authenticate_password(EMAIL, STAFF_PASSWORD, attacker).user.id == officer.id


def test_many_clients_failing_one_account_are_counted_and_then_locked_at_their_first_failure(
        services: Services, settings: Settings, officer: User) -> None:
    before = login_failures_logged(services)
    fail_logins(services, EMAIL, settings.lockout_account_threshold)  # each from a fresh client
    account = services.users._throttle_key("account", "officer@example.com")
    assert services.throttles.failures(account) == settings.lockout_account_threshold  # counted in the database
    assert login_failures_logged(services) == before + settings.lockout_account_threshold

    # Now a new client is locked at its first failure, while the real user still gets in.
    botnet = new_client()
    fail_logins(services, EMAIL, 1, botnet)
    with pytest.raises(LockedOut):
        services.users.authenticate_password(EMAIL, STAFF_PASSWORD, botnet)
    assert services.users.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.id == officer.id


def test_one_client_guessing_many_accounts_is_locked(
        services: Services, settings: Settings, officer: User) -> None:
    client = new_client()
    for n in range(settings.lockout_client_threshold):
        with pytest.raises(AuthenticationFailed):
            services.users.authenticate_password(f"guess{n}@example.com", "wrong password, again", client)

    with pytest.raises(LockedOut):
        services.users.authenticate_password(EMAIL, STAFF_PASSWORD, client)
    assert services.users.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.id == officer.id


def test_sign_in_throttles_keep_no_client_address_in_the_database(
        services: Services, ctx: AppContext, settings: Settings, officer: User) -> None:
    client = "198.51.100.250"
    fail_logins(services, EMAIL, settings.lockout_threshold, client)
    services.session.commit()
    rows = services.session.execute(sa.select(Throttle.key_hash)).scalars().all()
    assert len(rows) == 1  # the account's count only
    day = ctx.clock().date().isoformat()
    index = ctx.blind_index
    for candidate in (client, f"{day}|{client}"):  # what the throttle rows used to be keyed by
        for scope in ("throttle/staff-client", "throttle/account-client"):
            assert index.compute(scope, candidate) not in rows


def test_failed_logins_are_logged_without_the_address(services: Services, officer: User) -> None:
    fail_logins(services, EMAIL, 1)
    fail_logins(services, "stranger@example.com", 1)

    events = services.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "login.failed")
                                      .order_by(AuditEvent.seq)).scalars().all()
    assert [(e.actor_type, e.object_id) for e in events] == [("user", str(officer.id)), ("anonymous", None)]
    assert not any("example.com" in repr(vars(e)) for e in events)


# --- TOTP and recovery codes -----------------------------------------------------------------------
def test_totp_enrolment_and_sign_in(services: Services, clock: FrozenClock, officer: User) -> None:
    enrolment = services.users.begin_enrolment(officer)
    assert enrolment.uri.startswith("otpauth://totp/") and enrolment.secret in enrolment.uri
    assert services.users.begin_enrolment(officer).secret == enrolment.secret  # same secret until confirmed
    with pytest.raises(Conflict):
        services.users.verify_second_factor(officer.id, totp.current_code(enrolment.secret, clock()), new_client())
    wrong = next(c for c in ("000000", "111111") if c != totp.current_code(enrolment.secret, clock()))
    with pytest.raises(AuthenticationFailed):
        services.users.complete_enrolment(officer.id, wrong, new_client())

    codes = services.users.complete_enrolment(officer.id, totp.current_code(enrolment.secret, clock()), new_client())

    assert len(codes) == 10 and len(set(codes)) == 10
    assert services.users.remaining_recovery_codes(officer.id) == 10
    with pytest.raises(Conflict):
        services.users.begin_enrolment(officer)
    clock.advance(seconds=totp.PERIOD)
    services.users.verify_second_factor(officer.id, totp.current_code(enrolment.secret, clock()), new_client())
    assert services.users.get(officer.id).last_login_at == clock()


def test_totp_code_cannot_be_replayed(services: Services, clock: FrozenClock,
                                      enrolled: tuple[User, str, list[str]]) -> None:
    user, secret, _ = enrolled
    code = totp.current_code(secret, clock())
    services.users.verify_second_factor(user.id, code, new_client())

    with pytest.raises(AuthenticationFailed):
        services.users.verify_second_factor(user.id, code, new_client())
    clock.advance(seconds=10)  # same 30 s step: still refused
    with pytest.raises(AuthenticationFailed):
        services.users.verify_second_factor(user.id, totp.current_code(secret, clock()), new_client())
    previous = totp.current_code(secret, clock() - dt.timedelta(seconds=totp.PERIOD))
    with pytest.raises(AuthenticationFailed):  # an older step after a newer one was used
        services.users.verify_second_factor(user.id, previous, new_client())

    clock.advance(seconds=totp.PERIOD)
    services.users.verify_second_factor(user.id, totp.current_code(secret, clock()), new_client())


def test_totp_accepts_one_step_of_clock_drift(services: Services, clock: FrozenClock,
                                             enrolled: tuple[User, str, list[str]]) -> None:
    user, secret, _ = enrolled
    clock.advance(seconds=5 * totp.PERIOD)
    services.users.verify_second_factor(user.id, totp.current_code(secret, clock() + dt.timedelta(seconds=totp.PERIOD)),
                                        new_client())
    clock.advance(seconds=5 * totp.PERIOD)
    with pytest.raises(AuthenticationFailed):
        services.users.verify_second_factor(
            user.id, totp.current_code(secret, clock() + dt.timedelta(seconds=3 * totp.PERIOD)), new_client())


def test_each_recovery_code_works_exactly_once(services: Services, enrolled: tuple[User, str, list[str]]) -> None:
    user, _, codes = enrolled
    for n, code in enumerate(codes):
        spelled = code.lower().replace("-", " ") if n % 2 else code
        services.users.verify_second_factor(user.id, spelled, new_client())
        assert services.users.remaining_recovery_codes(user.id) == len(codes) - n - 1
        with pytest.raises(AuthenticationFailed):
            services.users.verify_second_factor(user.id, code, new_client())
    services.session.commit()
    used = services.session.execute(sa.select(RecoveryCode.used_at).where(RecoveryCode.user_id == user.id)).scalars()
    assert all(at is not None for at in used)


def test_recovery_codes_are_stored_only_as_keyed_hashes(
        services: Services, enrolled: tuple[User, str, list[str]]) -> None:
    user, _, codes = enrolled
    stored = services.session.execute(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)
                                      ).scalars().all()
    assert len(stored) == 10 and all(len(h) == 32 for h in stored)
    for code in codes:
        assert not any(code.replace("-", "").encode() in h or code.encode() in h for h in stored)


def test_wrong_second_factor_codes_lock_the_account(
        services: Services, settings: Settings, clock: FrozenClock, enrolled: tuple[User, str, list[str]]) -> None:
    user, secret, codes = enrolled
    current = totp.current_code(secret, clock())
    wrong = next(c for c in ("123456", "654321", "000000") if c != current)
    for _ in range(settings.lockout_threshold):
        with pytest.raises(AuthenticationFailed):
            services.users.verify_second_factor(user.id, wrong, new_client())

    with pytest.raises(LockedOut):
        services.users.verify_second_factor(user.id, current, new_client())
    with pytest.raises(LockedOut):
        services.users.verify_second_factor(user.id, codes[0], new_client())
    clock.advance(seconds=settings.lockout_base_seconds + 1)
    services.users.verify_second_factor(user.id, codes[0], new_client())


# --- rehash, disable, reset -----------------------------------------------------------------------------
@pytest.mark.fresh_database
def test_login_rehashes_when_argon2_parameters_change(
        services: Services, ctx: AppContext, officer: User, other_services: ServicesOpener) -> None:
    old_hash = officer.password_hash
    assert ctx.passwords.needs_rehash(old_hash) is False
    stronger = PasswordPolicy(Argon2Params(time_cost=2, memory_kib=512, parallelism=1))
    upgraded = UserService(services.session, services.logbook, stronger, ctx.blind_index,
                           installation_cipher(ctx.secret(INSTALLATION_DATA)), services.throttles, ctx.clock, services.persons,
                           ctx.ephemeral, services.sign_in_limits, ctx.binding,
                           HandlerCopies(services.session))

    assert upgraded.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.id == officer.id
    services.session.commit()

    with other_services() as fresh:
        new_hash = fresh.users.get(officer.id).password_hash
        assert new_hash != old_hash and "m=512,t=2,p=1" in new_hash
        assert fresh.session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "user.password_rehashed")).scalar_one() == 1
    assert upgraded.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.password_hash == new_hash  # stable
    # The installation's own parameters still verify it, and rehash back on that login.
    assert services.users.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.id == officer.id
    assert "m=256,t=1,p=1" in services.users.get(officer.id).password_hash
    with pytest.raises(AuthenticationFailed):
        upgraded.authenticate_password(EMAIL, "not the password at all", new_client())


def test_disabled_user_cannot_sign_in_and_loses_sessions(
        services: Services, ctx: AppContext, enrolled: tuple[User, str, list[str]], clock: FrozenClock) -> None:
    user, secret, codes = enrolled
    limits = staff_session_limits(ctx)
    token, _ = services.web_sessions.create("staff", "full", user_id=user.id)
    other_token, _ = services.web_sessions.create("staff", "password", user_id=user.id)
    services.session.commit()

    services.users.set_disabled(user.id, True, CLI)
    services.session.commit()

    assert services.web_sessions.lookup(token, "staff", limits) is None
    assert services.web_sessions.lookup(other_token, "staff", limits) is None
    with pytest.raises(AuthenticationFailed):
        services.users.authenticate_password(EMAIL, STAFF_PASSWORD, new_client())
    with pytest.raises(AuthenticationFailed):
        services.users.verify_second_factor(user.id, totp.current_code(secret, clock()), new_client())
    with pytest.raises(AuthenticationFailed):
        services.users.verify_second_factor(user.id, codes[0], new_client())

    services.users.set_disabled(user.id, False, CLI)
    assert services.users.authenticate_password(EMAIL, STAFF_PASSWORD, new_client()).user.id == user.id


def test_reset_two_factor_forgets_secret_codes_and_sessions(
        services: Services, ctx: AppContext, enrolled: tuple[User, str, list[str]], clock: FrozenClock) -> None:
    user, secret, codes = enrolled
    token, _ = services.web_sessions.create("staff", "full", user_id=user.id)

    fresh = services.users.reset_two_factor(user.id, CLI, with_totp=True)
    services.session.commit()

    assert fresh is not None and fresh.secret != secret
    row = services.users.get(user.id)
    assert row.totp_enabled_at is None and row.totp_last_step is None
    assert services.users.remaining_recovery_codes(user.id) == 0
    assert services.web_sessions.lookup(token, "staff", staff_session_limits(ctx)) is None
    with pytest.raises(Conflict):  # not enrolled any more: neither old codes nor recovery codes count
        services.users.verify_second_factor(user.id, codes[0], new_client())
    with pytest.raises(AuthenticationFailed):  # the old secret does not complete the new enrolment
        services.users.complete_enrolment(user.id, totp.current_code(secret, clock()), new_client())
    assert len(services.users.complete_enrolment(user.id, totp.current_code(fresh.secret, clock()), new_client())) == 10


def test_password_change_and_admin_reset(services: Services, ctx: AppContext, officer: User) -> None:
    token, _ = services.web_sessions.create("staff", "full", user_id=officer.id)
    with pytest.raises(AuthenticationFailed):
        services.users.change_password(officer.id, "not the current one", "a brand new passphrase", CLI)
    services.users.change_password(officer.id, STAFF_PASSWORD, "a brand new passphrase", CLI)
    assert services.users.authenticate_password(EMAIL, "a brand new passphrase", new_client()).user.id == officer.id

    services.users.set_password(officer.id, "the administrator's choice", CLI)
    assert services.web_sessions.lookup(token, "staff", staff_session_limits(ctx)) is None
    with pytest.raises(AuthenticationFailed):
        services.users.authenticate_password(EMAIL, "a brand new passphrase", new_client())


def test_own_password_change_is_throttled_logged_and_ends_the_other_sessions(
        services: Services, ctx: AppContext, settings: Settings, clock: FrozenClock, officer: User) -> None:
    limits = staff_session_limits(ctx)
    mine, mine_row = services.web_sessions.create("staff", "full", user_id=officer.id)
    others = [services.web_sessions.create("staff", "full", user_id=officer.id)[0] for _ in range(2)]
    actor = Actor("user", officer.id)
    for _ in range(settings.lockout_threshold):
        with pytest.raises(AuthenticationFailed):
            services.users.change_password(officer.id, "a guess at the password", "a brand new passphrase", actor,
                                           keep_session=mine_row.id)
    with pytest.raises(LockedOut):  # someone holding the session cannot go on guessing the password
        services.users.change_password(officer.id, STAFF_PASSWORD, "a brand new passphrase", actor,
                                       keep_session=mine_row.id)
    failed = services.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action == "user.password_change_failed")).scalars().all()
    assert len(failed) == settings.lockout_threshold and {e.object_id for e in failed} == {str(officer.id)}
    assert all(services.web_sessions.lookup(t, "staff", limits) is not None for t in others)  # nothing changed yet

    clock.advance(seconds=settings.lockout_base_seconds)
    services.users.change_password(officer.id, STAFF_PASSWORD, "a brand new passphrase", actor, keep_session=mine_row.id)
    assert all(services.web_sessions.lookup(t, "staff", limits) is None for t in others)
    assert services.web_sessions.lookup(mine, "staff", limits) is not None
    changed = services.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action == "user.password_changed")).scalar_one()
    assert changed.detail == "other_sessions_ended=2"


# --- web sessions --------------------------------------------------------------------------------
def test_session_store_create_lookup_rotate_destroy(services: Services, ctx: AppContext, officer: User) -> None:
    limits = staff_session_limits(ctx)
    store = services.web_sessions
    token, row = store.create("staff", "password", user_id=officer.id)
    services.session.commit()

    assert store.lookup(token, "staff", limits) is row
    assert store.lookup(token, "reporter", limits) is None  # kinds never mix
    for bad in (None, "", "x" * 129, token + "x", token[:-1]):
        assert store.lookup(bad, "staff", limits) is None
    stored = services.session.execute(sa.text("SELECT token_hash FROM web_sessions")).scalars().all()
    assert all(token.encode() not in bytes(h) for h in stored)

    rotated = store.rotate(row, "full")
    assert rotated != token
    assert store.lookup(token, "staff", limits) is None  # the pre-login token is dead: no fixation
    found = store.lookup(rotated, "staff", limits)
    assert found is not None and found.stage == "full" and found.user_id == officer.id

    store.destroy(rotated)
    assert store.lookup(rotated, "staff", limits) is None


def test_session_idle_expiry(services: Services, ctx: AppContext, clock: FrozenClock, officer: User) -> None:
    limits = staff_session_limits(ctx)
    token, _ = services.web_sessions.create("staff", "full", user_id=officer.id)

    clock.advance(minutes=ctx.settings.session_idle_minutes - 1)
    assert services.web_sessions.lookup(token, "staff", limits) is not None  # and touched
    clock.advance(minutes=ctx.settings.session_idle_minutes - 1)
    assert services.web_sessions.lookup(token, "staff", limits) is not None
    clock.advance(minutes=ctx.settings.session_idle_minutes, seconds=1)
    assert services.web_sessions.lookup(token, "staff", limits) is None
    assert services.session.execute(sa.text("SELECT count(*) FROM web_sessions")).scalar_one() == 0


def test_session_absolute_expiry_despite_activity(
        services: Services, ctx: AppContext, clock: FrozenClock, officer: User) -> None:
    limits = staff_session_limits(ctx)
    token, _ = services.web_sessions.create("staff", "full", user_id=officer.id)
    step = dt.timedelta(minutes=ctx.settings.session_idle_minutes - 1)
    absolute = dt.timedelta(hours=ctx.settings.session_absolute_hours)

    elapsed = dt.timedelta()
    while elapsed + step <= absolute:
        clock.advance(seconds=step.total_seconds())
        elapsed += step
        assert services.web_sessions.lookup(token, "staff", limits) is not None, elapsed
    clock.advance(seconds=(absolute - elapsed).total_seconds() + 1)
    assert services.web_sessions.lookup(token, "staff", limits) is None


def test_reporter_sessions_are_short(services: Services, ctx: AppContext, clock: FrozenClock) -> None:
    limits: SessionLimits = reporter_session_limits(ctx)
    token, row = services.web_sessions.create("reporter", "full")
    assert row.user_id is None

    clock.advance(minutes=ctx.settings.reporter_session_minutes + 1)
    assert services.web_sessions.lookup(token, "reporter", limits) is None


def test_purge_expired_sessions(services: Services, ctx: AppContext, clock: FrozenClock, officer: User) -> None:
    staff = staff_session_limits(ctx)
    old, _ = services.web_sessions.create("staff", "full", user_id=officer.id)
    clock.advance(minutes=ctx.settings.session_idle_minutes + 1)
    live, _ = services.web_sessions.create("staff", "full", user_id=officer.id)

    assert services.web_sessions.purge_expired({"staff": staff}) == 1
    assert services.web_sessions.lookup(live, "staff", staff) is not None
    assert services.web_sessions.lookup(old, "staff", staff) is None


# --- throttles under concurrency ------------------------------------------------------------------
def throttle_failures(ctx: AppContext, key: bytes) -> int:
    with ctx.sessions() as session:
        return int(session.execute(sa.select(Throttle.failures).where(Throttle.key_hash == key)).scalar_one())


@pytest.mark.fresh_database
def test_concurrent_failures_are_all_counted(backend: str, ctx: AppContext, services: Services,
                                            other_services: ServicesOpener) -> None:
    """Two requests failing at once must both count, or parallel guessing outruns the lockout."""
    if backend == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no interleaving")
    key = hashlib.sha256(b"throttle/account/target").digest()
    services.throttles.fail(key)
    services.session.commit()
    other: dict[str, str] = {}

    def interleave(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        # Right after this request read the row, another request counts its own failure.
        if other or not statement.lstrip().upper().startswith("SELECT") or "FROM throttles" not in statement:
            return
        other["state"] = "running"
        with ctx.sessions() as session:
            session.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            try:
                Services(ctx, session).throttles.fail(key)
                session.commit()
                other["state"] = "counted"
            except sa.exc.OperationalError:  # it would wait for this request's row lock
                session.rollback()
                other["state"] = "waited"

    event.listen(ctx.engine, "after_cursor_execute", interleave)
    try:
        services.throttles.fail(key)
        services.session.commit()
    finally:
        event.remove(ctx.engine, "after_cursor_execute", interleave)
    if other["state"] == "waited":  # and, once this request committed, counted its failure
        with other_services() as again:
            again.throttles.fail(key)
            again.session.commit()

    assert other["state"] in ("counted", "waited")
    assert throttle_failures(ctx, key) == 3


@pytest.mark.fresh_database
def test_simultaneous_first_failures_both_count(backend: str, ctx: AppContext, services: Services) -> None:
    """Two requests failing for a key nobody has failed before: the second insert meets the
    first one's row; it must count, not crash with a unique violation."""
    if backend == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no interleaving")
    key = hashlib.sha256(b"throttle/account/first-time").digest()
    services.throttles.fail(key)  # inserted, not yet committed: the row's key is locked
    outcome: dict[str, object] = {}

    def second_request() -> None:
        with ctx.sessions() as session:
            try:
                Services(ctx, session).throttles.fail(key)  # blocks until the first commits
                session.commit()
                outcome["ok"] = True
            except Exception as exc:
                outcome["error"] = repr(exc)

    worker = threading.Thread(target=second_request)
    worker.start()
    worker.join(timeout=2)  # give it time to reach the blocked insert; the result is checked below
    services.session.commit()
    worker.join(timeout=60)
    assert outcome == {"ok": True}
    with ctx.sessions() as session:
        assert session.get(Throttle, key).failures == 2
