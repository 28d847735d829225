"""The API for other systems is described in the OpenAPI document (API-1, NII-6(3))."""

from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_administration_endpoints_are_documented(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = set(schema["paths"])
    for path in (
        "/api/v1/departments",
        "/api/v1/staff/{staff_id}",
        "/api/v1/titles/{title_id}/staff/{staff_id}",
        "/api/v1/ip-ranges",
        "/api/v1/api-keys",
        "/api/v1/roles",
        "/api/v1/address-book",
        "/api/v1/secretariat/members",
    ):
        assert path in paths, path
    assert not any(p.startswith("/admin") for p in paths)  # screens are not the API
