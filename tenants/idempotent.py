"""The ``Idempotency-Key`` header of the JSON API's creating ``POST`` requests (see :mod:`tenants.idempotency`).

A handler passes its work as a function and what identifies the request::

    return await idempotent(request, db_session, idempotency_key, lambda: ..., body=data)

Without a key the work is simply done. With one, the key is claimed first (in
the request's transaction); a repeat gets the first answer, byte for byte, with
``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.enums import MediaType
from litestar.params import HeaderParameter
from sqlalchemy.ext.asyncio import AsyncSession

from policy.guards import caller_member
from tenants.idempotency import HEADER, MAX_LENGTH
from tenants.idempotency_service import IdempotencyService

__all__ = ["REPLAYED", "IdempotencyKeyHeader", "idempotent"]

REPLAYED = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        description=(
            f"Optional, 1 to {MAX_LENGTH} characters (e.g. a UUID). The same key from the same API key within "
            "24 hours returns the first answer (same status and body, header `Idempotent-Replayed: true`) "
            "without doing the work again; the same key with another path or body is refused with 422."
        ),
    ),
]


async def _canonical(value: object) -> object:
    if isinstance(value, UploadFile):
        content = await value.read()
        await value.seek(0)
        return ["file", value.filename, hashlib.sha256(content).hexdigest()]
    if isinstance(value, list):
        return [await _canonical(v) for v in value]
    return value


async def fingerprint(request: Request[Any, Any, Any], body: object) -> str:
    """SHA-256 of the method, the path and the body (a multipart form with each file's hash, or a JSON struct)."""
    if isinstance(body, dict):
        canonical: object = [[str(k), await _canonical(body[k])] for k in sorted(body)]
    else:
        canonical = body
    encoded = msgspec.json.encode([request.method, request.url.path, canonical])
    return hashlib.sha256(encoded).hexdigest()


async def idempotent(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    key: str | None,
    work: Callable[[], Awaitable[object]],
    *,
    body: object = None,
    status_code: int = 201,
) -> Response[Any]:
    """Do ``work`` once per key and answer with its result as JSON; a repeat of the key replays that answer."""
    if key is None:
        return Response(await work(), status_code=status_code)
    principal, member_id = caller_member(request)
    caller = f"{principal.kind.value}:{principal.id}"
    service = IdempotencyService(session, member_id)
    replay = await service.begin(caller, key, await fingerprint(request, body))
    if replay is not None:
        return Response(
            replay.body, status_code=replay.status_code, media_type=MediaType.JSON, headers={REPLAYED: "true"}
        )
    encoded = msgspec.json.encode(await work())
    await service.finish(caller, key, status_code, encoded)
    return Response(encoded, status_code=status_code, media_type=MediaType.JSON)
