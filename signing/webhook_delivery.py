"""Posting webhook notices: the target check, one attempt, retries, and giving up.

Only targets on public addresses are posted to unless ``KYODO_WEBHOOK_ALLOW_PRIVATE``
allows private ones (closed networks such as LGWAN, and tests): the host is
resolved, every address checked, and the connection made to the checked address
(the URL's host kept for ``Host`` and TLS), so a name that resolves elsewhere the
second time (DNS rebinding) cannot send the request inside. Redirects are never
followed (a 3xx is a failure) and every attempt has a short timeout.

An attempt runs in the task's transaction with its delivery row locked, so two
workers never post the same notice at once; the task names the attempt it
makes, so a duplicate task for an attempt already made does nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.i18n import current_locale
from core.i18n import gettext as _
from core.outbox import enqueue
from core.settings import Settings
from policy.services import RoleService
from signing.mail import MAIL_LOCALE, queue_mail
from signing.repositories.webhooks import WebhookRepository
from signing.webhooks import (
    DELIVER_TASK,
    HAND_OVER_LEASE,
    RETRY_SCHEDULE,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    message_id,
    open_secret,
    sign,
)

__all__ = ["Outcome", "attempt_delivery", "check_target", "queue_due", "resend"]

log = logging.getLogger(__name__)

LEASE = HAND_OVER_LEASE
"""A due retry handed to a worker is handed again after this long if it was lost on the way."""
USER_AGENT = "Kyodo-Webhooks/1"


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    address: str


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_target(settings: Settings, url: str) -> Target:
    """Resolve ``url``'s host and refuse what the platform may not post to.

    :raises Invalid: not http(s), no host, unresolvable, or an address that is
        private, loopback, link-local, multicast or reserved (unless allowed).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(_("A webhook URL must start with https:// (or http://) and name a host."))
    if parts.username or parts.password:
        raise Invalid(_("A webhook URL must not contain a user name or password."))
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid(_("The port of the webhook URL is not valid.")) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Invalid(_("The host {host} of the webhook URL cannot be found.").format(host=host)) from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not settings.integrations.webhook_allow_private:
        for address in addresses:
            if _refused(address):
                raise Invalid(
                    _(
                        "The webhook URL points to a private, loopback or link-local address ({address}); "
                        "the platform does not post there."
                    ).format(address=address)
                )
    return Target(url=url.strip(), host=host, address=str(addresses[0]))


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the HTTP status (None: no answer) and how long it took."""

    status: int | None
    elapsed_ms: int
    error: str = ""

    @property
    def ok(self) -> bool:
        """The endpoint took the notice (2xx)."""
        return self.status is not None and 200 <= self.status < 300


def _post(settings: Settings, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Outcome:
    started = time.monotonic()
    try:
        target = check_target(settings, endpoint.url)
    except Invalid as exc:
        return Outcome(None, 0, f"refused: {exc.message}")
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    msg_id = message_id(delivery.id)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(open_secret(settings, endpoint.sealed_secret), msg_id, timestamp, body),
        "host": urlsplit(target.url).netloc.rpartition("@")[2],
    }
    parts = urlsplit(target.url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    netloc = f"{address}:{parts.port}" if parts.port else address
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    timeout = settings.integrations.webhook_timeout_seconds
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False) as client:
            response = client.post(pinned, content=body, headers=headers, extensions={"sni_hostname": target.host})
    except httpx.HTTPError as exc:
        return Outcome(None, int((time.monotonic() - started) * 1000), f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(response.status_code, int((time.monotonic() - started) * 1000))


async def _administrators(session: AsyncSession, repo: WebhookRepository, member_id: uuid.UUID) -> list[str]:
    assignments = await RoleService(session, member_id).assignments()
    ids = [
        uuid.UUID(subject.removeprefix("staff:"))
        for subject, roles in assignments.items()
        if subject.startswith("staff:") and "admin" in roles
    ]
    return await repo.active_staff_emails(ids)


async def _give_up(
    session: AsyncSession, settings: Settings, repo: WebhookRepository, endpoint: WebhookEndpoint, reason: str
) -> None:
    """Disable the endpoint, stop its waiting notices and tell the member's administrators."""
    endpoint.active = False
    endpoint.disabled_at = dt.datetime.now(dt.UTC)
    endpoint.disabled_reason = reason[:1000]
    for waiting in await repo.pending_of(endpoint.id):
        waiting.status = DeliveryStatus.FAILED
        waiting.next_attempt_at = None
        waiting.last_error = waiting.last_error or reason[:1000]
    member_name = await repo.member_name(endpoint.member_id)
    token = current_locale.set(MAIL_LOCALE)
    try:
        subject = _("[Kyodo] The webhook {label} was disabled").format(label=endpoint.label)
        body = _(
            "Dear administrators of {member},\n\n"
            "Notices to the webhook {label} ({url}) could not be delivered for about a day, "
            "so the platform stopped sending to it.\n\nLast reason: {reason}\n\n"
            "Check the receiving system, then switch the webhook on again and re-send the notices "
            "on the webhook screen:\n{link}\n"
        ).format(
            member=member_name,
            label=endpoint.label,
            url=endpoint.url,
            reason=reason,
            link=f"{settings.server.staff_base_url()}/admin/webhooks/{endpoint.id}",
        )
    finally:
        current_locale.reset(token)
    for email in await _administrators(session, repo, endpoint.member_id):
        queue_mail(session, settings, to=email, subject=subject, body=body)


