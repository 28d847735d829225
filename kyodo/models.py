"""Every model of every domain, imported once so that the metadata is complete.

Alembic and the tests import this module; a domain adds its ``models`` module to
the list below when it gets tables.
"""

from __future__ import annotations

import onboarding.models as onboarding_models
import policy.models as policy_models
import reporting.models as reporting_models
import signing.models as signing_models
import signing.webhooks as webhook_models
import tenants.idempotency as idempotency_models
import tenants.invitations as invitation_models
import tenants.models as tenant_models
import tenants.notification_addresses as notice_models
from core.db import mark_metadata_complete, metadata
from core.outbox import OutboxMessage

__all__ = ["DOMAIN_MODEL_MODULES", "OutboxMessage", "metadata"]

DOMAIN_MODEL_MODULES = (
    tenant_models,
    invitation_models,
    idempotency_models,
    notice_models,
    policy_models,
    onboarding_models,
    signing_models,
    webhook_models,
    reporting_models,
)

mark_metadata_complete()
