"""A signed-in person's own account: replacing their password."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.i18n import gettext as _
from core.scope import Principal, PrincipalKind
from tenants.models import OperatorAccount, SecretariatAccount, Staff
from tenants.passwords import check_secret, hash_secret
from tenants.repository import TenantRepository
from tenants.services._common import check_password


async def change_own_password(
    session: AsyncSession, principal: Principal, *, current: str, new: str, confirm: str
) -> None:
    """A signed-in person replaces their own password (staff, secretariat or operator).

    The session must be the request's (scoped to the caller's member for staff).

    Raises:
        Invalid: the current password is wrong, or the new one is too short, the same
            as the current one or the login ID, or typed differently twice.
    """
    account: Staff | SecretariatAccount | OperatorAccount | None
    if principal.kind is PrincipalKind.STAFF:
        account = await TenantRepository(session, principal.member_id).staff_account(principal.id)
    elif principal.kind is PrincipalKind.SECRETARIAT:
        account = await session.get(SecretariatAccount, principal.id)
    elif principal.kind is PrincipalKind.OPERATOR:
        account = await session.get(OperatorAccount, principal.id)
    else:
        raise Invalid(_("API keys have no password."))
    if account is None:
        raise Invalid(_("This account cannot be used. Please ask your administrator."))
    if not await check_secret(account.password_hash, current):
        raise Invalid(_("The current password is not correct."))
    check_password(new)
    if new != confirm:
        raise Invalid(_("The new password and its confirmation differ. Please type them again."))
    if new == current:
        raise Invalid(_("Choose a new password that differs from the current one."))
    if new.strip().lower() == account.login_id.lower():
        raise Invalid(_("The password must not be the same as the login ID."))
    account.password_hash = await hash_secret(new)
    account.must_change_password = False
    await session.flush()