async def attempt_delivery(
    session: AsyncSession, settings: Settings, delivery_id: uuid.UUID, *, attempt: int | None = None
) -> Outcome | None:
    """Make attempt number ``attempt`` (0-based; None: whichever is next) of a delivery; None when nothing was done.

    Runs across members (inside :func:`core.scope.elevated`). Nothing is done for
    a delivery already delivered or failed, locked by another worker, or whose
    attempt ``attempt`` was already made.
    """
    repo = WebhookRepository(session, None)
    delivery = await repo.delivery(delivery_id, lock=True)
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return None
    if attempt is not None and delivery.attempts != attempt:
        return None
    endpoint = await repo.endpoint(delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        delivery.last_error = "endpoint disabled"
        return None
    outcome = _post(settings, endpoint, delivery)
    now = dt.datetime.now(dt.UTC)
    repo.add(
        WebhookAttempt(
            member_id=delivery.member_id,
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=outcome.status,
            response_ms=outcome.elapsed_ms,
            error=outcome.error,
        )
    )
    delivery.attempts += 1
    delivery.last_status = outcome.status
    delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif outcome.error.startswith("refused:"):
        # The address itself is refused: no retry changes that until the URL does.
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        made = delivery.attempts - delivery.round_start
        if made > len(RETRY_SCHEDULE):
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            reason = outcome.error or f"HTTP {outcome.status}"
            log.warning("webhook %s gave up after %s attempts: %s", endpoint.id, made, reason)
            await _give_up(session, settings, repo, endpoint, reason)
        else:
            delivery.next_attempt_at = now + RETRY_SCHEDULE[made - 1]
    await session.flush()
    return outcome


async def queue_due(session: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Hand every delivery whose retry is due to a worker (through the outbox); returns how many.

    Each is leased for :data:`LEASE`: if the task is lost on the way it is handed
    again then; if it ran, its attempt number no longer matches and the second
    hand-over does nothing.
    """
    moment = now or dt.datetime.now(dt.UTC)
    repo = WebhookRepository(session, None)
    due = await repo.due(moment)
    for delivery in due:
        enqueue(session, DELIVER_TASK, delivery_id=str(delivery.id), attempt=delivery.attempts)
        delivery.next_attempt_at = moment + LEASE
    await session.flush()
    return len(due)


async def resend(session: AsyncSession, repo: WebhookRepository, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again, with the same ``webhook-id``, and a full day of retries if it fails."""
    delivery.status = DeliveryStatus.PENDING
    delivery.round_start = delivery.attempts
    delivery.next_attempt_at = dt.datetime.now(dt.UTC) + LEASE
    enqueue(session, DELIVER_TASK, delivery_id=str(delivery.id), attempt=delivery.attempts)
    await session.flush()
    return delivery
