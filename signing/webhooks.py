"""Webhooks: a member's other systems are told at once when its contracts move (API-1).

An administrator registers endpoints (URL, the events it wants, a secret of its
own shown once). When an event of a contract is appended to its audit trail,
:func:`emit` writes one :class:`WebhookDelivery` per subscribed endpoint and an
outbox row in the same transaction: the notice exists exactly when the event
does. A worker posts it (:mod:`signing.webhook_delivery`), signed in the style
of the Standard Webhooks specification::

    webhook-id: msg_<32 hex>            (the same on every retry and re-send)
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">

The HMAC key is the secret's base64 part after ``whsec_``. A failed delivery is
tried again on a schedule that lasts about a day (:data:`RETRY_SCHEDULE`); one
that still fails disables its endpoint and mails the member's administrators.

Events and where they come from (audit kind → webhook event):
``sent``, ``opened`` → ``viewed``, ``agreed``, ``declined``, ``forwarded``,
``cancelled``, ``sealed`` → ``concluded`` and ``sealed`` (concluded means
sealed: both are told when the sealed file is stored; ``concluded`` for the
register, ``sealed`` for the files' hashes), ``renewed``.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hmac
import secrets
import uuid
from hashlib import sha256
from typing import Any

from advanced_alchemy.base import BigIntBase, UUIDv7AuditBase
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BigInteger, Boolean, DateTime, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.settings import Settings
from signing.blobs import master_key, open_with_master
from signing.labels import pgettext
from signing.models import AuditKind
from tenants.models import MemberOwned

__all__ = [
    "DELIVER_TASK",
    "EVENTS",
    "FROM_AUDIT",
    "RETRY_SCHEDULE",
    "RETRY_TASK",
    "DeliveryStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "event_labels",
    "message_id",
    "new_secret",
    "open_secret",
    "seal_secret",
    "sign",
    "state_labels",
]

DELIVER_TASK = "signing.deliver_webhook"
HAND_OVER_LEASE = dt.timedelta(minutes=15)
"""An attempt handed to a worker (the first one too) is handed again by beat after this long unless it was
made: a worker killed mid-attempt, or a task lost on the way, costs minutes instead of the broker's hour."""
RETRY_TASK = "signing.retry_webhooks"

EVENTS: tuple[str, ...] = (
    "sent",
    "viewed",
    "agreed",
    "declined",
    "forwarded",
    "cancelled",
    "concluded",
    "sealed",
    "renewed",
)
"""Events an endpoint may choose, in the order the screens list them."""

FROM_AUDIT: dict[str, tuple[str, ...]] = {
    AuditKind.SENT.value: ("sent",),
    AuditKind.OPENED.value: ("viewed",),
    AuditKind.AGREED.value: ("agreed",),
    AuditKind.DECLINED.value: ("declined",),
    AuditKind.FORWARDED.value: ("forwarded",),
    AuditKind.CANCELLED.value: ("cancelled",),
    AuditKind.SEALED.value: ("concluded", "sealed"),
    AuditKind.RENEWED.value: ("renewed",),
}

RETRY_SCHEDULE: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
"""Waits before the 2nd, 3rd … attempt (Standard Webhooks' schedule, stretched to about a day: 27.6 hours)."""

_SECRET_PREFIX = "whsec_"  # noqa: S105 - the secrets' visible prefix
_AAD = b"kyodo-webhook-secret"


def event_labels() -> dict[str, str]:
    """Each event's label on the screens, in the current language."""
    return {
        "sent": pgettext("webhook event", "Sent"),
        "viewed": pgettext("webhook event", "Viewed"),
        "agreed": pgettext("webhook event", "Agreed"),
        "declined": pgettext("webhook event", "Declined"),
        "forwarded": pgettext("webhook event", "Forwarded"),
        "cancelled": pgettext("webhook event", "Cancelled"),
        "concluded": pgettext("webhook event", "Concluded"),
        "sealed": pgettext("webhook event", "Sealed"),
        "renewed": pgettext("webhook event", "Timestamp renewed"),
    }


def state_labels() -> dict[str, str]:
    """Words for an endpoint's state (``on``, ``off``) and a delivery's (``pending``, ``delivered``, ``failed``)."""
    return {
        "on": pgettext("webhook state", "On"),
        "off": pgettext("webhook state", "Off"),
        "pending": pgettext("webhook delivery", "Waiting"),
        "delivered": pgettext("webhook delivery", "Delivered"),
        "failed": pgettext("webhook delivery", "Failed"),
    }


class DeliveryStatus(enum.StrEnum):
    """Where one notice is."""

    PENDING = "pending"
    """Not delivered yet: waiting for its first attempt or for the next retry."""
    DELIVERED = "delivered"
    """The endpoint answered 2xx."""
    FAILED = "failed"
    """Every retry failed, or the endpoint was disabled or refused; re-sendable from the screen."""


class WebhookEndpoint(MemberOwned, UUIDv7AuditBase):
    """A URL of one of the member's systems and the events it is told of."""

    __tablename__ = "webhook_endpoint"

    label: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONB, default=list)
    sealed_secret: Mapped[str] = mapped_column(Text)
    """The signing secret, encrypted with the master key (AES-GCM); shown in clear only once, at creation."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)


class WebhookDelivery(MemberOwned, UUIDv7AuditBase):
    """One notice of one event to one endpoint; its ``id`` is the ``webhook-id`` on every attempt."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at"),
        Index("ix_webhook_delivery_due", "next_attempt_at", postgresql_where="status = 'pending'"),
        UniqueConstraint("endpoint_id", "audit_event_id", "event"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    audit_event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, name="webhook_delivery_status", values_callable=lambda e: [m.value for m in e]),
        default=DeliveryStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    round_start: Mapped[int] = mapped_column(Integer, default=0)
    """``attempts`` when the current round began (0, or the count at the last re-send): retries count from here."""
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookAttempt(MemberOwned, BigIntBase):
    """The log of one attempt: when, the HTTP status (or why there was none) and how long the answer took."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "id"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_delivery.id", ondelete="CASCADE"))
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- secrets and signatures


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` and the base64 of 24 random bytes."""
    return _SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def seal_secret(settings: Settings, secret: str) -> str:
    """The secret encrypted with the master key, as stored."""
    nonce = secrets.token_bytes(12)
    return base64.b64encode(nonce + AESGCM(master_key(settings)).encrypt(nonce, secret.encode(), _AAD)).decode()


def open_secret(settings: Settings, sealed: str) -> str:
    """The secret in clear (for signing only)."""
    raw = base64.b64decode(sealed)
    return open_with_master(settings, raw, _AAD).decode()


def message_id(delivery_id: uuid.UUID) -> str:
    """The ``webhook-id`` of a delivery: the same on every attempt."""
    return f"msg_{delivery_id.hex}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value, ``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body``."""
    key = base64.b64decode(secret.removeprefix(_SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
