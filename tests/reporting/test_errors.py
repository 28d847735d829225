"""Reporting's refusals are kinds of the one error hierarchy, so every caller answers them the same way."""

from __future__ import annotations

import pytest

from core.errors import Conflict, Invalid, ServiceError
from core.web import status_of
from reporting.operator_controllers.common import FormError
from reporting.services import IncidentError, IssueRefusedError, MaintenanceNoticeError


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (MaintenanceNoticeError, Invalid, 400),
        (IncidentError, Invalid, 400),
        (FormError, Invalid, 400),
        (IssueRefusedError, Conflict, 409),
    ],
)
def test_each_refusal_is_a_service_error_of_its_kind(
    error: type[ServiceError], kind: type[ServiceError], status: int
) -> None:
    refusal = error("理由")
    assert isinstance(refusal, kind)
    assert refusal.message == str(refusal) == "理由"
    assert status_of(refusal) == status
