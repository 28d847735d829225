"""Test or live: the one question every part of the platform asks about a member.

A member in ``sandbox`` or ``trial`` works in its **test environment**; from
``live`` on (also while ``leaving``) in its **live environment**. The tables are
the same for both (settings made in test are the settings used live, ONB-1);
what differs is how the rest of the platform treats what happens:

* **Contracts** (signing domain) store ``environment`` (this module's
  :class:`~onboarding.models.Environment`) on every contract row, set from
  :func:`environment_of` when the contract is created. Promotion to live deletes
  the member's rows whose ``environment`` is ``test`` from every member-owned table
  that has such a column (see :func:`onboarding.stages.promote_to_live`), so a
  contract table following this convention is cleared automatically.
* **Mail**: subjects start with :data:`TEST_MAIL_PREFIX` and bodies with
  :data:`TEST_MAIL_NOTICE` when :func:`is_test` is true (use :func:`mail_subject`).
* **Sealing**: test contracts are sealed with the test PKI's certificate whose
  subject carries :data:`TEST_SEAL_LABEL`, never with the production certificate.
* **Metering/billing**: the contract service calls
  :func:`onboarding.metering.record_conclusion` at conclusion; it writes the
  environment, and billing counts ``live`` only. In test it also calls
  :func:`onboarding.stages.record_trial_run`.
"""

from __future__ import annotations

from onboarding.models import Environment
from tenants.models import Member, MemberStatus

__all__ = [
    "TEST_MAIL_NOTICE",
    "TEST_MAIL_PREFIX",
    "TEST_SEAL_LABEL",
    "TEST_STATUSES",
    "environment_of",
    "is_test",
    "mail_subject",
]

TEST_STATUSES = frozenset({MemberStatus.INVITED, MemberStatus.SANDBOX, MemberStatus.TRIAL})
"""Stages in which everything a member does is a test."""
TEST_MAIL_PREFIX = "【テスト】"
TEST_MAIL_NOTICE = "これはテスト環境からのメールです。実際の契約ではありません。"
TEST_SEAL_LABEL = "TEST ONLY - テスト用（法的効力なし）"


def is_test(member: Member) -> bool:
    """True while the member works in its test environment (invited, sandbox, trial)."""
    return member.status in TEST_STATUSES


def environment_of(member: Member) -> Environment:
    """The environment new contracts, mails and seals of ``member`` belong to."""
    return Environment.TEST if is_test(member) else Environment.LIVE


def mail_subject(member: Member, subject: str) -> str:
    """A mail subject, marked テスト in the test environment."""
    return f"{TEST_MAIL_PREFIX}{subject}" if is_test(member) else subject
