"""The demo city 南湾市 as data: organisations, people, data elements and grading rules.

南湾市 is fictional.  Its public data measures are modelled on the Dongguan measures
(东莞市公共数据管理办法), so the article numbers cited below (第十八条 natural persons,
第十九条 legal persons, 第二十条 natural resources and geography) follow that text.
Everything here is plain data; :mod:`gongshu.demo.seed` writes it through the real services.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from stdnum.cn import uscc as uscc_mod

CITY = "南湾市"
#: GB/T 2260 region code used in the USCCs: a plausible Guangdong prefecture code (the city is fictional)
REGION = "441900"
#: the one shared demo password; printed by ``gongshu demo``, used nowhere else
DEMO_PASSWORD = "gongshu-demo-2026"
DEFAULT_SEED = 20261122
MEASURES = f"《{CITY}公共数据管理办法》"


@dataclass(frozen=True)
class OrgSpec:
    key: str  # pinyin abbreviation, also the username prefix
    name: str
    short: str
    kind: str  # authority / department / town / park / operator
    #: USCC registration authority + organisation type (GB 32100): 11 机关, 12 事业单位, 13 群团, 91 企业
    reg_type: str = "11"


ORGS: tuple[OrgSpec, ...] = (
    OrgSpec("sjj", f"{CITY}政务服务数据管理局", "数据管理局", "authority"),
    OrgSpec("gaj", f"{CITY}公安局", "公安局", "department"),
    OrgSpec("mzj", f"{CITY}民政局", "民政局", "department"),
    OrgSpec("wjj", f"{CITY}卫生健康局", "卫生健康局", "department"),
    OrgSpec("rsj", f"{CITY}人力资源和社会保障局", "人社局", "department"),
    OrgSpec("swj", f"国家税务总局{CITY}税务局", "税务局", "department"),
    OrgSpec("scjgj", f"{CITY}市场监督管理局", "市场监管局", "department"),
    OrgSpec("jyj", f"{CITY}教育局", "教育局", "department"),
    OrgSpec("zrzyj", f"{CITY}自然资源局", "自然资源局", "department"),
    OrgSpec("zjj", f"{CITY}住房和城乡建设局", "住建局", "department"),
    OrgSpec("jtj", f"{CITY}交通运输局", "交通运输局", "department"),
    OrgSpec("cl", f"{CITY}残疾人联合会", "残联", "department", "13"),
    OrgSpec("gjj", f"{CITY}住房公积金管理中心", "公积金中心", "department", "12"),
    OrgSpec("sthjj", f"{CITY}生态环境局", "生态环境局", "department"),
    OrgSpec("shwj", f"{CITY}水务局", "水务局", "department"),
    OrgSpec("qxj", f"{CITY}气象局", "气象局", "department"),
    OrgSpec("yjj", f"{CITY}应急管理局", "应急管理局", "department"),
    OrgSpec("sfj", f"{CITY}司法局", "司法局", "department"),
    OrgSpec("fgj", f"{CITY}发展和改革局", "发改局", "department"),
    OrgSpec("czj", f"{CITY}财政局", "财政局", "department"),
    OrgSpec("ybj", f"{CITY}医疗保障局", "医保局", "department"),
    OrgSpec("nyj", f"{CITY}农业农村局", "农业农村局", "department"),
    OrgSpec("bsz", f"{CITY}白沙镇人民政府", "白沙镇", "town"),
    OrgSpec("dhjd", f"{CITY}东湖街道办事处", "东湖街道", "town"),
    OrgSpec("wqyq", f"{CITY}湾区科技园管理委员会", "湾区科技园", "park"),
    OrgSpec("yyzx", f"{CITY}数字政府运营有限公司", "运营公司", "operator", "91"),
)

ORG_BY_KEY = {o.key: o for o in ORGS}


def org_code(body: str) -> str:
    """An organisation code (GB 11714): 8 digits/letters plus its check character."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    s = sum(int(c, 36) * w for c, w in zip(body, weights, strict=True))
    check = 11 - s % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def make_uscc(reg_type: str, region: str, body: str) -> str:
    """A USCC (GB 32100): registration authority + type, region, organisation code, check character."""
    head = reg_type + region + org_code(body)
    return head + uscc_mod.calc_check_digit(head)


