"""Onboarding: staged go-live, bulk staff import, agreements, monthly billing, leaving.

Modules: :mod:`~onboarding.environment` (test or live), :mod:`~onboarding.stages`
(stages, checklist, trial runs, promotion), :mod:`~onboarding.metering` (what is
counted), :mod:`~onboarding.staff_import`, :mod:`~onboarding.billing` and
:mod:`~onboarding.documents` (invoices), :mod:`~onboarding.leaving` (export and
deletion), :mod:`~onboarding.operations` (operator commands), :mod:`~onboarding.tasks`,
:mod:`~onboarding.controllers`.
"""
