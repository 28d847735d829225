"""Member administration screens: departments, staff, titles and grants, networks, API keys.

Each form handler builds the service's input type from the form and calls the
same service method as its twin in :mod:`tenants.api`; no handler queries or
commits (the request commits after a successful answer).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.plugins.htmx import HTMXTemplate
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.forms import Form, field, field_uuid
from core.i18n import gettext as _
from core.web import client_ip
from policy.guards import caller_member, requires
from policy.services import RoleService
from tenants.invitation_service import InvitationService
from tenants.models import StaffStatus, ViewScope
from tenants.services import (
    CONTACT_LIMIT,
    UNSET,
    ApiKeyIn,
    Contacts,
    DepartmentIn,
    DepartmentPatch,
    IpRangeIn,
    PasswordIn,
    StaffIn,
    StaffPatch,
    TitleIn,
    TitlePatch,
    member_services,
)
from tenants.sessions import session_store

__all__ = ["AdminController"]


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        raise Invalid(_("{text} is not a number.").format(text=text)) from None


def _given(data: dict[str, Any], name: str) -> Any:
    """The field's text if the form has it, else "unchanged"."""
    return field(data, name) if name in data else UNSET


def _roles(data: dict[str, Any]) -> list[str]:
    role = field(data, "role")
    return [role] if role else []


def _secret(title: str, lines: list[tuple[str, str]], back: str) -> Template:
    """A page that shows a new password or key once."""
    return Template("admin/secret.html", context={"title": title, "lines": lines, "back": back})


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _contact_context(
    contacts: Contacts, *, member: str | None = None, typed: dict[uuid.UUID, str] | None = None
) -> dict[str, Any]:
    """The contact page: the lines as stored, or as typed when the form comes back refused."""
    typed = typed or {}
    return {
        "member": contacts.member,
        "member_contact": contacts.member.contact if member is None else member,
        "departments": [(d, typed.get(d.id, d.contact)) for d in contacts.departments],
        "limit": CONTACT_LIMIT,
        "error": "",
    }


