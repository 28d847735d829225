"""Screens and API of onboarding.

* Member administrators (:mod:`~onboarding.controllers.member`): bulk staff
  import (``/admin/import``, ``/api/v1/staff-imports``). The member's full
  export (``/admin/export``) and the deletion itself are in
  :mod:`signing.exit_controllers`, which can read contracts and seal.
* The secretariat (:mod:`~onboarding.controllers.secretariat`): stages and
  checklists (``/secretariat/onboarding``), agreements and invoices
  (``/secretariat/billing``), leaving members and their sealed deletion
  reports (``/secretariat/leaving``). It sees figures and records, never contract
  contents.

Handlers stay thin: they read the form, call one service, render. Services
raise the kinds of :mod:`core.errors`; the application maps them to a status
and a page (or JSON) in one place.
"""

from onboarding.controllers.member import StaffImportApiController, StaffImportController
from onboarding.controllers.secretariat import BillingController, LeavingController, OnboardingController

__all__ = [
    "BillingController",
    "LeavingController",
    "OnboardingController",
    "StaffImportApiController",
    "StaffImportController",
]
