"""Writing the webhook notices of an audit event, in the event's own transaction (see :mod:`signing.webhooks`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import per_transaction
from core.outbox import enqueue
from signing.models import AuditEvent, AuditKind
from signing.repositories.webhooks import WebhookRepository
from signing.webhooks import DELIVER_TASK, FROM_AUDIT, HAND_OVER_LEASE, DeliveryStatus, WebhookDelivery

__all__ = ["emit"]


# --------------------------------------------------------------------------- emitting


@dataclass(frozen=True)
class _ContractSummary:
    number: str
    subject: str
    status: str
    amount: int | None
    counterparty: str
    transaction_date: dt.date | None
    concluded_at: dt.datetime | None


def _payload(event: str, row: AuditEvent, contract: _ContractSummary | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "contract_id": str(row.contract_id) if row.contract_id else None,
        "event_id": row.id,
        "occurred_at": row.occurred_at.astimezone(dt.UTC).isoformat(),
        "documents": list(row.documents),
    }
    if contract is not None:
        data.update(
            contract_number=contract.number,
            subject=contract.subject,
            status=contract.status,
            amount=contract.amount,
            counterparty=contract.counterparty,
            transaction_date=contract.transaction_date.isoformat() if contract.transaction_date else None,
            concluded_at=contract.concluded_at.astimezone(dt.UTC).isoformat() if contract.concluded_at else None,
        )
    party = row.detail.get("party") or row.detail.get("to_party")
    if isinstance(party, str):
        data["party_id"] = party
    if row.kind == AuditKind.SEALED.value and "certificate" in row.detail:
        data["certificate"] = row.detail["certificate"]
    if row.kind == AuditKind.RENEWED.value:
        data["version"] = row.detail.get("version")
    return {"type": f"contract.{event}", "timestamp": row.occurred_at.astimezone(dt.UTC).isoformat(), "data": data}


async def emit(session: AsyncSession, row: AuditEvent) -> int:
    """Write the webhook notices of a just-appended audit event (same transaction); returns how many.

    Nothing is written for events no endpoint asked for, or that are not webhook events.
    """
    events = FROM_AUDIT.get(row.kind)
    if not events or row.contract_id is None:
        return 0
    repo = WebhookRepository(session, row.member_id)
    # A request appending several events reads the member's endpoints once.
    known = per_transaction(session, "webhook_endpoints")
    if row.member_id not in known:
        known[row.member_id] = await repo.active()
    endpoints = [e for e in known[row.member_id] if any(event in e.events for event in events)]
    if not endpoints:
        return 0
    contract = await repo.contract(row.contract_id)
    summary = (
        _ContractSummary(
            number=contract.contract_number,
            subject=contract.subject,
            status=contract.status.value,
            amount=contract.amount,
            counterparty=contract.counterparty,
            transaction_date=contract.transaction_date,
            concluded_at=contract.concluded_at,
        )
        if contract is not None
        else None
    )
    written = 0
    for endpoint in endpoints:
        for event in events:
            if event not in endpoint.events:
                continue
            delivery = WebhookDelivery(
                member_id=row.member_id,
                endpoint_id=endpoint.id,
                audit_event_id=row.id,
                event=event,
                payload=_payload(event, row, summary),
                status=DeliveryStatus.PENDING,
                attempts=0,
                round_start=0,
                last_error="",
                # Handed again by beat if this first attempt is never made (its worker killed mid-attempt).
                next_attempt_at=dt.datetime.now(dt.UTC) + HAND_OVER_LEASE,
            )
            repo.add(delivery)
            await session.flush()
            enqueue(session, DELIVER_TASK, delivery_id=str(delivery.id), attempt=0)
            written += 1
    return written