def usccs(seed: int) -> dict[str, str]:
    """One valid, distinct USCC per demo org, the same for the same seed."""
    rng = random.Random(seed)
    bodies = rng.sample(range(10_000_000, 99_999_999), len(ORGS))
    return {o.key: make_uscc(o.reg_type, REGION, f"{b:08d}") for o, b in zip(ORGS, bodies, strict=True)}


@dataclass(frozen=True)
class UserSpec:
    username: str
    org: str  # OrgSpec.key
    roles: tuple[str, ...]


#: departments that also get a staff account (every department and town gets a data officer)
STAFF_ORGS = ("gaj", "mzj", "wjj", "rsj", "scjgj", "zrzyj")

USERS: tuple[UserSpec, ...] = (
    UserSpec("admin", "sjj", ("authority_admin",)),
    UserSpec("reviewer", "sjj", ("authority_reviewer",)),
    UserSpec("auditor", "sjj", ("auditor",)),
    UserSpec("sysadmin", "yyzx", ("sysadmin",)),
    *(UserSpec(f"{o.key}_officer", o.key, ("dept_officer",)) for o in ORGS if o.kind in ("department", "town", "park")),
    *(UserSpec(f"{k}_staff", k, ("dept_staff",)) for k in STAFF_ORGS),
)


@dataclass(frozen=True)
class ElementSpec:
    code: str
    name: str
    type: str
    length: int | None
    source: str  # OrgSpec.key of the authoritative source department (数源部门)
    basis: str
    definition: str
    personal: bool = False
    identifier: bool = False


def _dg(article: str) -> str:
    return f"{MEASURES}{article}"


