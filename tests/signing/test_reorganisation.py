"""Reorganisations (NII-6(5)): a contract moves to another department, a department merges into another.

Each move is an audit event of the contract (before → after); a merger moves
the department's staff, sub-departments and contracts, then removes it. Another
member can do neither to a member's contracts or departments.
"""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signing.models import AuditEvent, AuditKind, Contract
from tenants.models import Department, Staff, ViewScope
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.conftest import Office


async def _contract(client: AsyncTestClient, office: Office, subject: str, department: Department) -> str:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={
            "subject": subject,
            "title_id": str(office.title_a.id),
            "department_id": str(department.id),
            "amount": "500000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _moves(session: AsyncSession, contract_id: str) -> list[dict[str, object]]:
    await system_access(session)
    events = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.contract_id == contract_id, AuditEvent.kind == AuditKind.MOVED)
            .order_by(AuditEvent.id)
        )
    ).all()
    return [e.detail for e in events]


async def test_contracts_move_to_another_department_and_departments_merge(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    a = office.members.a
    roads = await f.department(db_session, a, "roads", "道路課")
    schools = await f.department(db_session, a, "schools", "学校教育課")
    lanes = await f.department(db_session, a, "lanes", "生活道路係", parent=roads)
    await f.staff(db_session, a, "roads-viewer", roles=("viewer",), department=roads, view_scope=ViewScope.DEPARTMENT)
    api = {"Authorization": f"Bearer {await f.api_key(db_session, a, roles=('admin',))}"}
    moved = await _contract(client, office, "道路台帳整備業務", roads)
    merged = await _contract(client, office, "橋梁点検業務", roads)

    await sign_in(client, "roads-viewer")
    assert (await client.get(f"/contracts/{moved}")).status_code == 200
    assert (await client.get(f"/contracts/{moved}/record")).status_code == 403

    await sign_in(client, "morioka-admin")
    csrf = await csrf_token(client)
    page = await client.get(f"/contracts/{moved}/record")
    assert page.status_code == 200
    assert "学校教育課" in page.text
    done = await client.post(
        f"/contracts/{moved}/department",
        data={"_csrf_token": csrf, "department_id": str(schools.id)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    (move,) = await _moves(db_session, moved)
    assert move["via"] == "move"
    assert move["before"] == {"id": str(roads.id), "name": "道路課"}
    assert move["after"] == {"id": str(schools.id), "name": "学校教育課"}
    foreign = await client.post(
        f"/contracts/{moved}/department", data={"_csrf_token": csrf, "department_id": str(office.members.b.id)}
    )
    assert foreign.status_code == 400

    # A department that still has contracts, staff and a sub-department merges into another.
    merge = await client.post(
        f"/admin/departments/{roads.id}/merge",
        data={"_csrf_token": csrf, "target_id": str(schools.id)},
        follow_redirects=False,
    )
    assert merge.status_code == 303, merge.text
    await system_access(db_session)
    assert await db_session.get(Department, roads.id, populate_existing=True) is None
    viewer = await db_session.scalar(select(Staff).where(Staff.login_id == "roads-viewer"))
    assert viewer is not None
    await db_session.refresh(viewer)
    assert viewer.department_id == schools.id
    await db_session.refresh(lanes)
    assert lanes.parent_id == schools.id
    contract = await db_session.get(Contract, merged, populate_existing=True)
    assert contract is not None
    assert contract.department_id == schools.id
    (merge_move,) = await _moves(db_session, merged)
    assert merge_move["via"] == "merge"
    assert merge_move["before"] == {"id": str(roads.id), "name": "道路課"}
    # Into itself or its own sub-department: refused.
    inside = await client.post(
        f"/admin/departments/{schools.id}/merge", data={"_csrf_token": csrf, "target_id": str(lanes.id)}
    )
    assert inside.status_code == 400

    # Other systems move a contract through the API; the answer shows where it is now.
    through_api = await client.post(f"/api/v1/contracts/{moved}/department", headers=api, json={"department_id": None})
    assert through_api.status_code == 200, through_api.text
    assert through_api.json()["department_id"] is None
    assert len(await _moves(db_session, moved)) == 2


async def test_another_member_cannot_move_contracts_or_merge_departments(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    a, b = office.members.a, office.members.b
    roads = await f.department(db_session, a, "roads", "道路課")
    schools = await f.department(db_session, a, "schools", "学校教育課")
    b_dept = await f.department(db_session, b, "somu", "総務課")
    api_b = {"Authorization": f"Bearer {await f.api_key(db_session, b, roles=('admin',))}"}
    contract_id = await _contract(client, office, "道路台帳整備業務", roads)

    await sign_in(client, "hachimantai-admin")
    csrf = await csrf_token(client)
    assert (await client.get(f"/contracts/{contract_id}/record")).status_code == 404
    moved = await client.post(
        f"/contracts/{contract_id}/department", data={"_csrf_token": csrf, "department_id": str(b_dept.id)}
    )
    assert moved.status_code == 404
    merged = await client.post(
        f"/admin/departments/{roads.id}/merge", data={"_csrf_token": csrf, "target_id": str(b_dept.id)}
    )
    assert merged.status_code == 404
    into_a = await client.post(
        f"/admin/departments/{b_dept.id}/merge", data={"_csrf_token": csrf, "target_id": str(schools.id)}
    )
    assert into_a.status_code == 400
    through_api = await client.post(
        f"/api/v1/contracts/{contract_id}/department", headers=api_b, json={"department_id": str(b_dept.id)}
    )
    assert through_api.status_code == 404
    await system_access(db_session)
    contract = await db_session.get(Contract, contract_id, populate_existing=True)
    assert contract is not None
    assert contract.department_id == roads.id
    assert await db_session.get(Department, roads.id, populate_existing=True) is not None
    assert await db_session.get(Department, b_dept.id, populate_existing=True) is not None
    assert await _moves(db_session, contract_id) == []