class AdminController(Controller):
    """Screens of the member administrator (everything under ``/admin``)."""

    path = "/admin"
    include_in_schema = False

    # ----------------------------------------------------------------- contacts

    @get("/contact", guards=[requires("staff", "manage")])
    async def contact(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Whom contractors are told to call: the member's line and each department's."""
        _p, member_id = caller_member(request)
        contacts = await member_services(db_session, member_id).contacts.current()
        return Template("admin/contact.html", context=_contact_context(contacts))

    @post("/contact", guards=[requires("staff", "manage")])
    async def change_contact(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Template | Redirect:
        """Save the contact lines; a refused line comes back on the form with everything as typed."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).contacts
        typed = {
            department_id: field(data, key)
            for key in data
            if key.startswith("department_") and (department_id := _uuid_or_none(key.removeprefix("department_")))
        }
        try:
            await service.change(field(data, "member_contact"), typed)
        except Invalid as exc:
            context = _contact_context(await service.current(), member=field(data, "member_contact"), typed=typed)
            context["error"] = exc.message
            return Template("admin/contact.html", context=context, status_code=400)
        return Redirect("/admin/contact?done=saved", status_code=303)

    # ----------------------------------------------------------------- departments

    @get("/departments", guards=[requires("staff", "manage")])
    async def departments(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The department tree with forms to add, rename, move and delete."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).departments
        return Template(
            "admin/departments.html", context={"nodes": await service.tree(), "counts": await service.staff_counts()}
        )

    @post("/departments", guards=[requires("staff", "manage")], status_code=303)
    async def add_department(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Create a department."""
        _p, member_id = caller_member(request)
        department = DepartmentIn(
            code=field(data, "code"), name=field(data, "name"), parent_id=field_uuid(data, "parent_id")
        )
        await member_services(db_session, member_id).departments.create(department)
        return Redirect("/admin/departments", status_code=303)

    @post("/departments/{department_id:uuid}", guards=[requires("staff", "manage")], status_code=303)
    async def change_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Rename and/or move a department (an empty name or code leaves it as it is)."""
        _p, member_id = caller_member(request)
        change = DepartmentPatch(
            name=field(data, "name") or UNSET,
            code=field(data, "code") or UNSET,
            parent_id=field_uuid(data, "parent_id") if "parent_id" in data else UNSET,
        )
        await member_services(db_session, member_id).departments.change(department_id, change)
        return Redirect("/admin/departments", status_code=303)

    @post("/departments/{department_id:uuid}/delete", guards=[requires("staff", "manage")], status_code=303)
    async def delete_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Delete a department without sub-departments or staff."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).departments.delete(department_id)
        return Redirect("/admin/departments", status_code=303)

    @post("/departments/{department_id:uuid}/merge", guards=[requires("staff", "manage")], status_code=303)
    async def merge_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Merge a department into another: staff, sub-departments and contracts move, the department goes."""
        _p, member_id = caller_member(request)
        target = field_uuid(data, "target_id")
        if target is None:
            raise Invalid(_("Please choose the department to merge into."))
        await member_services(db_session, member_id).departments.merge(department_id, target)
        return Redirect("/admin/departments", status_code=303)

    # ----------------------------------------------------------------- staff

    @get("/staff", guards=[requires("staff", "view")])
    async def staff_list(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        department: Annotated[uuid.UUID | None, QueryParameter(name="department")] = None,
    ) -> Template:
        """Staff of the member, filtered by department (the table alone for htmx)."""
        principal, member_id = caller_member(request)
        services = member_services(db_session, member_id)
        nodes = await services.departments.tree()
        context = {
            "entries": await services.staff.listing(department),
            "nodes": nodes,
            "names": {n.department.id: n.path for n in nodes},
            "selected": department,
            "can_manage": principal.can("staff", "manage"),
            "role_options": await RoleService(db_session, member_id).roles(),
        }
        if request.htmx:  # type: ignore[attr-defined]
            return HTMXTemplate(template_name="admin/staff_table.html", context=context, push_url=False)
        return Template("admin/staff_list.html", context=context)

    @post("/staff", guards=[requires("staff", "manage")], status_code=303)
    async def add_staff(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Template | Redirect:
        """Create an account with the given or a generated initial password (and a role if chosen)."""
        principal, member_id = caller_member(request)
        new = StaffIn(
            login_id=field(data, "login_id"),
            name=field(data, "name"),
            email=field(data, "email"),
            department_id=field_uuid(data, "department_id"),
            password=field(data, "password") or None,
            view_scope=ViewScope(field(data, "view_scope") or ViewScope.MEMBER),
            roles=_roles(data),
        )
        entry = await member_services(db_session, member_id).staff.create(principal, new)
        if field(data, "invite") == "1":
            # The generated password is never shown: the person chooses one from the mailed link.
            await InvitationService(db_session, member_id).invite(entry.staff.id, principal.id)
            return Redirect(f"/admin/staff/{entry.staff.id}?invited=1", status_code=303)
        if entry.initial_password:
            return _secret(
                _("Account created"),
                [(_("Login ID"), entry.staff.login_id), (_("Initial password"), entry.initial_password)],
                f"/admin/staff/{entry.staff.id}",
            )
        return Redirect(f"/admin/staff/{entry.staff.id}", status_code=303)

    @get("/staff/{staff_id:uuid}", guards=[requires("staff", "view")])
    async def staff_detail(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """One account: details, roles, titles, password and lock."""
        principal, member_id = caller_member(request)
        services = member_services(db_session, member_id)
        entry = await services.staff.entry(staff_id)
        return Template(
            "admin/staff_detail.html",
            context={
                "s": entry.staff,
                "nodes": await services.departments.tree(),
                "roles": entry.roles,
                "role_options": await RoleService(db_session, member_id).roles(),
                "titles": await services.titles.titles_of(entry.staff.id),
                "title_options": await services.titles.all(),
                "locked": entry.locked,
                "can_manage": principal.can("staff", "manage"),
                "can_roles": principal.can("role", "manage"),
                "can_titles": principal.can("title", "manage"),
                "statuses": list(StaffStatus),
            },
        )

    @post("/staff/{staff_id:uuid}", guards=[requires("staff", "manage")], status_code=303)
    async def edit_staff(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Change name, e-mail, department, status and which contracts the person may view."""
        principal, member_id = caller_member(request)
        status, view_scope = field(data, "status"), field(data, "view_scope")
        change = StaffPatch(
            name=_given(data, "name"),
            email=_given(data, "email"),
            department_id=field_uuid(data, "department_id") if "department_id" in data else UNSET,
            status=StaffStatus(status) if status else UNSET,
            view_scope=ViewScope(view_scope) if view_scope else UNSET,
        )
        await member_services(db_session, member_id).staff.edit(principal, staff_id, change)
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    @post("/staff/{staff_id:uuid}/password", guards=[requires("staff", "manage")], status_code=303)
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        """Set a new password (generated and shown once when left empty)."""
        _p, member_id = caller_member(request)
        entry = await member_services(db_session, member_id).staff.reset_password(
            staff_id, PasswordIn(password=field(data, "password") or None), session_store(request.app.state)
        )
        if entry.initial_password:
            return _secret(
                _("Password reset"),
                [(_("Login ID"), entry.staff.login_id), (_("New password"), entry.initial_password)],
                f"/admin/staff/{staff_id}",
            )
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    @post("/staff/{staff_id:uuid}/unlock", guards=[requires("staff", "manage")], status_code=303)
    async def unlock(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Unlock an account locked after wrong passwords."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).staff.unlock(staff_id)
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    @post("/staff/{staff_id:uuid}/roles", guards=[requires("role", "manage")], status_code=303)
    async def staff_roles(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Give (``action=assign``) or take (``action=remove``) a role."""
        principal, member_id = caller_member(request)
        service = member_services(db_session, member_id).staff
        if field(data, "action") == "remove":
            await service.take_role(principal, staff_id, field(data, "role"))
        else:
            await service.give_role(principal, staff_id, field(data, "role"))
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    @post("/staff/{staff_id:uuid}/titles", guards=[requires("title", "manage")], status_code=303)
    async def staff_titles(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Grant (``action=grant``) or withdraw (``action=revoke``) signing authority for a title."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).titles
        title_id = field_uuid(data, "title_id")
        if title_id is None:
            raise Invalid(_("Choose a title."))
        if field(data, "action") == "revoke":
            await service.revoke(staff_id, title_id)
        else:
            await service.grant(staff_id, title_id)
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    # ----------------------------------------------------------------- titles

    @get("/titles", guards=[requires("title", "manage")])
    async def titles(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Contract titles and who may sign under each."""
        _p, member_id = caller_member(request)
        entries = await member_services(db_session, member_id).titles.listing()
        return Template("admin/titles.html", context={"entries": entries})

    @post("/titles", guards=[requires("title", "manage")], status_code=303)
    async def add_title(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Create a title."""
        _p, member_id = caller_member(request)
        title = TitleIn(
            code=field(data, "code"),
            name=field(data, "name"),
            formal_name=field(data, "formal_name"),
            sort_order=_int(field(data, "sort_order")),
            active=field(data, "active", "on") == "on",
        )
        await member_services(db_session, member_id).titles.create(title)
        return Redirect("/admin/titles", status_code=303)

    @post("/titles/{title_id:uuid}", guards=[requires("title", "manage")], status_code=303)
    async def edit_title(
        self,
        request: Request[Any, Any, Any],
        title_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Change a title (an empty field leaves it as it is; an unticked "active" box retires it)."""
        _p, member_id = caller_member(request)
        order = field(data, "sort_order")
        change = TitlePatch(
            code=field(data, "code") or UNSET,
            name=field(data, "name") or UNSET,
            formal_name=field(data, "formal_name") or UNSET,
            sort_order=_int(order) if order else UNSET,
            active=field(data, "active") == "on",
        )
        await member_services(db_session, member_id).titles.edit(title_id, change)
        return Redirect("/admin/titles", status_code=303)

    # ----------------------------------------------------------------- IP ranges

    @get("/ip-ranges", guards=[requires("iprange", "manage")])
    async def ip_ranges(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Allowed networks and the caller's own address."""
        _p, member_id = caller_member(request)
        ranges = await member_services(db_session, member_id).ip_ranges.all()
        return Template("admin/ip_ranges.html", context={"ranges": ranges, "my_ip": client_ip(request.scope)})

    @post("/ip-ranges", guards=[requires("iprange", "manage")], status_code=303)
    async def add_ip_range(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Allow a network (refused if it would lock the editor out)."""
        _p, member_id = caller_member(request)
        network = IpRangeIn(cidr=field(data, "cidr"), label=field(data, "label"))
        await member_services(db_session, member_id).ip_ranges.create(network, editor_ip=client_ip(request.scope))
        return Redirect("/admin/ip-ranges", status_code=303)

    @post("/ip-ranges/{range_id:uuid}/delete", guards=[requires("iprange", "manage")], status_code=303)
    async def delete_ip_range(
        self, request: Request[Any, Any, Any], range_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Remove a network (refused if it would lock the editor out)."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).ip_ranges.delete(range_id, editor_ip=client_ip(request.scope))
        return Redirect("/admin/ip-ranges", status_code=303)

    # ----------------------------------------------------------------- API keys

    @get("/api-keys", guards=[requires("apikey", "manage")])
    async def api_keys(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Keys with prefix, label, last use and roles."""
        _p, member_id = caller_member(request)
        return Template(
            "admin/api_keys.html",
            context={
                "entries": await member_services(db_session, member_id).api_keys.listing(),
                "role_options": await RoleService(db_session, member_id).roles(),
            },
        )

    @post("/api-keys", guards=[requires("apikey", "manage")], status_code=200)
    async def add_api_key(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """Issue a key and show it once."""
        principal, member_id = caller_member(request)
        key = ApiKeyIn(label=field(data, "label"), roles=_roles(data))
        entry = await member_services(db_session, member_id).api_keys.create(principal, key)
        return _secret(
            _("API key issued"),
            [(_("Label"), entry.api_key.label), (_("API key"), entry.key or "")],
            "/admin/api-keys",
        )

    @post("/api-keys/{key_id:uuid}/revoke", guards=[requires("apikey", "manage")], status_code=303)
    async def revoke_api_key(
        self, request: Request[Any, Any, Any], key_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Revoke a key: it stops working at once."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).api_keys.revoke(key_id)
        return Redirect("/admin/api-keys", status_code=303)

    @post("/api-keys/{key_id:uuid}/roles", guards=[requires("role", "manage")], status_code=303)
    async def api_key_roles(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Give (``action=assign``) or take (``action=remove``) a role of an API key."""
        principal, member_id = caller_member(request)
        service = member_services(db_session, member_id).api_keys
        if field(data, "action") == "remove":
            await service.take_role(principal, key_id, field(data, "role"))
        else:
            await service.give_role(principal, key_id, field(data, "role"))
        return Redirect("/admin/api-keys", status_code=303)
