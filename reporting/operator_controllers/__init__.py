"""The operator's screens: monthly reports (plans, issuing), incidents, maintenance and targets.

Only the provider's operators reach them (guard :func:`policy.guards.requires_operator`).
They work on every member's figures, so handlers take ``operator_session``: the
request's session inside :func:`core.scope.elevated`, which the dependency gives
to operators only. Operators see figures, incidents and maintenance, never a
contract. The handlers read through :class:`reporting.repository.ReportingRepository`
and act through :mod:`reporting.services`; the request commits (or, for a
refused form, rolls back) once the response is chosen.

Forms that cannot be accepted come back with what was typed and the reason in
plain words (status 400), instead of an error page.
"""

from __future__ import annotations

from reporting.operator_controllers.incidents import OperatorIncidentController
from reporting.operator_controllers.maintenance import OperatorMaintenanceController
from reporting.operator_controllers.reports import OperatorReportController
from reporting.operator_controllers.targets import OperatorTargetController

__all__ = [
    "OperatorIncidentController",
    "OperatorMaintenanceController",
    "OperatorReportController",
    "OperatorTargetController",
]
