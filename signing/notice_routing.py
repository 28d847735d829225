"""Routing staff notices to notification addresses (NII-59), applied when the mail is written.

:func:`signing.mail.queue_contract_mail` marks each mail's outbox row with the
notice it is (the template name) and the contract's department. Just before the
transaction's rows are flushed, this listener looks those up in the member's
notification addresses (:mod:`tenants.notification_addresses`): a ``copy``
address gets an outbox row of its own, an ``instead`` address takes the row
over. Everything happens in the caller's transaction, so a notice and its copies
are written together or not at all, and no caller of the mail functions changes.
The mark is removed before the row is stored: the mail task never sees it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from core.i18n import current_locale
from core.i18n import gettext as _
from core.outbox import OutboxMessage
from tenants.notification_addresses import NOTICES, RouteMode
from tenants.repositories.notices import addresses_for

__all__ = ["NOTICE_KEY", "install", "notice_mark"]

NOTICE_KEY = "notice"


class _Installed:
    task_name: str | None = None


def notice_mark(name: str, department_id: uuid.UUID | None) -> dict[str, str]:
    """The mark :func:`signing.mail.queue_contract_mail` puts on a mail's outbox row."""
    return {"name": name, "department_id": str(department_id) if department_id else ""}


def _note(text: str, original: str, *, instead: bool) -> str:
    token = current_locale.set("ja")
    try:
        line = (
            _("(This notice was meant for {address}; your organisation routes it to this address.)")
            if instead
            else _("(A copy of the notice sent to {address}.)")
        ).format(address=original)
    finally:
        current_locale.reset(token)
    return f"{line}\n\n{text}"


def _route(session: Session, _context: Any, _instances: Any) -> None:
    for row in list(session.new):
        if not isinstance(row, OutboxMessage) or row.task_name != _Installed.task_name:
            continue
        mark = row.kwargs.get(NOTICE_KEY)
        if mark is None:
            continue
        kwargs = {k: v for k, v in row.kwargs.items() if k != NOTICE_KEY}
        row.kwargs = kwargs
        name = str(mark.get("name", ""))
        if name not in NOTICES or not kwargs.get("member_id"):
            continue
        department = mark.get("department_id") or None
        found = addresses_for(
            session, uuid.UUID(kwargs["member_id"]), uuid.UUID(department) if department else None, name
        )
        if not found:
            continue
        original = str(kwargs["to"])
        taken_over = [a.email for a in found if a.mode is RouteMode.INSTEAD]
        copies = [a.email for a in found if a.mode is RouteMode.COPY and a.email.lower() != original.lower()]
        if taken_over:
            row.kwargs = {**kwargs, "to": taken_over[0], "body": _note(kwargs["body"], original, instead=True)}
        for email in dict.fromkeys([*taken_over[1:], *copies]):
            session.add(
                OutboxMessage(
                    task_name=row.task_name,
                    kwargs={
                        **kwargs,
                        "to": email,
                        "body": _note(kwargs["body"], original, instead=email in taken_over),
                    },
                )
            )


def install(task_name: str) -> None:
    """Route the notices of ``task_name``'s outbox rows (the mail task); once per process."""
    if _Installed.task_name is None:
        event.listen(Session, "before_flush", _route)
    _Installed.task_name = task_name
