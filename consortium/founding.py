"""A new consortium without SQL (CON-1): the consortium, its secretariat account and its defaults.

The operator founds a consortium (``kyodo consortium create`` or the operator
screen ``/operator/consortia``) with its name, slug, how many days ahead planned
maintenance is announced, and the latest end date of its members' agreements
(until now 2031-03-31 for everyone); its secretariat account gets an initial
password shown once, to be replaced at the first sign-in. Members are then added
by the secretariat or the operator at any time (:class:`consortium.services.MembershipService`).
Quality targets, which the reporting domain keeps, are set by the wiring layer
in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST
from core.errors import Conflict, Invalid
from core.i18n import gettext as _
from core.text import has_control_characters, normalized_email
from tenants.models import Consortium, SecretariatAccount
from tenants.passwords import hash_secret
from tenants.services import generate_password, login_id_taken

__all__ = ["DEFAULT_LATEST_END", "MIN_NOTICE_DAYS", "Founded", "found_consortium"]

DEFAULT_LATEST_END = dt.date(2031, 3, 31)
"""The latest agreement end of the first consortium, the default for new ones."""
MIN_NOTICE_DAYS = 7
MAX_NOTICE_DAYS = 365
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Founded:
    """The new consortium, its secretariat account and that account's initial password (show it once)."""

    consortium: Consortium
    secretariat: SecretariatAccount
    password: str


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise Invalid(_("Please enter {what}.").format(what=what))
    if has_control_characters(value):
        raise Invalid(_("Line breaks and control characters are not allowed here."))
    return value


async def found_consortium(
    session: AsyncSession,
    *,
    name: str,
    slug: str,
    notice_days: int = MIN_NOTICE_DAYS,
    latest_end: dt.date = DEFAULT_LATEST_END,
    secretariat_login_id: str,
    secretariat_name: str,
    secretariat_email: str,
    today: dt.date | None = None,
) -> Founded:
    """Create a consortium and its secretariat account (the operator's work; no member data is touched).

    :raises Invalid: a missing or malformed field, notice days outside 7–365, a latest end in the past.
    :raises Conflict: the name, slug or login ID is taken.
    """
    name = _text(name, _("a name"))
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise Invalid(_("The slug is 2 to 63 lower-case letters, digits and hyphens, e.g. gunma-kyodo."))
    if not MIN_NOTICE_DAYS <= notice_days <= MAX_NOTICE_DAYS:
        raise Invalid(
            _("Maintenance must be announced between {low} and {high} days ahead.").format(
                low=MIN_NOTICE_DAYS, high=MAX_NOTICE_DAYS
            )
        )
    if latest_end <= (today or dt.datetime.now(JST).date()):
        raise Invalid(_("The latest end of agreements must be in the future."))
    login_id = _text(secretariat_login_id, _("a login ID"))
    email = normalized_email(secretariat_email.strip())
    if email is None:
        raise Invalid(_("The e-mail address {email} is not valid.").format(email=secretariat_email.strip()[:254]))
    taken = await session.scalar(select(Consortium.id).where(or_(Consortium.name == name, Consortium.slug == slug)))
    if taken is not None:
        raise Conflict(_("A consortium with this name or slug already exists."))
    if await login_id_taken(session, login_id):
        raise Conflict(_("The login ID {login_id} is already in use. Choose another.").format(login_id=login_id))
    consortium = Consortium(name=name, slug=slug, maintenance_notice_days=notice_days, latest_end=latest_end)
    session.add(consortium)
    await session.flush()
    password = generate_password()
    account = SecretariatAccount(
        consortium_id=consortium.id,
        login_id=login_id,
        name=_text(secretariat_name, _("a name")),
        email=email,
        password_hash=await hash_secret(password),
        must_change_password=True,
        active=True,
        failed_logins=0,
    )
    session.add(account)
    await session.flush()
    return Founded(consortium, account, password)
