"""The demo city's share requests (共享申请): one in every state, through the real services (R-SHR-1 …).

Seeded after the resource data is loaded, so grants on loaded entries are delivered at once; with
``--persons 0`` they wait for delivery. Deadlines count from today like every other inbox item; the two
overdue cases (an unanswered request, an expired grant) are placed in the past by moving their dates back,
the only thing here that does not happen through a service call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gongshu.auth.models import User
from gongshu.auth.service import actor_for
from gongshu.catalog.service import demands, entries
from gongshu.demo.catalogue import ENTRIES
from gongshu.demo.seed import entry_codes
from gongshu.sharing.models import Grant, ShareRequest
from gongshu.sharing.service import grants, requests
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task


@dataclass(frozen=True)
class ShareSpec:
    consumer: str  # OrgSpec.key of the requesting department
    entry: str  # the published entry's name
    items: tuple[str, ...]
    matter: str
    basis: str
    system: str = ""
    mode: str = "api"
    #: what happens next: "" (left pending), approve, approve_masked (姓名 masked, rows narrowed), refuse,
    #: withdraw, escalate (reply overdue), revoke, expire
    then: str = ""
    note: str = ""
    scope: dict[str, list[str]] = field(default_factory=dict)
    term_days: int = 365


SHARES: tuple[ShareSpec, ...] = (
    ShareSpec("mzj", "户籍人口基本信息", ("公民身份号码", "姓名", "户籍地址", "户口类别"), "最低生活保障申请家庭户籍核查",
              "《社会救助暂行办法》第十一条；《最低生活保障审核确认办法》第十四条", "南湾市社会救助信息系统",
              then="approve_masked", note="同意；姓名脱敏提供，仅限低保审核确认使用"),
    ShareSpec("jyj", "户籍人口基本信息", ("公民身份号码", "姓名", "出生日期", "户籍地址"), "义务教育新生入学资格审核",
              "《中华人民共和国义务教育法》第十二条", "南湾市义务教育招生管理系统"),
    ShareSpec("rsj", "婚姻登记信息", ("公民身份号码", "姓名", "婚姻状况"), "遗属待遇申领中核验配偶关系",
              "《中华人民共和国社会保险法》第十七条", "南湾市智慧人社一体化平台", then="escalate"),
    ShareSpec("wqyq", "住房公积金缴存信息", ("公民身份号码", "姓名", "月缴存额", "缴存单位"), "园区人才住房补贴资格审核",
              "《湾区科技园人才住房补贴实施细则》", then="refuse",
              note="《中华人民共和国个人信息保护法》第三十四条：国家机关为履行法定职责处理个人信息，不得超出履行法定职责所必需的"
                   "范围和限度；园区实施细则不是法律、行政法规规定的职责依据"),
    ShareSpec("swj", "企业登记基本信息", ("统一社会信用代码", "企业名称", "法定代表人", "登记状态"), "税务登记信息比对",
              "《中华人民共和国税收征收管理法》第十五条", "金税系统南湾接口"),
    ShareSpec("ybj", "最低生活保障对象信息", ("公民身份号码", "姓名", "最低生活保障对象标识"), "困难群众参保资助",
              "《医疗救助办法》", then="withdraw", note="改由民政局统一推送资助名单"),
    ShareSpec("wjj", "残疾人证信息", ("公民身份号码", "姓名", "残疾类别", "残疾等级"), "家庭医生签约服务重点人群管理",
              "《国家基本公共卫生服务规范》", mode="exchange", then="approve"),
    ShareSpec("rsj", "户籍人口基本信息", ("公民身份号码", "姓名", "出生日期"), "养老保险待遇资格认证（免于提交户籍证明）",
              "《中华人民共和国社会保险法》；东莞市公共数据管理办法第五十条", mode="verify", then="approve"),
    ShareSpec("sfj", "艾滋病病毒感染者随访管理信息", ("公民身份号码",), "社区矫正对象入矫评估中的健康状况核验",
              "《中华人民共和国社区矫正法》第二十四条", mode="verify"),
    ShareSpec("jtj", "企业登记基本信息", ("统一社会信用代码", "企业名称", "登记状态"), "道路运输经营许可审查",
              "《道路运输条例》第二十二条", then="revoke", note="道路运输经营许可审批系统已停用"),
    ShareSpec("fgj", "纳税信用A级纳税人名单", ("统一社会信用代码", "企业名称", "纳税信用等级"), "诚信企业联合激励名单",
              "《社会信用体系建设规划纲要》", then="expire", term_days=30),
)


def _actors(session: Session) -> dict[str, object]:
    return {u.username: actor_for(session, u) for u in session.scalars(select(User).order_by(User.id))}


def seed_sharing(factory: sessionmaker[Session]) -> Counter:
    """Every demo share request and its outcome; returns the count per final request status."""
    out: Counter = Counter()
    codes = entry_codes()
    with factory.begin() as s:
        actors = _actors(s)
        for spec in SHARES:
            source = entries.find_by_code(s, code=codes[spec.entry])
            source_key = next(e.org for e in ENTRIES if e.name == spec.entry)
            consumer = actors[f"{spec.consumer}_officer"]
            officer = actors[f"{source_key}_officer"]
            req = requests.submit(s, actor=consumer, entry_id=source.id, items=list(spec.items), mode=spec.mode,
                                  matter=spec.matter, legal_basis=spec.basis, system_name=spec.system,
                                  row_scope=spec.scope, term_days=spec.term_days)
            _then(s, spec, req, consumer, officer)
            out[req.status] += 1
        _matched_demand(s, actors)
    return out


def _then(s: Session, spec: ShareSpec, req: ShareRequest, consumer, officer) -> None:
    if spec.then in ("approve", "approve_masked") and req.status == "pending":
        items = [{"name": n, "masked": n == "姓名" if spec.then == "approve_masked" else False} for n in req.items]
        grant = requests.approve(s, actor=officer, request_id=req.id, items=items, note=spec.note)
        if grant.status == "active":
            grants.accept_agreement(s, actor=consumer, grant_id=grant.id)
    elif spec.then == "refuse":
        requests.refuse(s, actor=officer, request_id=req.id, basis=spec.note)
    elif spec.then == "withdraw":
        requests.withdraw(s, actor=consumer, request_id=req.id, note=spec.note)
    elif spec.then == "escalate":  # filed 7 working days ago and never answered
        cal, today = tasks.calendar(s), tasks.today()
        filed = today - timedelta(days=10)
        req.reply_due = cal.add_workdays(filed, requests.REPLY_WORKDAYS)
        for t in s.scalars(select(Task).where(Task.kind == "sharing.reply", Task.subject_id == str(req.id))):
            t.due_date = req.reply_due
        requests.escalate_overdue(s, on=today)
    elif spec.then == "revoke":
        grant = requests.grant_of(s, request_id=req.id)
        grants.revoke(s, actor=officer, grant_id=grant.id, reason=spec.note)
    elif spec.then == "expire":
        grant = requests.grant_of(s, request_id=req.id)
        if grant.status == "active":
            grant.starts_on = tasks.today() - timedelta(days=spec.term_days + 5)
            grant.expires_on = grant.starts_on + timedelta(days=spec.term_days)
            grants.expire(s)


def _matched_demand(s: Session, actors: dict) -> None:
    """The demand list's matched demand (住建局 → 不动产登记信息) becomes a share request in one step (R-DEM-1);
    the entry has no data loaded, so the approved grant waits for delivery."""
    zjj = actors["zjj_officer"]
    for d in demands.list_demands(s, actor=zjj, scope="mine", status="matched"):
        req = requests.from_demand(s, actor=zjj, demand_id=d.id)
        entry = entries.fetch(s, entry_id=req.entry_id)
        source_key = next(e.org for e in ENTRIES if e.name == entry.name)
        requests.approve(s, actor=actors[f"{source_key}_officer"], request_id=req.id,
                         note="同意，限住房保障资格审核使用")


def grant_counts(factory: sessionmaker[Session]) -> Counter:
    with factory() as s:
        return Counter(s.scalars(select(Grant.status)))