ELEMENTS: tuple[ElementSpec, ...] = (
    # 第十八条 自然人基础数据 -----------------------------------------------------------
    ElementSpec("RK0001", "公民身份号码", "C", 18, "gaj", "《中华人民共和国居民身份证法》；" + _dg("第十八条第（一）项"),
                "GB 11643 规定的 18 位公民身份号码", personal=True, identifier=True),
    ElementSpec("RK0002", "姓名", "C", 50, "gaj", _dg("第十八条第（一）项"), "户籍登记的姓名", personal=True),
    ElementSpec("RK0003", "性别", "C", 1, "gaj", _dg("第十八条第（一）项"), "GB/T 2261.1 性别代码", personal=True),
    ElementSpec("RK0004", "出生日期", "D", 8, "gaj", "《中华人民共和国户口登记条例》；" + _dg("第十八条第（一）项"),
                "户籍登记的出生日期 YYYYMMDD", personal=True),
    ElementSpec("RK0005", "民族", "C", 2, "gaj", _dg("第十八条第（一）项"), "GB/T 3304 民族代码", personal=True),
    ElementSpec("RK0006", "户籍地址", "C", 200, "gaj", "《中华人民共和国户口登记条例》；" + _dg("第十八条第（一）项"),
                "常住户口登记地址", personal=True),
    ElementSpec("RK0007", "户号", "C", 9, "gaj", _dg("第十八条第（一）项"), "户口簿户号", personal=True),
    ElementSpec("RK0008", "居住证号码", "C", 18, "gaj", "《居住证暂行条例》；" + _dg("第十八条第（二）项"),
                "流动人口居住证编号", personal=True, identifier=True),
    ElementSpec("RK0009", "居住地址", "C", 200, "gaj", "《居住证暂行条例》；" + _dg("第十八条第（二）项"),
                "流动人口居住登记地址", personal=True),
    ElementSpec("RK0010", "婚姻状况", "C", 2, "mzj", "《婚姻登记条例》；" + _dg("第十八条第（三）项"),
                "GB/T 2261.2 婚姻状况代码", personal=True),
    ElementSpec("RK0011", "婚姻登记日期", "D", 8, "mzj", "《婚姻登记条例》；" + _dg("第十八条第（三）项"),
                "结婚或离婚登记日期", personal=True),
    ElementSpec("RK0012", "收养登记证号", "C", 30, "mzj", "《中国公民收养子女登记办法》；" + _dg("第十八条第（三）项"),
                "收养登记证编号", personal=True),
    ElementSpec("RK0013", "出生医学证明编号", "C", 10, "wjj", "《中华人民共和国母婴保健法》；" + _dg("第十八条第（四）项"),
                "出生医学证明的编号", personal=True),
    ElementSpec("RK0014", "死亡日期", "D", 8, "wjj", _dg("第十八条第（四）项"), "居民死亡医学证明记载的死亡日期",
                personal=True),
    ElementSpec("RK0015", "居民电子健康档案编号", "C", 32, "wjj", _dg("第十八条第（五）项"),
                "居民电子健康档案唯一编号", personal=True),
    ElementSpec("RK0016", "社会保险参保状态", "C", 2, "rsj", "《中华人民共和国社会保险法》；" + _dg("第十八条第（六）项"),
                "基本养老、失业、工伤保险参保状态", personal=True),
    ElementSpec("RK0017", "社会保障卡号", "C", 20, "rsj", "《中华人民共和国社会保险法》；" + _dg("第十八条第（六）项"),
                "社会保障卡卡号", personal=True, identifier=True),
    ElementSpec("RK0018", "社会保险费缴费基数", "Y", 12, "swj", "《中华人民共和国社会保险法》；" + _dg("第十八条第（六）项"),
                "社会保险费征收的缴费基数（元）", personal=True),
    ElementSpec("RK0019", "最低生活保障对象标识", "L", 1, "mzj", "《社会救助暂行办法》；" + _dg("第十八条第（六）项"),
                "是否为最低生活保障对象", personal=True),
    ElementSpec("RK0020", "学籍号", "C", 19, "jyj", "《中华人民共和国教育法》；" + _dg("第十八条第（七）项"),
                "全国中小学生学籍号", personal=True, identifier=True),
    ElementSpec("RK0021", "毕业证书编号", "C", 18, "jyj", "《中华人民共和国教育法》；" + _dg("第十八条第（七）项"),
                "学历证书编号", personal=True),
    ElementSpec("RK0022", "残疾人证号", "C", 20, "cl", "《中华人民共和国残疾人保障法》；" + _dg("第十八条第（八）项"),
                "第二代残疾人证号（身份号码 + 类别 + 等级）", personal=True, identifier=True),
    ElementSpec("RK0023", "残疾类别", "C", 1, "cl", "《中华人民共和国残疾人保障法》；" + _dg("第十八条第（八）项"),
                "GB/T 26341 残疾类别代码", personal=True),
    ElementSpec("RK0024", "住房公积金个人账号", "C", 20, "gjj", "《住房公积金管理条例》；" + _dg("第十八条第（九）项"),
                "住房公积金个人账户号码", personal=True, identifier=True),
    ElementSpec("RK0025", "住房公积金缴存状态", "C", 2, "gjj", "《住房公积金管理条例》；" + _dg("第十八条第（九）项"),
                "正常缴存、封存、销户等", personal=True),
    ElementSpec("RK0026", "指定监护决定书编号", "C", 30, "mzj", "《中华人民共和国民法典》；" + _dg("第十八条第（十）项"),
                "指定监护决定书文号", personal=True),
    ElementSpec("RK0027", "医师执业证书编码", "C", 27, "wjj", "《中华人民共和国医师法》；" + _dg("第十八条第（十一）项"),
                "医师执业证书编码", personal=True),
    ElementSpec("RK0028", "律师执业证号", "C", 17, "sfj", "《中华人民共和国律师法》；" + _dg("第十八条第（十一）项"),
                "律师执业证号", personal=True),
    ElementSpec("RK0029", "职业资格证书编号", "C", 30, "rsj", _dg("第十八条第（十一）项"), "职业资格证书编号",
                personal=True),
    ElementSpec("RK0030", "基本医疗保险参保状态", "C", 2, "ybj", "《中华人民共和国社会保险法》",
                "职工或城乡居民基本医疗保险参保状态", personal=True),
    # 第十九条 法人和非法人组织基础数据 -------------------------------------------------------
    ElementSpec("FR0001", "统一社会信用代码", "C", 18, "scjgj", "GB 32100；" + _dg("第十九条第（四）项"),
                "法人和其他组织统一社会信用代码", identifier=True),
    ElementSpec("FR0002", "企业名称", "C", 200, "scjgj", "《中华人民共和国市场主体登记管理条例》；" + _dg("第十九条第（一）项"),
                "登记的企业名称"),
    ElementSpec("FR0003", "法定代表人", "C", 50, "scjgj", "《中华人民共和国市场主体登记管理条例》；" + _dg("第十九条第（一）项"),
                "法定代表人（负责人）姓名", personal=True),
    ElementSpec("FR0004", "注册资本", "Y", 18, "scjgj", _dg("第十九条第（一）项"), "注册资本（万元）"),
    ElementSpec("FR0005", "成立日期", "D", 8, "scjgj", _dg("第十九条第（一）项"), "市场主体成立日期"),
    ElementSpec("FR0006", "登记状态", "C", 2, "scjgj", _dg("第十九条第（一）项"), "存续、吊销、注销等"),
    ElementSpec("FR0007", "社会组织名称", "C", 200, "mzj", "《社会团体登记管理条例》；" + _dg("第十九条第（二）项"),
                "社会团体、民办非企业单位、基金会名称"),
    ElementSpec("FR0008", "社会组织类型", "C", 2, "mzj", "《社会团体登记管理条例》；" + _dg("第十九条第（二）项"),
                "社会团体、民办非企业单位或基金会"),
    ElementSpec("FR0009", "纳税信用等级", "C", 1, "swj", "《纳税信用管理办法》", "A、B、M、C、D 级"),
    # 第二十条 自然资源和空间地理基础数据 -----------------------------------------------------
    ElementSpec("ZR0001", "不动产权证号", "C", 40, "zrzyj", "《不动产登记暂行条例》；" + _dg("第二十条"),
                "不动产权证书编号"),
    ElementSpec("ZR0002", "不动产单元号", "C", 28, "zrzyj", "《不动产登记暂行条例》；" + _dg("第二十条"),
                "GB/T 37346 不动产单元代码"),
    ElementSpec("ZR0003", "宗地代码", "C", 19, "zrzyj", _dg("第二十条"), "宗地唯一代码"),
    ElementSpec("ZR0004", "国土空间用途", "C", 6, "zrzyj", "《中华人民共和国土地管理法》；" + _dg("第二十条"),
                "国土空间调查、规划、用途管制用地用海分类代码"),
    ElementSpec("ZR0005", "气象观测站编号", "C", 5, "qxj", "《中华人民共和国气象法》；" + _dg("第二十条"),
                "区域气象观测站站号"),
    ElementSpec("ZR0006", "水功能区代码", "C", 12, "shwj", "《中华人民共和国水法》；" + _dg("第二十条"), "水功能区划代码"),
    ElementSpec("ZR0007", "排污许可证编号", "C", 22, "sthjj", "《排污许可管理条例》", "排污许可证编号"),
    ElementSpec("ZR0008", "投资项目统一代码", "C", 24, "fgj", "《企业投资项目核准和备案管理条例》",
                "全国投资项目在线审批监管平台赋予的项目代码"),
)

