"""Permissions and the built-in roles every member has.

A permission is an (object, action) pair. Built-in roles are defined here, in
code, for every domain; a member administrator may define further roles in the
member's domain, made only of permissions the administrator holds.
"""

from __future__ import annotations

import enum

from core.scope import Permission

__all__ = [
    "BUILTIN_ROLES",
    "MEMBER_PERMISSIONS",
    "OPERATOR_PERMISSIONS",
    "OPERATOR_ROLE",
    "SECRETARIAT_PERMISSIONS",
    "SECRETARIAT_ROLE",
    "BuiltinRole",
    "Permission",
    "consortium_domain",
    "member_domain",
]


def P(text: str) -> Permission:
    return Permission.parse(text)


MEMBER_PERMISSIONS: dict[Permission, str] = {
    P("contract:view"): "契約書を閲覧する",
    P("contract:draft"): "契約書を作成・編集する",
    P("contract:send"): "契約書を送信する",
    P("contract:cancel"): "送信した契約書を取り消す",
    P("contract:sign"): "契約名義で締結する（契約締結権限）",
    P("contract:download"): "締結済み契約書・締結証明書をダウンロードする",
    P("contract:view_all"): "所属にかかわらず団体のすべての契約書を閲覧する",
    P("contract:correct"): "締結後の取引年月日・金額・取引先を理由を付けて訂正し、契約書の所属を付け替える",
    P("audit:view"): "監査ログを閲覧する",
    P("addressbook:view"): "アドレス帳を閲覧する",
    P("addressbook:manage"): "アドレス帳を編集する",
    P("staff:view"): "職員一覧を閲覧する",
    P("staff:manage"): "職員・所属を管理する",
    P("title:manage"): "契約名義と名義の付与を管理する",
    P("role:manage"): "ロールと権限を管理する",
    P("iprange:manage"): "接続元IPアドレス制限を管理する",
    P("apikey:manage"): "APIキーを発行・失効する",
    P("webhook:manage"): "Webhook（他システムへの通知）を登録・管理する",
    P("member:import"): "職員を一括登録する",
    P("member:export"): "団体の全データを一括エクスポートする",
    P("report:view"): "月次サービス報告書（稼働率・障害・セキュリティ）を閲覧する",
    P("incident:report"): "障害を運用事業者へ申告し、その対応状況を見る",
}
"""Every permission that can be held in a member's domain, with its Japanese label."""

SECRETARIAT_PERMISSIONS: dict[Permission, str] = {
    P("consortium:view"): "構成団体の一覧と状況を閲覧する",
    P("consortium:manage"): "構成団体の加入・脱退を管理する",
    P("company:manage"): "事業者（共通）を管理する",
    P("report:view"): "利用状況・SLAの集計を閲覧する",
    P("billing:manage"): "契約と請求を管理する",
}

OPERATOR_PERMISSIONS: dict[Permission, str] = {
    P("incident:manage"): "障害を記録し、構成団体へ通知する",
    P("maintenance:manage"): "計画保守を告知・中止する",
    P("report:view"): "全構成団体のSLA数値を閲覧する",
    P("report:issue"): "改善計画を記入し、月次報告書を発行する",
    P("target:manage"): "サービスレベル目標値を設定する",
    P("consortium:found"): "協議会（コンソーシアム）と事務局アカウントを作成し、構成団体を加える",
}
"""What the provider's operators may do: figures and operations, never contract contents.

Operators hold all of these, outside every Casbin domain: the operator role is
not a built-in role, so no member or secretariat can hand it to anyone.
"""


class BuiltinRole(enum.StrEnum):
    """Roles every member has."""

    ADMIN = "admin"
    DRAFTER = "drafter"
    SIGNER = "signer"
    VIEWER = "viewer"
    AUDITOR = "auditor"


SECRETARIAT_ROLE = "secretariat"
OPERATOR_ROLE = "operator"

_ROLE_PERMISSIONS: dict[str, set[str]] = {
    BuiltinRole.ADMIN: {str(p) for p in MEMBER_PERMISSIONS},
    BuiltinRole.DRAFTER: {
        "contract:view",
        "contract:draft",
        "contract:send",
        "contract:cancel",
        "contract:download",
        "addressbook:view",
        "addressbook:manage",
    },
    BuiltinRole.SIGNER: {"contract:view", "contract:sign", "contract:download", "addressbook:view"},
    BuiltinRole.VIEWER: {"contract:view", "contract:download"},
    BuiltinRole.AUDITOR: {
        "contract:view",
        "contract:view_all",
        "contract:download",
        "audit:view",
        "staff:view",
        "addressbook:view",
        "report:view",
    },
    SECRETARIAT_ROLE: {str(p) for p in SECRETARIAT_PERMISSIONS},
}

BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    role: frozenset(Permission.parse(p) for p in perms) for role, perms in _ROLE_PERMISSIONS.items()
}
"""Built-in role name → its permissions."""

ROLE_LABELS: dict[str, str] = {
    BuiltinRole.ADMIN: "団体管理者",
    BuiltinRole.DRAFTER: "起案者",
    BuiltinRole.SIGNER: "締結権限者",
    BuiltinRole.VIEWER: "閲覧者",
    BuiltinRole.AUDITOR: "監査担当",
    SECRETARIAT_ROLE: "事務局",
    OPERATOR_ROLE: "運用事業者",
}


def member_domain(member_id: object) -> str:
    """The Casbin domain of a member."""
    return f"member:{member_id}"


def consortium_domain(consortium_id: object) -> str:
    """The Casbin domain of a consortium's secretariat."""
    return f"consortium:{consortium_id}"
