"""Member administration screens: departments, staff, titles and grants, networks, API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.plugins.htmx import HTMXTemplate
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.forms import Form, field, field_uuid
from core.i18n import gettext as _
from core.web import client_ip
from policy.engine import publish_change
from policy.guards import caller_member, requires
from policy.permissions import member_domain
from policy.services import RoleService
from tenants.models import StaffStatus, ViewScope
from tenants.services import is_locked, member_services
from tenants.sessions import session_store

__all__ = ["AdminController"]


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        raise Invalid(_("{text} is not a number.").format(text=text)) from None


def _secret(title: str, lines: list[tuple[str, str]], back: str) -> Template:
    """A page that shows a new password or key once."""
    return Template("admin/secret.html", context={"title": title, "lines": lines, "back": back})


class AdminController(Controller):
    """Screens of the member administrator (everything under ``/admin``)."""

    path = "/admin"
    include_in_schema = False

    # ----------------------------------------------------------------- departments

    @get("/departments", guards=[requires("staff", "manage")])
    async def departments(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The department tree with forms to add, rename, move and delete."""
        _p, member_id = caller_member(request)
        services = member_services(db_session, member_id)
        nodes = await services.departments.tree()
        counts: dict[uuid.UUID, int] = {}
        for s in await services.staff.by_department():
            if s.department_id:
                counts[s.department_id] = counts.get(s.department_id, 0) + 1
        return Template("admin/departments.html", context={"nodes": nodes, "counts": counts})

    @post("/departments", guards=[requires("staff", "manage")], status_code=303)
    async def add_department(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Create a department."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).departments.add(
            code=field(data, "code"), name=field(data, "name"), parent_id=field_uuid(data, "parent_id")
        )
        return Redirect("/admin/departments", status_code=303)

    @post("/departments/{department_id:uuid}", guards=[requires("staff", "manage")], status_code=303)
    async def change_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Rename and/or move a department."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).departments
        department = await service.find(department_id)
        await service.rename(department, name=field(data, "name") or department.name, code=field(data, "code"))
        if "parent_id" in data:
            await service.move(department, field_uuid(data, "parent_id"))
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
        service = member_services(db_session, member_id).departments
        await service.remove(await service.find(department_id))
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
        staff = await services.staff.by_department(department)
        nodes = await services.departments.tree()
        names = {n.department.id: n.path for n in nodes}
        roles = await RoleService(db_session, member_id).assignments()
        context = {
            "staff": staff,
            "nodes": nodes,
            "names": names,
            "roles": roles,
            "selected": department,
            "can_manage": principal.can("staff", "manage"),
            "is_locked": is_locked,
            "role_options": await RoleService(db_session, member_id).roles(),
        }
        if request.htmx:  # type: ignore[attr-defined]
            return HTMXTemplate(template_name="admin/staff_table.html", context=context, push_url=False)
        return Template("admin/staff_list.html", context=context)

    @post("/staff", guards=[requires("staff", "manage")], status_code=303)
    async def add_staff(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession], state: State
    ) -> Template | Redirect:
        """Create an account with the given or a generated initial password (and a role if chosen)."""
        principal, member_id = caller_member(request)
        staff, generated = await member_services(db_session, member_id).staff.add(
            login_id=field(data, "login_id"),
            name=field(data, "name"),
            email=field(data, "email"),
            department_id=field_uuid(data, "department_id"),
            password=field(data, "password") or None,
            view_scope=ViewScope(field(data, "view_scope") or ViewScope.MEMBER),
        )
        role = field(data, "role")
        if role:
            await RoleService(db_session, member_id).assign(
                editor=principal.permissions, subject=f"staff:{staff.id}", role_name=role
            )
        await db_session.commit()
        if role:
            await publish_change(state.redis, member_domain(member_id))
        if generated:
            return _secret(
                _("Account created"),
                [(_("Login ID"), staff.login_id), (_("Initial password"), generated)],
                f"/admin/staff/{staff.id}",
            )
        return Redirect(f"/admin/staff/{staff.id}", status_code=303)

    @get("/staff/{staff_id:uuid}", guards=[requires("staff", "view")])
    async def staff_detail(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """One account: details, roles, titles, password and lock."""
        principal, member_id = caller_member(request)
        services = member_services(db_session, member_id)
        staff = await services.staff.find(staff_id)
        role_service = RoleService(db_session, member_id)
        return Template(
            "admin/staff_detail.html",
            context={
                "s": staff,
                "nodes": await services.departments.tree(),
                "roles": await role_service.roles_of(f"staff:{staff.id}"),
                "role_options": await role_service.roles(),
                "titles": await services.titles.titles_of(staff),
                "title_options": await services.titles.all(),
                "locked": is_locked(staff),
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
        service = member_services(db_session, member_id).staff
        staff = await service.find(staff_id)
        await service.edit(
            staff,
            name=field(data, "name"),
            email=field(data, "email"),
            department_id=field_uuid(data, "department_id"),
            status=StaffStatus(field(data, "status") or staff.status),
            view_scope=ViewScope(field(data, "view_scope") or staff.view_scope),
            editor_id=principal.id,
        )
        return Redirect(f"/admin/staff/{staff.id}", status_code=303)

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
        service = member_services(db_session, member_id).staff
        staff = await service.find(staff_id)
        generated = await service.reset_password(staff, field(data, "password") or None)
        # Whoever was signed in with the old password is signed out everywhere.
        await session_store(request.app.state).end_all_of("staff", str(staff.id))
        if generated:
            await db_session.commit()
            return _secret(
                _("Password reset"),
                [(_("Login ID"), staff.login_id), (_("New password"), generated)],
                f"/admin/staff/{staff.id}",
            )
        return Redirect(f"/admin/staff/{staff.id}", status_code=303)

    @post("/staff/{staff_id:uuid}/unlock", guards=[requires("staff", "manage")], status_code=303)
    async def unlock(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Unlock an account locked after wrong passwords."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).staff
        await service.unlock(await service.find(staff_id))
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    @post("/staff/{staff_id:uuid}/roles", guards=[requires("role", "manage")], status_code=303)
    async def staff_roles(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Give (``action=assign``) or take (``action=remove``) a role."""
        principal, member_id = caller_member(request)
        staff = await member_services(db_session, member_id).staff.find(staff_id)
        roles = RoleService(db_session, member_id)
        subject = f"staff:{staff.id}"
        if field(data, "action") == "remove":
            await roles.unassign(
                editor=principal.permissions,
                subject=subject,
                role_name=field(data, "role"),
                editor_subject=principal.subject,
            )
        else:
            await roles.assign(editor=principal.permissions, subject=subject, role_name=field(data, "role"))
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return Redirect(f"/admin/staff/{staff.id}", status_code=303)

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
        services = member_services(db_session, member_id)
        staff = await services.staff.find(staff_id)
        title_id = field_uuid(data, "title_id")
        if title_id is None:
            raise Invalid(_("Choose a title."))
        title = await services.titles.find(title_id)
        if field(data, "action") == "revoke":
            await services.titles.revoke(staff, title)
        else:
            await services.titles.grant(staff, title)
        return Redirect(f"/admin/staff/{staff.id}", status_code=303)

    # ----------------------------------------------------------------- titles

    @get("/titles", guards=[requires("title", "manage")])
    async def titles(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Contract titles and who may sign under each."""
        _p, member_id = caller_member(request)
        services = member_services(db_session, member_id)
        staff = {s.id: s for s in await services.staff.by_department()}
        holders: dict[uuid.UUID, list[Any]] = {}
        for g in await services.titles.grants():
            if g.staff_id in staff:
                holders.setdefault(g.title_id, []).append(staff[g.staff_id])
        return Template("admin/titles.html", context={"titles": await services.titles.all(), "holders": holders})

    @post("/titles", guards=[requires("title", "manage")], status_code=303)
    async def add_title(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Create a title."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).titles.add(
            code=field(data, "code"),
            name=field(data, "name"),
            formal_name=field(data, "formal_name"),
            sort_order=_int(field(data, "sort_order")),
            active=field(data, "active", "on") == "on",
        )
        return Redirect("/admin/titles", status_code=303)

    @post("/titles/{title_id:uuid}", guards=[requires("title", "manage")], status_code=303)
    async def edit_title(
        self,
        request: Request[Any, Any, Any],
        title_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Change a title (an unticked "active" box retires it)."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).titles
        title = await service.find(title_id)
        await service.edit(
            title,
            code=field(data, "code") or None,
            name=field(data, "name") or None,
            formal_name=field(data, "formal_name") or None,
            sort_order=_int(field(data, "sort_order"), title.sort_order),
            active=field(data, "active") == "on",
        )
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
        await member_services(db_session, member_id).ip_ranges.add(
            cidr=field(data, "cidr"), label=field(data, "label"), editor_ip=client_ip(request.scope)
        )
        return Redirect("/admin/ip-ranges", status_code=303)

    @post("/ip-ranges/{range_id:uuid}/delete", guards=[requires("iprange", "manage")], status_code=303)
    async def delete_ip_range(
        self, request: Request[Any, Any, Any], range_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Remove a network (refused if it would lock the editor out)."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).ip_ranges
        await service.remove(await service.find(range_id), editor_ip=client_ip(request.scope))
        return Redirect("/admin/ip-ranges", status_code=303)

    # ----------------------------------------------------------------- API keys

    @get("/api-keys", guards=[requires("apikey", "manage")])
    async def api_keys(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Keys with prefix, label, last use and roles."""
        _p, member_id = caller_member(request)
        roles = RoleService(db_session, member_id)
        return Template(
            "admin/api_keys.html",
            context={
                "keys": await member_services(db_session, member_id).api_keys.all(),
                "assignments": await roles.assignments(),
                "role_options": await roles.roles(),
            },
        )

    @post("/api-keys", guards=[requires("apikey", "manage")], status_code=200)
    async def add_api_key(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession], state: State
    ) -> Template:
        """Issue a key and show it once."""
        principal, member_id = caller_member(request)
        row, key = await member_services(db_session, member_id).api_keys.issue(
            label=field(data, "label"), created_by_id=principal.id if principal.kind.value == "staff" else None
        )
        role = field(data, "role")
        if role:
            await RoleService(db_session, member_id).assign(
                editor=principal.permissions, subject=f"apikey:{row.id}", role_name=role
            )
        await db_session.commit()
        if role:
            await publish_change(state.redis, member_domain(member_id))
        return _secret(
            _("API key issued"),
            [(_("Label"), row.label), (_("API key"), key)],
            "/admin/api-keys",
        )

    @post("/api-keys/{key_id:uuid}/revoke", guards=[requires("apikey", "manage")], status_code=303)
    async def revoke_api_key(
        self, request: Request[Any, Any, Any], key_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Revoke a key: it stops working at once."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).api_keys
        await service.revoke(await service.find(key_id))
        return Redirect("/admin/api-keys", status_code=303)

    @post("/api-keys/{key_id:uuid}/roles", guards=[requires("role", "manage")], status_code=303)
    async def api_key_roles(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Give or take a role of an API key."""
        principal, member_id = caller_member(request)
        key = await member_services(db_session, member_id).api_keys.find(key_id)
        roles = RoleService(db_session, member_id)
        subject = f"apikey:{key.id}"
        if field(data, "action") == "remove":
            await roles.unassign(
                editor=principal.permissions,
                subject=subject,
                role_name=field(data, "role"),
                editor_subject=principal.subject,
            )
        else:
            await roles.assign(editor=principal.permissions, subject=subject, role_name=field(data, "role"))
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return Redirect("/admin/api-keys", status_code=303)
