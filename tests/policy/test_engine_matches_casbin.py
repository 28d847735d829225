"""The engine's answers are Casbin's: every subject × permission, with inherited and foreign-domain roles."""

from __future__ import annotations

import itertools

from policy.engine import build_domain
from policy.permissions import BUILTIN_ROLES, MEMBER_PERMISSIONS

DOMAIN = "member:0193a8f0-0000-7000-8000-000000000001"
OTHER = "member:0193a8f0-0000-7000-8000-000000000002"


def test_every_answer_equals_casbins() -> None:
    custom = [
        ["role:reviewer", DOMAIN, "audit", "view"],
        ["role:lead", DOMAIN, "contract", "send"],
        ["role:elsewhere", OTHER, "staff", "manage"],
    ]
    grouping = [
        ["staff:a", "role:drafter", DOMAIN],
        ["staff:b", "role:lead", DOMAIN],
        ["role:lead", "role:reviewer", DOMAIN],  # a role inheriting another
        ["staff:c", "role:admin", OTHER],  # another member's grant gives nothing here
        ["staff:c", "role:elsewhere", DOMAIN],  # a role defined for another domain only
        ["apikey:k", "role:signer", DOMAIN],
    ]
    policy = build_domain(DOMAIN, custom, grouping)
    subjects = ["staff:a", "staff:b", "staff:c", "apikey:k", "staff:nobody", *(f"role:{r}" for r in BUILTIN_ROLES)]
    checked = 0
    for subject, permission in itertools.product(subjects, MEMBER_PERMISSIONS):
        expected = policy.enforce(subject, permission.obj, permission.act)
        assert policy.allows(subject, permission.obj, permission.act) == expected, (subject, permission)
        checked += 1
    assert checked > 100
    assert policy.allows("staff:b", "audit", "view"), "inherited through role:lead → role:reviewer"
    assert not policy.permissions("staff:c"), "nothing from another domain"
    assert policy.roles("staff:b") == ["lead"]


def test_ten_thousand_assignments_answer_from_the_maps() -> None:
    grouping = [[f"staff:{i}", "role:drafter", DOMAIN] for i in range(10_000)]
    policy = build_domain(DOMAIN, [], grouping)
    assert policy.allows("staff:9999", "contract", "draft")
    assert not policy.allows("staff:9999", "role", "manage")
    assert policy._enforcer is None, "Casbin's quadratic role walk is not on the request path"
