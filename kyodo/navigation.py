"""What the start page offers each person, from their permissions."""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import gettext as _
from core.i18n import pgettext
from core.scope import Principal
from policy.permissions import ROLE_LABELS
from signing.services import ToDo

__all__ = ["Link", "role_label", "start_links", "todo_empty", "todo_heading"]


@dataclass(frozen=True)
class Link:
    """A link on the start page."""

    href: str
    label: str


def _role_labels() -> dict[str, str]:
    return {
        "admin": pgettext("role", "Member administrator"),
        "drafter": pgettext("role", "Drafter"),
        "signer": pgettext("role", "Signer"),
        "viewer": pgettext("role", "Viewer"),
        "auditor": pgettext("role", "Auditor"),
        "secretariat": pgettext("role", "Secretariat"),
        "operator": pgettext("role", "Operator"),
    }


def role_label(role: str) -> str:
    """The label of a built-in role in the reader's language, or a custom role's own name."""
    return _role_labels().get(role) or ROLE_LABELS.get(role, role.removeprefix("custom:"))


def start_links(principal: Principal) -> list[Link]:
    """Links to every screen the person may use."""
    candidates: list[tuple[str, str, Link]] = [
        ("contract", "view", Link("/contracts", pgettext("contract list", "Contracts"))),
        ("contract", "draft", Link("/contracts/drafts/new", _("New contract"))),
        ("staff", "view", Link("/admin/staff", _("Staff and departments"))),
        ("staff", "manage", Link("/admin/departments", _("Departments"))),
        ("title", "manage", Link("/admin/titles", _("Contract titles"))),
        ("role", "manage", Link("/admin/roles", _("Roles and permissions"))),
        ("iprange", "manage", Link("/admin/ip-ranges", _("Allowed networks"))),
        ("apikey", "manage", Link("/admin/api-keys", _("API keys"))),
        ("webhook", "manage", Link("/admin/webhooks", _("Webhooks"))),
        ("staff", "manage", Link("/admin/notification-addresses/", _("Notification addresses"))),
        ("staff", "manage", Link("/admin/contact", _("Contact for contractors"))),
        ("member", "import", Link("/admin/import/", _("Bulk staff registration"))),
        ("member", "export", Link("/admin/export/", _("Export all data"))),
        ("addressbook", "view", Link("/address-book", _("Address book"))),
        ("audit", "view", Link("/contracts/audit", _("Audit log"))),
        ("audit", "view", Link("/admin/operations", _("Operation log"))),
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
            ("consortium", "found", Link("/operator/consortia/", _("Consortia"))),
        ]
    elif principal.is_secretariat:
        candidates.append(("report", "view", Link("/secretariat/reports", _("Service levels of the members"))))
    else:
        candidates.append(("report", "view", Link("/reports", _("Monthly service reports"))))
        candidates.append(("incident", "report", Link("/incident-reports/", _("Report an incident"))))
    return [link for obj, act, link in candidates if principal.can(obj, act)]


def todo_heading(todo: ToDo) -> str:
    """The heading of a section of the start page's to-do list."""
    return {
        ToDo.SIGN: pgettext("to-do", "To conclude under your title"),
        ToDo.DRAFTS: pgettext("to-do", "Your drafts"),
        ToDo.CIRCULATING: pgettext("to-do", "In circulation"),
        ToDo.DECLINED: pgettext("to-do", "Declined"),
        ToDo.SEALING: pgettext("to-do", "Waiting for the seal"),
        ToDo.CONCLUDED: pgettext("to-do", "Concluded this month"),
    }[todo]


def todo_empty(todo: ToDo) -> str:
    """What a section says when it holds nothing."""
    return {
        ToDo.SIGN: _("No contract waits for your signature."),
        ToDo.DRAFTS: _("You have no draft."),
        ToDo.CIRCULATING: _("No contract of yours is in circulation."),
        ToDo.DECLINED: _("No contract of yours was declined."),
        ToDo.SEALING: _("No contract waits for the seal."),
        ToDo.CONCLUDED: _("No contract was concluded this month yet."),
    }[todo]
