"""Sign-in with ID and password, API keys, IP allow-lists and lockout.

Passwords are Argon2id hashes; a wrong password counts towards a soft lock
(``KYODO_LOGIN_MAX_ATTEMPTS`` in a row locks the account for
``KYODO_LOGIN_LOCK_MINUTES``). Access from outside a member's IP ranges is
refused before the password is even checked, and recorded.

Every attempt is counted in the database before its password is checked, in one
atomic statement, so that guesses sent in parallel cannot get more passwords
checked than the limit allows (see :func:`_check_password`); the check itself
runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import NO_CONSORTIUM, Afterwards, Principal, PrincipalKind, elevated, for_member
from core.settings import SecuritySettings
from policy.engine import PolicyEngine
from policy.permissions import OPERATOR_PERMISSIONS, OPERATOR_ROLE, SECRETARIAT_ROLE, consortium_domain
from tenants import oplog
from tenants.models import (
    Member,
    MemberStatus,
    OperationKind,
    OperatorAccount,
    SecretariatAccount,
    SecurityEvent,
    SecurityEventKind,
    Staff,
    StaffStatus,
)
from tenants.passwords import Verified, check_secret, verify_api_key
from tenants.repository import AccountRepository, AccountTable, TenantRepository

__all__ = [
    "LoginFailure",
    "LoginOutcome",
    "PrincipalLookup",
    "authenticate_api_key",
    "ip_allowed",
    "load_principal",
    "login",
    "record_security_event",
]


log = logging.getLogger(__name__)


class LoginFailure(enum.StrEnum):
    """Why a sign-in was refused (each has its own message on the page)."""

    INVALID = "invalid"
    LOCKED = "locked"
    IP_REFUSED = "ip_refused"
    INACTIVE = "inactive"


@dataclass
class LoginOutcome:
    """A session payload on success, or the reason for refusal."""

    session_data: dict[str, Any] | None = None
    failure: LoginFailure | None = None
    locked_until: dt.datetime | None = None


def ip_allowed(ip: str | None, ranges: list[str]) -> bool:
    """True when no range is set, or ``ip`` falls inside one of ``ranges``."""
    if not ranges:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in ranges)


async def member_ip_ranges(session: AsyncSession, member_id: uuid.UUID) -> list[str]:
    """The member's allowed ranges (the session must be scoped to the member or system)."""
    return await TenantRepository(session, member_id).cidrs()


