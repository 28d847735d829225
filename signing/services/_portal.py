"""The contractor portal: every concluded contract an address agreed to, across members, for as long as it is kept.

A contractor's personal link dies after ``KYODO_LINK_DAYS``; the concluded
contract does not. The portal gives it back without an account: the
contractor types its e-mail address and receives a sign-in link (one use,
valid ``KYODO_PORTAL_LINK_MINUTES``). The answer on the screen is the same
whether or not the address is known, so the portal tells nobody who is a
party; a link is only mailed to an address that agreed to a concluded
contract. At most ``KYODO_PORTAL_LINKS_PER_HOUR`` links are asked for per
address in an hour, and ten times as many per client address.

Every request and every use is a :class:`~signing.models.PortalSignIn` row
(when, from where, whether a link was mailed); each download is an audit
event of the contract's trail, in the contract's member, as through the
personal link.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Gone, Invalid, NotFound
from core.i18n import gettext as _
from core.scope import elevated, for_member
from core.settings import Settings
from signing.audit import Actor, Origin
from signing.mail import queue_mail, render_mail
from signing.models import Contract, Party, PortalSignIn
from signing.repositories.portal import PortalRepository
from signing.services._common import now, token_digest, valid_email
from signing.services._downloads import Download, certificate_download, document_download
from tenants.models import Member

__all__ = ["PortalAnswer", "PortalContract", "PortalSession", "portal_url", "request_sign_in", "use_sign_in"]


class PortalAnswer(enum.Enum):
    """What a request for a sign-in link led to; the screen shows the same for both but a limit."""

    ACCEPTED = "accepted"
    """Mailed if the address is known; nothing if not (the requester cannot tell)."""
    LIMITED = "limited"
    """Too many requests for this address or from this client address in the last hour."""


def portal_url(settings: Settings) -> str:
    """The portal's address, for mails."""
    return f"{settings.server.base_url()}/portal"


def _normal(email: str) -> str:
    return email.strip().lower()


async def request_sign_in(session: AsyncSession, settings: Settings, email: str, origin: Origin) -> PortalAnswer:
    """Record a request for a sign-in link, and mail one when the address agreed to a concluded contract.

    :raises Invalid: not an e-mail address (said whatever the address is).
    """
    address = _normal(email)
    if not valid_email(address):
        raise Invalid(_("Please enter a valid e-mail address."))
    contracts = settings.contracts
    async with elevated(session):
        repo = PortalRepository(session)
        by_address, by_client = await repo.requests_since(now() - dt.timedelta(hours=1), email=address, ip=origin.ip)
        # A client address may be a whole company's or office's: ten times as many.
        limit = contracts.portal_links_per_hour
        if by_address >= limit or by_client >= 10 * limit:
            return PortalAnswer.LIMITED
        token = secrets.token_urlsafe(32)
        row = PortalSignIn(
            email=address,
            token_hash=token_digest(token),
            expires_at=now() + dt.timedelta(minutes=contracts.portal_link_minutes),
            requested_ip=origin.ip,
            user_agent=origin.user_agent[:500],
            mailed=await repo.knows(address),
        )
        repo.add(row)
        if row.mailed:
            subject, body = render_mail(
                "portal_sign_in", minutes=contracts.portal_link_minutes, portal=portal_url(settings)
            )
            queue_mail(
                session,
                settings,
                to=address,
                subject=subject,
                body=body,
                link=f"{portal_url(settings)}/sign-in/{token}",
            )
        await session.flush()
    return PortalAnswer.ACCEPTED


def _cookie(settings: Settings, row: PortalSignIn) -> str:
    material = f"portal:{row.id}:{row.token_hash}"
    mac = hmac.new(settings.app.resolved_secret_key().encode(), material.encode(), hashlib.sha256).hexdigest()
    return f"{row.id}.{mac}"


async def use_sign_in(session: AsyncSession, settings: Settings, token: str, origin: Origin) -> str:
    """Use a sign-in link (once): the value of the portal cookie.

    :raises NotFound: no such link. :raises Gone: used already, or expired.
    """
    if not token or len(token) > 200:
        raise NotFound(_("This sign-in link is not valid. Please ask for a new one."))
    async with elevated(session):
        row = await PortalRepository(session).by_token_hash(token_digest(token))
        if row is None:
            raise NotFound(_("This sign-in link is not valid. Please ask for a new one."))
        if row.used_at is not None:
            raise Gone(_("This sign-in link was used already. Please ask for a new one."))
        if row.expires_at < now():
            raise Gone(_("This sign-in link has expired. Please ask for a new one."))
        row.used_at = now()
        row.used_ip = origin.ip
        await session.flush()
        return _cookie(settings, row)


@dataclass
class PortalContract:
    """One concluded contract of the portal's list."""

    contract: Contract
    party: Party
    member: Member


class PortalSession:
    """The portal opened by a used sign-in link: the contracts of one address, and their downloads."""

    def __init__(self, session: AsyncSession, settings: Settings, email: str, origin: Origin) -> None:
        self.session = session
        self.settings = settings
        self.email = email
        self.origin = origin

    @classmethod
    async def open(cls, session: AsyncSession, settings: Settings, cookie: str, origin: Origin) -> PortalSession | None:
        """The session the cookie names, while it lasts; None otherwise (sign in again)."""
        raw_id, _sep, _mac = cookie.partition(".")
        try:
            sign_in_id = uuid.UUID(raw_id)
        except ValueError:
            return None
        async with elevated(session):
            row = await PortalRepository(session).sign_in(sign_in_id)
        if row is None or row.used_at is None or not hmac.compare_digest(cookie, _cookie(settings, row)):
            return None
        if row.used_at + dt.timedelta(minutes=settings.contracts.portal_session_minutes) < now():
            return None
        return cls(session, settings, row.email, origin)

    async def contracts(self) -> list[PortalContract]:
        """Every concluded contract the address agreed to, newest first, across members."""
        async with elevated(self.session):
            rows = await PortalRepository(self.session).contracts_of(self.email)
        return [PortalContract(c, p, m) for c, p, m in rows]

    async def _one(self, contract_id: uuid.UUID) -> tuple[Contract, Party]:
        async with elevated(self.session):
            found = await PortalRepository(self.session).contract_of(self.email, contract_id)
        if found is None:
            raise NotFound(_("The contract was not found."))
        contract, party = found
        # Downloads read and record in the contract's member only.
        await for_member(self.session, contract.member_id)
        return contract, party

    async def download(self, contract_id: uuid.UUID, document_id: uuid.UUID) -> Download:
        """The sealed file of a contract of the list, recorded in its trail."""
        contract, party = await self._one(contract_id)
        return await document_download(
            self.session,
            self.settings,
            contract,
            document_id,
            Actor.of_party(party, self.origin),
            sealed_only=True,
        )

    async def certificate(self, contract_id: uuid.UUID) -> Download:
        """The certificate of conclusion of a contract of the list, recorded in its trail."""
        contract, party = await self._one(contract_id)
        return await certificate_download(self.session, self.settings, contract, Actor.of_party(party, self.origin))
