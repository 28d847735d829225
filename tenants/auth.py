"""Sign-in with ID and password, API keys, IP allow-lists and lockout.

Passwords are Argon2id hashes; a wrong password counts towards a soft lock
(``KYODO_LOGIN_MAX_ATTEMPTS`` in a row locks the account for
``KYODO_LOGIN_LOCK_MINUTES``). Access from outside a member's IP ranges is
refused before the password is even checked, and recorded.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.models import Member, MemberStatus, OperatorAccount, SecretariatAccount
from kyodo.settings import SecuritySettings
from policy.engine import PolicyEngine
from policy.permissions import OPERATOR_PERMISSIONS, OPERATOR_ROLE, SECRETARIAT_ROLE, consortium_domain
from tenants.models import ApiKey, IpRange, SecurityEvent, SecurityEventKind, Staff, StaffStatus
from tenants.passwords import verify_api_key, verify_password
from tenants.principal import NO_CONSORTIUM, Principal, PrincipalKind
from tenants.rls import for_member, system_access

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
    rows = await session.scalars(select(IpRange.cidr).where(IpRange.member_id == member_id))
    return [str(r) for r in rows]


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


async def _failed_attempt(
    session: AsyncSession,
    account: Staff | SecretariatAccount | OperatorAccount,
    *,
    security: SecuritySettings,
    member_id: uuid.UUID | None,
    ip: str | None,
    user_agent: str,
) -> LoginOutcome:
    account.failed_logins += 1
    if member_id is not None:
        await record_security_event(
            session,
            member_id,
            SecurityEventKind.LOGIN_FAILED,
            subject=account.login_id,
            ip=ip,
            user_agent=user_agent,
        )
    if account.failed_logins >= security.login_max_attempts:
        account.locked_until = _now() + dt.timedelta(minutes=security.login_lock_minutes)
        account.failed_logins = 0
        if member_id is not None:
            await record_security_event(
                session,
                member_id,
                SecurityEventKind.ACCOUNT_LOCKED,
                subject=account.login_id,
                ip=ip,
                user_agent=user_agent,
            )
        return LoginOutcome(failure=LoginFailure.LOCKED, locked_until=account.locked_until)
    return LoginOutcome(failure=LoginFailure.INVALID)


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

    The caller commits the session either way: failed attempts and lock-outs must
    be kept even though the sign-in failed.
    """
    # The ID is unique across all members, so finding it needs system access;
    # everything after that is about one member's account only.
    await system_access(session)
    login_id = login_id.strip()
    staff = await session.scalar(select(Staff).where(Staff.login_id == login_id))
    if staff is not None:
        member = await session.get(Member, staff.member_id)
        assert member is not None
        await for_member(session, staff.member_id)
        if not ip_allowed(ip, await member_ip_ranges(session, staff.member_id)):
            await record_security_event(
                session,
                staff.member_id,
                SecurityEventKind.IP_REFUSED,
                subject=login_id,
                ip=ip,
                user_agent=user_agent,
            )
            return LoginOutcome(failure=LoginFailure.IP_REFUSED)
        if staff.locked_until and staff.locked_until > _now():
            return LoginOutcome(failure=LoginFailure.LOCKED, locked_until=staff.locked_until)
        if not verify_password(staff.password_hash, password):
            return await _failed_attempt(
                session, staff, security=security, member_id=staff.member_id, ip=ip, user_agent=user_agent
            )
        if staff.status is not StaffStatus.ACTIVE or member.status is MemberStatus.LEFT:
            return LoginOutcome(failure=LoginFailure.INACTIVE)
        staff.failed_logins = 0
        staff.locked_until = None
        staff.last_login_at = _now()
        return LoginOutcome(
            session_data={
                "kind": PrincipalKind.STAFF.value,
                "id": str(staff.id),
                "member_id": str(staff.member_id),
            }
        )
    account = await session.scalar(select(SecretariatAccount).where(SecretariatAccount.login_id == login_id))
    if account is not None:
        return await _account_login(
            session,
            account,
            password,
            {
                "kind": PrincipalKind.SECRETARIAT.value,
                "id": str(account.id),
                "consortium_id": str(account.consortium_id),
            },
            security=security,
            ip=ip,
            user_agent=user_agent,
        )
    operator = await session.scalar(select(OperatorAccount).where(OperatorAccount.login_id == login_id))
    if operator is None:
        verify_password(None, password)  # same work as for a real account
        return LoginOutcome(failure=LoginFailure.INVALID)
    if not ip_allowed(ip, list(security.operator_networks)):
        return LoginOutcome(failure=LoginFailure.IP_REFUSED)
    return await _account_login(
        session,
        operator,
        password,
        {"kind": PrincipalKind.OPERATOR.value, "id": str(operator.id)},
        security=security,
        ip=ip,
        user_agent=user_agent,
    )


async def _account_login(
    session: AsyncSession,
    account: SecretariatAccount | OperatorAccount,
    password: str,
    session_data: dict[str, Any],
    *,
    security: SecuritySettings,
    ip: str | None,
    user_agent: str,
) -> LoginOutcome:
    """Lock-out, password and activity of an account that belongs to no member (secretariat, operator)."""
    if account.locked_until and account.locked_until > _now():
        return LoginOutcome(failure=LoginFailure.LOCKED, locked_until=account.locked_until)
    if not verify_password(account.password_hash, password):
        return await _failed_attempt(session, account, security=security, member_id=None, ip=ip, user_agent=user_agent)
    if not account.active:
        return LoginOutcome(failure=LoginFailure.INACTIVE)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = _now()
    return LoginOutcome(session_data=session_data)


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
    staff = await session.get(Staff, uuid.UUID(data["id"]))
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


async def authenticate_api_key(
    session: AsyncSession, key: str, policies: PolicyEngine, *, ip: str | None
) -> PrincipalLookup:
    """The member behind an API key (``kyd_<prefix>_<secret>``), if valid and not revoked."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "kyd":
        return PrincipalLookup()
    await system_access(session)
    api_key = await session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if api_key is None or api_key.revoked_at is not None or not verify_api_key(key, api_key.key_hash):
        return PrincipalLookup()
    member = await session.get(Member, api_key.member_id)
    await for_member(session, api_key.member_id)
    if member is None or member.status is MemberStatus.LEFT:
        return PrincipalLookup()
    if not ip_allowed(ip, await member_ip_ranges(session, api_key.member_id)):
        await record_security_event(
            session, api_key.member_id, SecurityEventKind.IP_REFUSED, subject=api_key.prefix, ip=ip
        )
        return PrincipalLookup(ip_refused=True)
    api_key.last_used_at = _now()
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
