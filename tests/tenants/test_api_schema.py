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


async def test_integration_endpoints_are_documented_with_examples(client: AsyncTestClient) -> None:
    """Webhooks, invitations and notification addresses: summary, description and an example body."""
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    documented = {
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{endpoint_id}", "get"),
        ("/api/v1/webhooks/{endpoint_id}", "patch"),
        ("/api/v1/webhooks/{endpoint_id}", "delete"),
        ("/api/v1/webhooks/{endpoint_id}/deliveries", "get"),
        ("/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend", "post"),
        ("/api/v1/staff/{staff_id}/invitation", "post"),
        ("/api/v1/staff/{staff_id}/invitation", "get"),
        ("/api/v1/notification-addresses", "get"),
        ("/api/v1/notification-addresses", "post"),
        ("/api/v1/notification-addresses/{address_id}", "delete"),
    }
    for path, method in documented:
        operation = paths[path][method]
        assert operation.get("summary"), (path, method)
        assert operation.get("description"), (path, method)
    for path, method in (
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{endpoint_id}", "patch"),
        ("/api/v1/notification-addresses", "post"),
    ):
        content = paths[path][method]["requestBody"]["content"]["application/json"]
        assert content.get("examples") or content["schema"].get("examples"), (path, method)


async def test_creating_requests_document_the_idempotency_key(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for path in (
        "/api/v1/contracts",
        "/api/v1/contracts/{contract_id}/parties",
        "/api/v1/contracts/{contract_id}/text-boxes",
        "/api/v1/contracts/{contract_id}/documents",
        "/api/v1/contracts/{contract_id}/copy",
        "/api/v1/contracts/{contract_id}/revise",
        "/api/v1/staff/{staff_id}/invitation",
        "/api/v1/notification-addresses",
    ):
        parameters = schema["paths"][path]["post"].get("parameters", [])
        headers = [p for p in parameters if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert headers, path
        assert headers[0]["required"] is False
    # The answers keep their documented shape.
    created = schema["paths"]["/api/v1/contracts"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"].endswith("ContractOut")


async def test_the_openapi_document_is_valid_openapi(client: AsyncTestClient) -> None:
    """What a generator of client code reads first: the whole document against the OpenAPI 3.1 schema."""
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    validate(schema)
    broken = {**schema, "paths": {"/api/v1/x": {"get": {"responses": "none"}}}}
    try:
        validate(broken)
    except OpenAPIValidationError:
        pass
    else:
        raise AssertionError("the validator accepted a document without responses")
