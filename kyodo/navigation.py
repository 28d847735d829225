"""What the start page offers each person, from their permissions."""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import gettext as _
from core.scope import Principal
from policy.permissions import ROLE_LABELS

__all__ = ["Link", "role_label", "start_links"]


@dataclass(frozen=True)
class Link:
    """A link on the start page."""

    href: str
    label: str


def role_label(role: str) -> str:
    """The Japanese label of a built-in role, or the role's own name."""
    return ROLE_LABELS.get(role, role.removeprefix("custom:"))


def start_links(principal: Principal) -> list[Link]:
    """Links to every screen the person may use."""
    candidates: list[tuple[str, str, Link]] = [
        ("contract", "view", Link("/contracts", _("Contracts"))),
        ("contract", "draft", Link("/contracts/new", _("New contract"))),
        ("staff", "view", Link("/admin/staff", _("Staff and departments"))),
        ("staff", "manage", Link("/admin/departments", _("Departments"))),
        ("title", "manage", Link("/admin/titles", _("Contract titles"))),
        ("role", "manage", Link("/admin/roles", _("Roles and permissions"))),
        ("iprange", "manage", Link("/admin/ip-ranges", _("Allowed networks"))),
        ("apikey", "manage", Link("/admin/api-keys", _("API keys"))),
        ("member", "import", Link("/admin/import/", _("Bulk staff registration"))),
        ("member", "export", Link("/admin/export/", _("Export all data"))),
        ("addressbook", "view", Link("/address-book", _("Address book"))),
        ("audit", "view", Link("/contracts/audit", _("Audit log"))),
        ("consortium", "view", Link("/secretariat/members", _("Members of the consortium"))),
        ("company", "manage", Link("/secretariat/companies", _("Contractor companies"))),
        ("consortium", "view", Link("/secretariat/onboarding/", _("Onboarding of members"))),
        ("billing", "manage", Link("/secretariat/billing/", _("Agreements and invoices"))),
        ("consortium", "manage", Link("/secretariat/leaving/", _("Members leaving"))),
    ]
    if principal.is_operator:
        candidates += [
            ("report", "view", Link("/operator/reports/", _("Monthly reports of the members"))),
            ("incident", "manage", Link("/operator/incidents/", _("Incidents"))),
            ("maintenance", "manage", Link("/operator/maintenance/", _("Maintenance"))),
            ("target", "manage", Link("/operator/targets/", _("Service level targets"))),
        ]
    elif principal.is_secretariat:
        candidates.append(("report", "view", Link("/secretariat/reports", _("Service levels of the members"))))
    else:
        candidates.append(("report", "view", Link("/reports", _("Monthly service reports"))))
    return [link for obj, act, link in candidates if principal.can(obj, act)]
