"""Webhooks, invitations and notification addresses: the JSON API calls every service method its screens call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"_service", "WebhookService", "InvitationService", "NotificationAddressService"}


def _service_methods(module: str, controller: str) -> set[str]:
    """Methods called on a service built in the handlers: ``Service(…).m()`` or ``s = Service(…); s.m()``."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == controller]
    found: set[str] = set()
    for handler in [n for n in cls.body if isinstance(n, ast.AsyncFunctionDef)]:
        aliases = {
            node.targets[0].id
            for node in ast.walk(handler)
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) in SERVICES
        }
        for node in ast.walk(handler):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            built = isinstance(target, ast.Call) and ast.unparse(target.func) in SERVICES
            if built or (isinstance(target, ast.Name) and target.id in aliases):
                found.add(node.func.attr)
    return found


@pytest.mark.parametrize(
    ("module", "screens", "api"),
    [
        ("signing/webhook_controllers.py", "WebhookController", "WebhookApiController"),
        ("tenants/invitation_controllers.py", "StaffInvitationController", "StaffInvitationApiController"),
        ("tenants/notification_controllers.py", "NotificationAddressController", "NotificationAddressApiController"),
    ],
)
def test_the_api_does_what_the_screens_do_through_the_same_methods(module: str, screens: str, api: str) -> None:
    on_screens = _service_methods(module, screens)
    assert on_screens, "the scan found the screens' service calls"
    assert on_screens <= _service_methods(module, api)