async def record_security_event(
    session: AsyncSession,
    member_id: uuid.UUID,
    kind: SecurityEventKind,
    *,
    subject: str = "",
    ip: str | None = None,
    user_agent: str = "",
    **detail: Any,
) -> None:
    """Add a security event in the caller's transaction."""
    session.add(
        SecurityEvent(
            member_id=member_id,
            kind=kind,
            subject=subject[:254],
            ip=ip,
            user_agent=user_agent[:500],
            detail=detail,
        )
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class _Account:
    """What a sign-in needs of an account, read before its attempt is counted."""

    table: AccountTable
    id: uuid.UUID
    login_id: str
    password_hash: str | None
    member_id: uuid.UUID | None
    """The member whose security log records the attempt (None: secretariat, operator)."""
    usable: bool
    session_data: dict[str, Any]


@dataclass(frozen=True)
class _Claim:
    """One counted attempt: the right to check one password against the hash."""

    locks: bool
    """This attempt was the last one allowed: the account is locked until ``locked_until`` unless it is right."""
    locked_until: dt.datetime | None


async def _verify(password_hash: str | None, password: str) -> Verified:
    # Argon2id takes tens of milliseconds of CPU by design: in a worker thread (argon2-cffi
    # releases the GIL), never on the event loop, where it would hold up every
    # other request of the process, other people's sign-ins included.
    return await check_secret(password_hash, password)


async def _claim_attempt(session: AsyncSession, account: _Account, security: SecuritySettings) -> _Claim | None:
    """Count an attempt before its password is checked; None while the account is locked.

    One ``UPDATE … RETURNING``: PostgreSQL serialises concurrent updates of the
    row and re-evaluates the ``WHERE`` on the newest version, so each of N
    parallel attempts gets its own count, and the one that reaches the limit
    sets the lock in the same statement. Every later attempt finds the lock and
    is refused without its password being checked, the right one included.
    The claim is committed at once, so the row lock lasts one statement.
    """
    claimed = await AccountRepository(session).claim_attempt(
        account.table,
        account.id,
        max_attempts=security.login_max_attempts,
        lock_minutes=security.login_lock_minutes,
    )
    await session.commit()
    if claimed is None:
        return None
    locks, locked_until = claimed
    return _Claim(locks=locks, locked_until=locked_until)


async def _clear_failures(
    session: AsyncSession, account: _Account, *, signed_in: bool, rehash: str | None = None
) -> None:
    """The right password: the count (this attempt's claim included) and any lock it set are cleared."""
    old = (account.password_hash, rehash) if rehash and account.password_hash else None
    await AccountRepository(session).clear_failures(account.table, account.id, signed_in=signed_in, rehash=old)


async def _check_password(
    session: AsyncSession,
    account: _Account,
    password: str,
    *,
    security: SecuritySettings,
    ip: str | None,
    user_agent: str,
) -> LoginOutcome:
    """Lock-out and password of any account: staff, secretariat and operators alike.

    Why the attempt is counted first (an atomic claim) rather than the account
    row being locked with ``SELECT … FOR UPDATE`` across the password check:
    a ``FOR UPDATE`` held for the ~160 ms of Argon2 makes parallel attempts on one
    account queue on the row lock, and each queued request holds one of the
    process's pooled database connections while it waits. Twenty guesses sent
    at once would then occupy the whole pool for seconds, and every other
    request (other accounts' sign-ins, every page) would wait for a connection:
    the lock wait would be a way to stall the platform. With the claim, the row
    lock lasts for one ``UPDATE`` and its commit, no transaction and no
    connection is held while Argon2 runs, and parallel attempts beyond the
    limit are refused at once instead of waiting.

    The claim counts the attempt as failed until the password proves right, so
    at most ``login_max_attempts`` passwords are ever checked before the lock,
    however many arrive at once. An attempt interrupted during the check stays
    counted, and a lock set by the last claim stays unless the password is
    right: a failure leaves the account safer, never open.
    """
    claim = await _claim_attempt(session, account, security)
    if claim is None:
        locked_until = await AccountRepository(session).locked_until(account.table, account.id)
        return LoginOutcome(failure=LoginFailure.LOCKED, locked_until=locked_until)
    if not (checked := await _verify(account.password_hash, password)):
        return await _failed_attempt(session, account, claim, ip=ip, user_agent=user_agent)
    # The right password is no failed attempt, also when the account may not sign in.
    await _clear_failures(session, account, signed_in=account.usable, rehash=checked.rehash)
    if not account.usable:
        return LoginOutcome(failure=LoginFailure.INACTIVE)
    return LoginOutcome(session_data=account.session_data)


async def _failed_attempt(
    session: AsyncSession, account: _Account, claim: _Claim, *, ip: str | None, user_agent: str
) -> LoginOutcome:
    """Record a wrong password (already counted by its claim)."""
    if account.member_id is not None:
        await record_security_event(
            session,
            account.member_id,
            SecurityEventKind.LOGIN_FAILED,
            subject=account.login_id,
            ip=ip,
            user_agent=user_agent,
        )
    if not claim.locks:
        return LoginOutcome(failure=LoginFailure.INVALID)
    if account.member_id is not None:
        await record_security_event(
            session,
            account.member_id,
            SecurityEventKind.ACCOUNT_LOCKED,
            subject=account.login_id,
            ip=ip,
            user_agent=user_agent,
        )
    return LoginOutcome(failure=LoginFailure.LOCKED, locked_until=claim.locked_until)


async def login(
    session: AsyncSession,
    login_id: str,
    password: str,
    *,
    ip: str | None,
    user_agent: str,
    security: SecuritySettings,
) -> LoginOutcome:
    """Check an ID and password; on success return what the server-side session keeps.

    The attempt is counted and committed before the password is checked (see
    :func:`_check_password`), so ``session`` is committed along the way. The
    caller commits the session either way at the end too: failed attempts'
    security events must be kept even though the sign-in failed.
    """
    login_id = login_id.strip()
    # The ID is unique across all members, so finding it needs every member's
    # rows; everything after that is about one member's account only.
    then = Afterwards()
    async with elevated(session, then):
        staff = await TenantRepository(session, None).staff_by_login_id(login_id)
        if staff is not None:
            then.member(staff.member_id)
    accounts = AccountRepository(session)
    if staff is not None:
        member = await session.get(Member, staff.member_id)
        assert member is not None
        # The network is judged only once the password is right: before that, a real ID
        # from outside the member's networks answers exactly like an unknown one, so IDs
        # cannot be enumerated (and guesses from outside still count towards the lock).
        refused = not ip_allowed(ip, await member_ip_ranges(session, staff.member_id))
        active = staff.status is StaffStatus.ACTIVE and member.status is not MemberStatus.LEFT
        account = _Account(
            table=Staff,
            id=staff.id,
            login_id=staff.login_id,
            password_hash=staff.password_hash,
            member_id=staff.member_id,
            usable=active and not refused,
            session_data={
                "kind": PrincipalKind.STAFF.value,
                "id": str(staff.id),
                "member_id": str(staff.member_id),
            },
        )
        outcome = await _check_password(session, account, password, security=security, ip=ip, user_agent=user_agent)
        if refused and active and outcome.failure is LoginFailure.INACTIVE:
            await record_security_event(
                session,
                staff.member_id,
                SecurityEventKind.IP_REFUSED,
                subject=login_id,
                ip=ip,
                user_agent=user_agent,
            )
            outcome = LoginOutcome(failure=LoginFailure.IP_REFUSED)
        await _record_sign_in(session, staff, outcome, ip=ip, user_agent=user_agent)
        return outcome
    secretariat = await accounts.secretariat_by_login_id(login_id)
    if secretariat is not None:
        account = _Account(
            table=SecretariatAccount,
            id=secretariat.id,
            login_id=secretariat.login_id,
            password_hash=secretariat.password_hash,
            member_id=None,
            usable=secretariat.active,
            session_data={
                "kind": PrincipalKind.SECRETARIAT.value,
                "id": str(secretariat.id),
                "consortium_id": str(secretariat.consortium_id),
            },
        )
        return await _check_password(session, account, password, security=security, ip=ip, user_agent=user_agent)
    operator = await accounts.operator_by_login_id(login_id)
    if operator is None:
        await _verify(None, password)  # same work as for a real account
        # No member's log can hold it (the ID names no member); the answer is the same as for a wrong password.
        log.warning("sign-in refused for an unknown login ID %r from %s", login_id[:64], ip or "an unknown address")
        return LoginOutcome(failure=LoginFailure.INVALID)
    if not ip_allowed(ip, list(security.operator_networks)):
        return LoginOutcome(failure=LoginFailure.IP_REFUSED)
    account = _Account(
        table=OperatorAccount,
        id=operator.id,
        login_id=operator.login_id,
        password_hash=operator.password_hash,
        member_id=None,
        usable=operator.active,
        session_data={"kind": PrincipalKind.OPERATOR.value, "id": str(operator.id)},
    )
    return await _check_password(session, account, password, security=security, ip=ip, user_agent=user_agent)


async def _record_sign_in(
    session: AsyncSession, staff: Staff, outcome: LoginOutcome, *, ip: str | None, user_agent: str
) -> None:
    """A staff sign-in or refused attempt, in the member's operation log (never the password tried)."""
    who = oplog.Who(f"{PrincipalKind.STAFF.value}:{staff.id} {staff.name}", ip, user_agent)
    target = oplog.target("staff", staff.id, staff.login_id)
    if outcome.session_data is not None:
        await oplog.record(session, member_id=staff.member_id, kind=OperationKind.SIGNED_IN, target=target, who=who)
        return
    reason = outcome.failure.value if outcome.failure else LoginFailure.INVALID.value
    await oplog.record(
        session,
        member_id=staff.member_id,
        kind=OperationKind.SIGN_IN_FAILED,
        target=target,
        detail={"reason": reason},
        who=who,
    )


@dataclass
class PrincipalLookup:
    """The caller, or why they may not continue."""

    principal: Principal | None = None
    ip_refused: bool = False


async def _operator_principal(
    session: AsyncSession, account_id: uuid.UUID, *, ip: str | None, security: SecuritySettings
) -> PrincipalLookup:
    await for_member(session, None)
    account = await session.get(OperatorAccount, account_id)
    if account is None or not account.active:
        return PrincipalLookup()
    if not ip_allowed(ip, list(security.operator_networks)):
        return PrincipalLookup(ip_refused=True)
    return PrincipalLookup(
        Principal(
            kind=PrincipalKind.OPERATOR,
            id=account.id,
            name=account.name,
            consortium_id=NO_CONSORTIUM,
            member_id=None,
            permissions=frozenset(OPERATOR_PERMISSIONS),
            roles=(OPERATOR_ROLE,),
            must_change_password=account.must_change_password,
        )
    )


async def load_principal(
    session: AsyncSession,
    data: dict[str, Any],
    policies: PolicyEngine,
    *,
    ip: str | None,
    security: SecuritySettings,
) -> PrincipalLookup:
    """Rebuild the caller from a session's data; None when the account is no longer usable."""
    kind = PrincipalKind(data["kind"])
    if kind is PrincipalKind.OPERATOR:
        return await _operator_principal(session, uuid.UUID(data["id"]), ip=ip, security=security)
    if kind is PrincipalKind.SECRETARIAT:
        await for_member(session, None)
        account = await session.get(SecretariatAccount, uuid.UUID(data["id"]))
        if account is None or not account.active:
            return PrincipalLookup()
        domain = consortium_domain(account.consortium_id)
        policy = policies.consortium_policy(domain, [f"secretariat:{account.id}"])
        subject = f"secretariat:{account.id}"
        return PrincipalLookup(
            Principal(
                kind=kind,
                id=account.id,
                name=account.name,
                consortium_id=account.consortium_id,
                member_id=None,
                permissions=policy.permissions(subject),
                roles=(SECRETARIAT_ROLE,),
                must_change_password=account.must_change_password,
            )
        )
    member_id = uuid.UUID(data["member_id"])
    await for_member(session, member_id)
    staff = await TenantRepository(session, member_id).staff_account(uuid.UUID(data["id"]))
    member = await session.get(Member, member_id)
    if staff is None or member is None or staff.status is not StaffStatus.ACTIVE or member.status is MemberStatus.LEFT:
        return PrincipalLookup()
    if not ip_allowed(ip, await member_ip_ranges(session, member_id)):
        return PrincipalLookup(ip_refused=True)
    policy = await policies.member_policy(session, member_id)
    subject = f"staff:{staff.id}"
    return PrincipalLookup(
        Principal(
            kind=kind,
            id=staff.id,
            name=staff.name,
            consortium_id=member.consortium_id,
            member_id=member_id,
            member_name=member.name,
            department_id=staff.department_id,
            view_scope=staff.view_scope,
            permissions=policy.permissions(subject),
            roles=tuple(policy.roles(subject)),
            must_change_password=staff.must_change_password,
        )
    )


API_KEY_USE_PRECISION = dt.timedelta(minutes=1)
"""An API key's ``last_used_at`` is kept to the minute: a system calling many times a minute writes it once."""


async def authenticate_api_key(
    session: AsyncSession, key: str, policies: PolicyEngine, *, ip: str | None
) -> PrincipalLookup:
    """The member behind an API key (``kyd_<prefix>_<secret>``), if valid and not revoked."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "kyd":
        return PrincipalLookup()
    # The prefix names the key across all members; the rest is the key's member only.
    then = Afterwards()
    async with elevated(session, then):
        api_key = await TenantRepository(session, None).api_key_by_prefix(parts[1])
        valid = api_key is not None and api_key.revoked_at is None and verify_api_key(key, api_key.key_hash)
        if api_key is not None and valid:
            then.member(api_key.member_id)  # from here on, only the key's member
    if api_key is None or not valid:
        return PrincipalLookup()
    member = await session.get(Member, api_key.member_id)
    if member is None or member.status is MemberStatus.LEFT:
        return PrincipalLookup()
    if not ip_allowed(ip, await member_ip_ranges(session, api_key.member_id)):
        await record_security_event(
            session, api_key.member_id, SecurityEventKind.IP_REFUSED, subject=api_key.prefix, ip=ip
        )
        return PrincipalLookup(ip_refused=True)
    now = _now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_USE_PRECISION:
        api_key.last_used_at = now  # one UPDATE a minute, not one per request
    policy = await policies.member_policy(session, api_key.member_id)
    subject = f"apikey:{api_key.id}"
    return PrincipalLookup(
        Principal(
            kind=PrincipalKind.API_KEY,
            id=api_key.id,
            name=api_key.label,
            consortium_id=member.consortium_id,
            member_id=api_key.member_id,
            member_name=member.name,
            permissions=policy.permissions(subject),
            roles=tuple(policy.roles(subject)),
        )
    )
