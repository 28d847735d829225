"""Argon2id cost per kind of secret, old hashes still accepted and upgraded at the next right password."""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import SecuritySettings
from tenants.auth import login
from tenants.models import Staff
from tenants.passwords import (
    SecretKind,
    check_secret,
    hash_access_code,
    hash_password,
    needs_rehash,
    verify_access_code,
    verify_password,
)
from tests import factories as f
from tests.conftest import TwoMembers
from tests.scope import system_access

OLD_DEFAULT = PasswordHasher()  # argon2-cffi's defaults (t=3, 64 MiB, p=4), what earlier hashes used


def test_each_kind_has_its_own_profile() -> None:
    staff = extract_parameters(hash_password("staff-password-1"))
    code = extract_parameters(hash_password("tel-0198", SecretKind.ACCESS_CODE))
    assert (staff.time_cost, staff.memory_cost, staff.parallelism) == (1, 47104, 1)
    assert (code.time_cost, code.memory_cost, code.parallelism) == (2, 19456, 1)
    assert not needs_rehash(hash_password("x" * 10))
    assert needs_rehash(hash_password("x" * 10), SecretKind.ACCESS_CODE)


async def test_an_old_hash_verifies_and_comes_back_rehashed() -> None:
    old = OLD_DEFAULT.hash("tel-0422-old")
    assert verify_password(old, "tel-0422-old")
    right = await verify_access_code(old, "tel-0422-old")
    assert right.ok
    assert right.rehash is not None
    assert extract_parameters(right.rehash).memory_cost == 19456
    assert verify_password(right.rehash, "tel-0422-old")
    wrong = await verify_access_code(old, "tel-0422-bad")
    assert not wrong
    assert wrong.rehash is None
    # A current hash needs nothing more.
    assert (await verify_access_code(await hash_access_code("tel-1"), "tel-1")).rehash is None
    assert not await check_secret(None, "anything")


async def test_sign_in_upgrades_an_old_staff_hash(db_session: AsyncSession, two_members: TwoMembers) -> None:
    await system_access(db_session)
    staff = await db_session.scalar(select(Staff).where(Staff.login_id == "morioka-admin"))
    assert staff is not None
    staff.password_hash = OLD_DEFAULT.hash(f.PASSWORD)
    await db_session.commit()
    outcome = await login(
        db_session, "morioka-admin", f.PASSWORD, ip="127.0.0.1", user_agent="t", security=SecuritySettings()
    )
    await db_session.commit()
    assert outcome.failure is None
    await system_access(db_session)
    await db_session.refresh(staff)
    assert staff.password_hash is not None
    assert extract_parameters(staff.password_hash).memory_cost == 47104
    assert verify_password(staff.password_hash, f.PASSWORD)
