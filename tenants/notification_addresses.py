"""Notification addresses: a member or one department routes chosen staff notices to a shared mailbox (NII-59).

An address belongs to the whole member (``department_id`` empty) or to one
department (it applies to contracts of that department). For each notice it
lists, it receives a copy (``copy``), or the notice goes to it instead of the
staff member it was meant for (``instead``), e.g. the 契約検査課 mailbox. The
routing is applied where mail is written (:mod:`signing.notice_routing`); this
module keeps the addresses and what the screens say about them.
"""

from __future__ import annotations

import enum
import uuid

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.i18n import gettext as _
from tenants.models import MemberOwned

__all__ = [
    "NOTICES",
    "NotificationAddress",
    "RouteMode",
    "notice_labels",
]

NOTICES: tuple[str, ...] = (
    "request_staff",
    "concluded_signer",
    "concluded_drafter",
    "declined_drafter",
    "seal_failed_drafter",
)
"""The staff notices that can be routed (mail template names of :mod:`signing.mail`)."""


def notice_labels() -> dict[str, str]:
    """Each notice's name on the screen."""
    return {
        "request_staff": _("Request to conclude under a contract title"),
        "concluded_signer": _("Conclusion, to the signer"),
        "concluded_drafter": _("Conclusion, to the drafter"),
        "declined_drafter": _("Declined, to the drafter"),
        "seal_failed_drafter": _("Sealing failed, to the drafter"),
    }


class RouteMode(enum.StrEnum):
    """What the address receives."""

    COPY = "copy"
    """A copy; the staff member still gets their own."""
    INSTEAD = "instead"
    """The notice itself; the staff member gets none."""


class NotificationAddress(MemberOwned, UUIDv7AuditBase):
    """A shared address that receives chosen notices of the member, or of one department's contracts."""

    __tablename__ = "notification_address"

    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), nullable=True
    )
    email: Mapped[str] = mapped_column(String(254))
    notices: Mapped[list[str]] = mapped_column(JSONB, default=list)
    mode: Mapped[RouteMode] = mapped_column(
        Enum(RouteMode, name="notification_route_mode", values_callable=lambda e: [m.value for m in e]),
        default=RouteMode.COPY,
    )
