"""The demo city's data demands (需求清单, R-DEM-1): a handful in every state, through the real services.

Plain data plus one function the seeding calls in its own transaction; deterministic (deadlines are
counted from today like every other inbox item of the demo).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import demands, entries, projects
from gongshu.demo.city import MEASURES, ORG_BY_KEY


@dataclass(frozen=True)
class DemandSpec:
    org: str  # requesting OrgSpec.key
    title: str
    purpose: str
    basis: str
    items: tuple[str, ...]
    provider: str | None  # OrgSpec.key; None: the authority routes it
    #: what happens next: "" (left as registered / routed), route (the authority routes to ``route_to``),
    #: matched, fulfilled (matched then confirmed), planned, unavailable
    then: str = ""
    entry: str = ""  # the matching published entry's name
    answer: str = ""
    route_to: str = ""
    mode: str = "接口"
    project: str = ""


DEMANDS: tuple[DemandSpec, ...] = (
    DemandSpec("rsj", "参保人员死亡注销信息", "养老保险待遇领取资格认证，及时停发死亡人员的养老保险待遇",
               "《社会保险法》第十六条；人社部《关于做好领取社会保险待遇资格确认经办工作的通知》",
               ("公民身份号码", "姓名", "注销日期"), "gaj", then="fulfilled", entry="死亡注销户口信息",
               answer="已有目录“死亡注销户口信息”，请通过共享平台申请接口", project="南湾市智慧人社一体化平台建设项目"),
    DemandSpec("zjj", "住房保障申请家庭不动产登记信息", "公共租赁住房和保障性租赁住房申请家庭的住房状况核查",
               "《公共租赁住房管理办法》第七条", ("公民身份号码", "权利人名称", "坐落", "建筑面积"), "zrzyj",
               then="matched", entry="不动产登记信息", answer="可按有条件共享申请，限住房保障资格审核使用", mode="库表"),
    DemandSpec("jyj", "适龄儿童户籍信息", "义务教育阶段新生入学资格审核（户籍类别和户籍地址核验）",
               f"《义务教育法》第十二条；{MEASURES}第二十二条", ("公民身份号码", "姓名", "出生日期", "户籍地址"), None,
               then="route", route_to="gaj"),
    DemandSpec("bsz", "辖区出租屋及流动人口信息", "网格化基层治理：出租屋安全巡查和流动人口服务管理",
               f"{MEASURES}第二十二条；《广东省流动人口服务管理条例》", ("出租屋地址", "房东姓名", "居住人数", "居住登记日期"),
               None, mode="文件"),
    DemandSpec("fgj", "企业纳税信用等级（全部等级）", "社会信用体系建设：企业信用综合评价和分级分类监管",
               "《社会信用体系建设规划纲要》；国家税务总局《纳税信用管理办法》", ("统一社会信用代码", "纳税信用等级", "评价年度"),
               "swj", then="planned", answer="现仅编目 A 级名单；拟编目全部等级的评价结果，按季度更新"),
    DemandSpec("wqyq", "园区企业职工住房公积金缴存明细", "园区人才住房补贴申请的资格审核",
               "《湾区科技园人才住房补贴实施细则》", ("公民身份号码", "姓名", "月缴存额", "缴存单位"), "gjj",
               then="unavailable", answer="个人缴存明细属个人信息，园区人才补贴细则不是法律、行政法规规定的职责依据"
                                         "（《个人信息保护法》第三十四条）；可提供经本人授权的缴存证明核验"),
    DemandSpec("scjgj", "食品生产企业环境行政处罚信息", "食品生产许可审查中核查企业环境违法记录", f"{MEASURES}第二十二条",
               ("统一社会信用代码", "处罚决定书文号", "处罚日期"), "sthjj"),
)


def seed_demands(session: Session, actors: dict[str, Actor], codes: dict[str, str]) -> Counter:
    """Register every demo demand and take it to its state; returns the count per final status."""
    reviewer = actors["reviewer"]
    org_ids = {key: actor.org_id for key in ORG_BY_KEY if (actor := actors.get(f"{key}_officer"))}
    out: Counter = Counter()
    for spec in DEMANDS:
        requester = actors[f"{spec.org}_officer"]
        project_id = next((p.id for p in projects.list_projects(session, actor=requester) if p.name == spec.project),
                          None) if spec.project else None
        d = demands.register(session, actor=requester, title=spec.title, purpose=spec.purpose, basis=spec.basis,
                             items=list(spec.items), provider_org_id=org_ids[spec.provider] if spec.provider else None,
                             sharing_mode=spec.mode, project_id=project_id)
        if spec.then == "route":
            demands.route(session, actor=reviewer, demand_id=d.id, provider_org_id=org_ids[spec.route_to],
                          note="户籍信息由公安局采集")
        provider = actors[f"{spec.provider}_officer"] if spec.provider else None
        if spec.then in ("matched", "fulfilled") and provider is not None:
            entry = entries.find_by_code(session, code=codes[spec.entry])
            demands.answer(session, actor=provider, demand_id=d.id, outcome="matched", entry_id=entry.id,
                           reason=spec.answer)
            if spec.then == "fulfilled":
                demands.confirm(session, actor=requester, demand_id=d.id, note="接口已接入，需求已满足")
        elif spec.then in ("planned", "unavailable") and provider is not None:
            demands.answer(session, actor=provider, demand_id=d.id, outcome=spec.then, reason=spec.answer)
        out[d.status] += 1
    return out
