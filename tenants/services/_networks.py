"""The networks a member's staff may connect from (ACC-6)."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence

import msgspec

from core.errors import Conflict, Invalid
from core.i18n import gettext as _
from tenants import oplog
from tenants.auth import ip_allowed
from tenants.models import IpRange, OperationKind
from tenants.services._common import MemberService


class IpRangeIn(msgspec.Struct):
    """A network to allow, e.g. ``192.0.2.0/24``."""

    cidr: str
    label: str = ""


def parse_cidr(text: str) -> str:
    """A normalised network (``192.0.2.0/24``) or Invalid with a message that says what is wrong."""
    text = (text or "").strip()
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise Invalid(
            _("{text} is not an address range. Write it like 192.0.2.0/24 or 2001:db8::/48.").format(text=text)
        ) from None


class IpRangeService(MemberService):
    """The member's allowed networks; none means every address is allowed."""

    async def all(self) -> Sequence[IpRange]:
        """Every range of the member."""
        return await self.repository.ip_ranges()

    @staticmethod
    def _keep_editor_in(ranges: list[str], editor_ip: str | None) -> None:
        if not ip_allowed(editor_ip, ranges):
            raise Conflict(
                _(
                    "This change would block your own current address ({ip}) and you could no longer use "
                    "the service. Add a range that includes your address first."
                ).format(ip=editor_ip or _("unknown"))
            )

    async def create(self, data: IpRangeIn, *, editor_ip: str | None) -> IpRange:
        """Allow a network; refused if the editor's own address would then be outside every range."""
        network = parse_cidr(data.cidr)
        current = await self.repository.cidrs()
        if network in current:
            raise Conflict(_("The range {cidr} is already registered.").format(cidr=network))
        self._keep_editor_in([*current, network], editor_ip)
        row = IpRange(cidr=network, label=(data.label or "").strip())
        self.repository.add(row)
        await self.repository.flush()
        after = {"cidr": network, "label": row.label}
        await self._record(OperationKind.CREATED, oplog.target("ip_range", row.id, network), {"after": after})
        return row

    async def delete(self, range_id: uuid.UUID, *, editor_ip: str | None) -> None:
        """Remove a network; refused if it would lock the editor out."""
        ip_range = await self._find(IpRange, range_id)
        remaining = [str(r.cidr) for r in await self.all() if r.id != ip_range.id]
        self._keep_editor_in(remaining, editor_ip)
        before = {"cidr": str(ip_range.cidr), "label": ip_range.label}
        await self.repository.remove(ip_range)
        await self._record(
            OperationKind.DELETED, oplog.target("ip_range", ip_range.id, before["cidr"]), {"before": before}
        )
