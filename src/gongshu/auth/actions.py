"""The ACTIONS registry: every permission is declared once, here or in a domain's
``permissions`` list, and checked in services with :func:`gongshu.auth.service.require`.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: dict[str, tuple[str, str]] = {
    "authority_admin": ("数据主管部门管理员", "Authority administrator"),
    "authority_reviewer": ("数据主管部门审核员", "Authority reviewer"),
    "dept_officer": ("部门数据专员", "Department data officer"),
    "dept_staff": ("部门工作人员", "Department staff"),
    "auditor": ("审计监督员", "Auditor"),
    "sysadmin": ("系统管理员", "System administrator"),
}

ORG_KINDS_ZH = {"authority": "数据主管部门", "department": "部门", "town": "镇街", "park": "园区",
                "operator": "平台运营机构", "enterprise": "企业", "university": "高等院校和科研机构"}

AUTHORITY_ROLES = frozenset({"authority_admin", "authority_reviewer"})
GOV_ROLES = frozenset(ROLES)


@dataclass(frozen=True)
class Action:
    name: str
    zh: str
    en: str
    roles: frozenset[str]
    #: "any": role suffices; "own_org": the resource must belong to the actor's org
    scope: str = "any"
    writes: bool = True


ACTIONS: dict[str, Action] = {}


def declare(name: str, zh: str, en: str, roles: set[str] | frozenset[str], *, scope: str = "any",
            writes: bool = True) -> Action:
    if name in ACTIONS:
        raise ValueError(f"action {name} declared twice")
    if scope not in ("any", "own_org"):
        raise ValueError(f"unknown scope {scope}")
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"action {name}: unknown roles {unknown}")
    action = Action(name, zh, en, frozenset(roles), scope, writes)
    ACTIONS[name] = action
    return action


# Foundation actions -----------------------------------------------------------------
declare("auth.token.manage", "管理本人的 API 令牌", "Manage one's own API tokens", GOV_ROLES)
declare("auth.user.manage", "管理用户和角色", "Manage users and roles", {"sysadmin", "authority_admin"})
declare("auth.org.manage", "管理组织机构", "Manage organisations", {"sysadmin", "authority_admin"})
declare("audit.view", "查看审计日志", "Browse the audit log", {"auditor", "authority_admin"}, writes=False)
declare("audit.verify", "校验审计链", "Verify the audit chain", {"auditor", "sysadmin"}, writes=False)
declare("tasks.view_all", "查看全市待办与督办", "See every org's inbox and supervision",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("calendar.manage", "维护工作日日历调整", "Maintain working-day calendar overrides", {"authority_admin"})
