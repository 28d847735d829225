"""Every controller of the platform and its domains, and where their templates are.

Each domain lists its controllers here; the app factory and the route-walking
isolation test read the same list.
"""

from __future__ import annotations

from pathlib import Path

from litestar.types import ControllerRouterHandler

from consortium.controllers import (
    AddressBookApiController,
    AddressBookController,
    SecretariatApiController,
    SecretariatController,
)
from kyodo.consortium_controllers import OperatorConsortiumController
from kyodo.devmail import DevMailController
from kyodo.health import HealthController
from kyodo.metrics import MetricsController
from kyodo.pages import AccountController, PagesController
from onboarding.controllers import (
    BillingController,
    LeavingController,
    OnboardingController,
    StaffImportApiController,
    StaffImportController,
)
from onboarding.invitation_controllers import ImportInvitationController
from policy.controllers import RoleApiController, RoleController
from reporting.controllers import (
    MemberIncidentController,
    MemberReportController,
    SecretariatReportController,
    StatusController,
)
from reporting.operator_controllers import (
    OperatorIncidentController,
    OperatorMaintenanceController,
    OperatorReportController,
    OperatorTargetController,
)
from signing.controllers import (
    BulkSendingApiController,
    BulkSendingController,
    ContractApiController,
    ContractEditorController,
    ContractorController,
    ContractPagesController,
    ContractRecordsApiController,
    ContractRecordsController,
    FinanceCsvController,
    PortalController,
)
from signing.exit_controllers import DeletionController, MemberExportController
from signing.verify_controllers import VerificationController, VerifyApiController
from signing.webhook_controllers import WebhookApiController, WebhookController
from tenants.api import AdminApiController
from tenants.controllers import AdminController
from tenants.invitation_controllers import (
    InvitationController,
    StaffInvitationApiController,
    StaffInvitationController,
)
from tenants.notification_controllers import NotificationAddressApiController, NotificationAddressController
from tenants.oplog_controllers import OperationLogController

__all__ = ["route_handlers", "template_dirs"]

ROOT = Path(__file__).resolve().parent.parent


def route_handlers() -> list[ControllerRouterHandler]:
    """Controllers of the platform and every domain."""
    return [
        HealthController,
        MetricsController,
        PagesController,
        AccountController,
        ContractApiController,
        ContractPagesController,
        ContractEditorController,
        BulkSendingController,
        FinanceCsvController,
        BulkSendingApiController,
        ContractorController,
        ContractRecordsController,
        ContractRecordsApiController,
        PortalController,
        DevMailController,
        VerificationController,
        VerifyApiController,
        AdminController,
        AdminApiController,
        OperationLogController,
        WebhookController,
        WebhookApiController,
        InvitationController,
        StaffInvitationController,
        StaffInvitationApiController,
        ImportInvitationController,
        NotificationAddressController,
        NotificationAddressApiController,
        RoleController,
        RoleApiController,
        SecretariatController,
        SecretariatApiController,
        AddressBookController,
        AddressBookApiController,
        StaffImportController,
        StaffImportApiController,
        MemberExportController,
        OnboardingController,
        BillingController,
        LeavingController,
        DeletionController,
        StatusController,
        MemberReportController,
        MemberIncidentController,
        SecretariatReportController,
        OperatorReportController,
        OperatorIncidentController,
        OperatorMaintenanceController,
        OperatorTargetController,
        OperatorConsortiumController,
    ]


def template_dirs() -> list[Path]:
    """The platform's templates, then each domain's ``templates/`` folder."""
    dirs = [ROOT / "kyodo" / "templates"]
    for domain in ("consortium", "tenants", "policy", "signing", "reporting", "onboarding"):
        folder = ROOT / domain / "templates"
        if folder.is_dir():
            dirs.append(folder)
    return dirs