ELEMENT_BY_NAME = {e.name: e for e in ELEMENTS}


@dataclass(frozen=True)
class RuleSpec:
    name: str
    grade: str
    reason: str
    element: str | None = None  # element name
    personal: bool | None = None
    identifier: bool | None = None
    keyword: str = ""


GRADING_RULES: tuple[RuleSpec, ...] = (
    RuleSpec("公民身份号码", "一般4", "公民身份号码属于个人身份标识，泄露可导致身份冒用（敏感个人信息）", element="公民身份号码"),
    RuleSpec("残疾人证号", "一般4", "残疾信息反映个人健康状况，属于敏感个人信息", element="残疾人证号"),
    RuleSpec("残疾类别", "一般4", "残疾信息反映个人健康状况，属于敏感个人信息", element="残疾类别"),
    RuleSpec("住房公积金账户", "一般4", "金融账户信息属于敏感个人信息", element="住房公积金个人账号"),
    RuleSpec("学籍号", "一般4", "涉及未成年人的个人信息按敏感个人信息处理", element="学籍号"),
    RuleSpec("最低生活保障", "一般4", "特定身份信息属于敏感个人信息", element="最低生活保障对象标识"),
    RuleSpec("健康档案", "重要", "群体健康医疗数据汇聚后可能影响公共健康安全（GB/T 43697 重要数据识别）",
             keyword="健康"),
    RuleSpec("诊断", "重要", "诊疗数据汇聚后可能影响公共健康安全（GB/T 43697 重要数据识别）", keyword="诊断"),
    RuleSpec("坐标", "重要", "高精度地理坐标数据可能危害国家安全（GB/T 43697 重要数据识别）", keyword="坐标"),
    RuleSpec("统一社会信用代码", "一般1", "统一社会信用代码依法公示", element="统一社会信用代码"),
    RuleSpec("个人标识项", "一般4", "可唯一识别自然人的标识项，按敏感个人信息处理", personal=True, identifier=True),
    RuleSpec("一般个人信息", "一般3", "个人信息，受限使用", personal=True),
)
