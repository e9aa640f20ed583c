"""Accounts, passwords, sessions and API tokens.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended
parameters); a hash made with older parameters is upgraded at the next sign-in. Session cookies
and API tokens are 256-bit random strings of which only the SHA-256 is stored, so a copy of the
database signs nobody in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dashboard.access import ALL_PATCHES, Principal, Role
from dashboard.db import reading, writing
from hof.errors import HofError
from hof.registry import ApiToken, User, UserSession
from hof.registry.carers import CARER_ROLE, homes_cared_for
from hof.settings import DashboardSettings

__all__ = [
    "AccountError",
    "SignInRefused",
    "UserView",
    "authenticate",
    "check_password_policy",
    "create_token",
    "create_user",
    "end_session",
    "list_users",
    "principal_for_session",
    "principal_for_token",
    "revoke_token",
    "set_active",
    "set_password",
    "start_session",
]

TOKEN_PREFIX = "hof_"
MIN_PASSWORD = 12
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(HofError):
    """An account could not be created or changed; the message says why."""


class SignInRefused(HofError):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    email: str
    name: str
    role: Role
    patches: tuple[str, ...]
    active: bool
    last_login_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password_policy(password: str, email: str) -> None:
    """NCSC guidance: length over complexity rules, and not the account's own name."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if password.strip().lower() in {email.lower(), email.split("@")[0].lower()}:
        raise AccountError("a password must not be the email address")


def _view(user: User) -> UserView:
    return UserView(
        user.id,
        user.email,
        user.name,
        Role(user.role),
        tuple(user.patches),
        user.active,
        user.last_login_at,
    )


def create_user(
    engine: Engine,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    patches: tuple[str, ...] = (),
) -> UserView:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise AccountError(f"{email!r} is not an email address")
    check_password_policy(password, email)
    if role is Role.ADMIN:
        patches = (ALL_PATCHES,)
    with writing(engine) as session:
        if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
            raise AccountError(f"there is already an account for {email}")
        user = User(
            email=email,
            name=name.strip() or email,
            role=role.value,
            patches=list(patches),
            password_hash=_hasher.hash(password),
            active=True,
            failed_logins=0,
            created_at=_now(),
        )
        session.add(user)
        session.flush()
        return _view(user)


def list_users(engine: Engine) -> list[UserView]:
    with reading(engine) as session:
        return [_view(u) for u in session.scalars(sa.select(User).order_by(User.email))]


def set_active(engine: Engine, email: str, active: bool) -> UserView:
    """Enable or disable an account; disabling also ends its sessions and tokens' use."""
    with writing(engine) as session:
        user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise AccountError(f"no account for {email}")
        user.active = active
        if not active:
            session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
        return _view(user)


def set_password(engine: Engine, email: str, password: str) -> None:
    with writing(engine) as session:
        user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise AccountError(f"no account for {email}")
        check_password_policy(password, user.email)
        user.password_hash = _hasher.hash(password)
        user.failed_logins, user.locked_until = 0, None
        session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))


def authenticate(engine: Engine, email: str, password: str, policy: DashboardSettings) -> UserView:
    """The account for these credentials, or SignInRefused (same words for every failure).

    A wrong password is counted in a transaction that commits: the refusal is raised only
    after it, or the count (and the lock it leads to) would be rolled back with the error.
    """
    with writing(engine) as session:
        outcome = _check_password(session, email, password, policy)
    if isinstance(outcome, SignInRefused):
        raise outcome
    return outcome


def _check_password(
    session: Session, email: str, password: str, policy: DashboardSettings
) -> UserView | SignInRefused:
    refused = SignInRefused("The email address or password is not right")
    now = _now()
    # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises): guesses sent in
    # parallel must not each read the same count and lose each other's increment.
    user = session.scalar(
        sa.select(User).where(User.email == email.strip().lower()).with_for_update()
    )
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return refused
    if user.locked_until is not None and user.locked_until > now:
        return SignInRefused(
            "This account is locked after too many wrong passwords. Try again later "
            "or ask an administrator."
        )
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= policy.login_attempts:
            user.locked_until = now + dt.timedelta(seconds=policy.login_lock_s)
            user.failed_logins = 0
        return refused
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return _view(user)


def start_session(engine: Engine, user_id: int, policy: DashboardSettings) -> str:
    """A new session for the user; returns the cookie value (only its hash is stored)."""
    cookie = secrets.token_urlsafe(32)
    now = _now()
    with writing(engine) as session:
        # Expired sessions of anyone are swept here: sign-ins are rare enough to carry it.
        session.execute(sa.delete(UserSession).where(UserSession.expires_at < now))
        session.add(
            UserSession(
                id_hash=_digest(cookie),
                user_id=user_id,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + dt.timedelta(seconds=policy.session_max_s),
                last_seen_at=now,
            )
        )
    return cookie


def end_session(engine: Engine, cookie: str) -> None:
    with writing(engine) as session:
        session.execute(sa.delete(UserSession).where(UserSession.id_hash == _digest(cookie)))


def _cares_for(session: Session, user: User) -> tuple[str, ...]:
    # Read on every request, so a care relationship an admin ends stops at the next one.
    return homes_cared_for(session, user.id) if user.role == CARER_ROLE else ()


def principal_for_session(
    engine: Engine, cookie: str, policy: DashboardSettings
) -> Principal | None:
    """The signed-in person for a session cookie, or None if it is unknown, idle or expired."""
    now = _now()
    with writing(engine) as session:
        row = session.execute(
            sa.select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.id_hash == _digest(cookie))
        ).first()
        if row is None:
            return None
        user_session, user = row
        idle = now - user_session.last_seen_at > dt.timedelta(seconds=policy.session_idle_s)
        if not user.active or user_session.expires_at <= now or idle:
            session.delete(user_session)
            return None
        # Touch at most once a minute: a page with live updates must not write on every call.
        if now - user_session.last_seen_at > dt.timedelta(seconds=60):
            user_session.last_seen_at = now
        return Principal(
            user.id,
            user.email,
            user.name,
            Role(user.role),
            tuple(user.patches),
            "page",
            user_session.csrf,
            _cares_for(session, user),
        )


def create_token(engine: Engine, email: str, name: str) -> str:
    """A new API token for the account; the token is shown once and only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writing(engine) as session:
        user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise AccountError(f"no account for {email}")
        session.add(
            ApiToken(
                user_id=user.id,
                name=name,
                prefix=token[: len(TOKEN_PREFIX) + 6],
                token_hash=_digest(token),
                created_at=_now(),
            )
        )
    return token


def revoke_token(engine: Engine, prefix: str) -> int:
    with writing(engine) as session:
        result = session.execute(
            sa.update(ApiToken)
            .where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def principal_for_token(engine: Engine, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = _now()
    with writing(engine) as session:
        row = session.execute(
            sa.select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
        ).first()
        if row is None or not row[1].active:
            return None
        api_token, user = row
        if api_token.last_used_at is None or now - api_token.last_used_at > dt.timedelta(
            seconds=60
        ):
            api_token.last_used_at = now
        return Principal(
            user.id,
            user.email,
            user.name,
            Role(user.role),
            tuple(user.patches),
            "api",
            cares_for=_cares_for(session, user),
        )
