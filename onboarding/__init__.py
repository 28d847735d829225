"""Onboarding: staged go-live, bulk staff import, agreements, monthly billing, leaving.

Modules: :mod:`~onboarding.environment` (test or live), :mod:`~onboarding.stages`
(stages, checklist, trial runs, promotion), :mod:`~onboarding.metering` (what is
counted), :mod:`~onboarding.staff_import` (preview and apply; the file format in
:mod:`~onboarding.staff_csv`, the checks in :mod:`~onboarding.staff_checks`),
:mod:`~onboarding.billing` and :mod:`~onboarding.documents` (invoices),
:mod:`~onboarding.leaving` (export and deletion), :mod:`~onboarding.members` (the
members a screen acts on), :mod:`~onboarding.repository` (every query of a
member-owned row), :mod:`~onboarding.operations` (operator commands),
:mod:`~onboarding.tasks`, :mod:`~onboarding.controllers` (screens and API).
"""
