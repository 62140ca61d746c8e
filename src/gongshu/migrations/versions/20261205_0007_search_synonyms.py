"""the search synonym and abbreviation dictionary (同义词/简称词典, R-CAT-10)

Revision ID: 20261205_0007
Revises: 20261122_0006
Create Date: 2026-12-05 09:00:00

``catalog_search_synonym``: a term people type (简称 or variant) and the full terms it also
searches; ``bidirectional`` makes the row a group of equivalent terms. Search applies it at query
time, so the index needs no rebuild. Seeded here with common government abbreviations, so that a
fresh database (the demo city, the tests) has them; the authority edits them on the workbench.
The seed is a copy, not an import: a migration must not change when the code does.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = "20261205_0007"
down_revision = "20261122_0006"
branch_labels = None
depends_on = None

#: (term, expansions, bidirectional) — each in current Chinese government usage
SEED: list[tuple[str, tuple[str, ...], bool]] = [
    # social security, assistance (人社、民政、医保)
    ("社保", ("社会保险",), False),
    ("社保卡", ("社会保障卡",), False),
    ("五险一金", ("养老保险", "医疗保险", "失业保险", "工伤保险", "生育保险", "住房公积金"), False),
    ("养老金", ("养老保险",), False),
    ("医保", ("医疗保险", "医疗保障"), False),
    ("医保卡", ("社会保障卡", "医保电子凭证"), False),
    ("新农合", ("新型农村合作医疗", "城乡居民基本医疗保险"), False),
    ("低保", ("最低生活保障",), False),
    ("低保户", ("最低生活保障",), False),
    ("低收入", ("最低生活保障", "特困人员", "低保边缘"), False),
    ("特困", ("特困人员",), False),
    ("残联", ("残疾人联合会", "残疾人"), False),
    ("残疾证", ("残疾人证",), False),
    ("优抚", ("优待抚恤",), False),
    ("退伍军人", ("退役军人",), False),
    ("公积金", ("住房公积金",), False),
    ("个税", ("个人所得税",), False),
    ("人社", ("人力资源和社会保障", "人力资源社会保障"), False),
    # population, civil affairs, health (公安、民政、卫健)
    ("户籍", ("户口",), True),
    ("身份证", ("居民身份证", "公民身份号码"), False),
    ("身份证号", ("公民身份号码",), False),
    ("婚登", ("婚姻登记",), False),
    ("结婚证", ("婚姻登记",), False),
    ("离婚证", ("婚姻登记",), False),
    ("出生证", ("出生医学证明",), False),
    ("准生证", ("生育服务证", "生育登记"), False),
    ("卫健", ("卫生健康",), False),
    ("健康证", ("健康证明",), False),
    ("医院", ("医疗机构",), False),
    ("医废", ("医疗废物",), False),
    # traffic and transport (公安交管、交通运输)
    ("驾照", ("机动车驾驶证", "驾驶证"), False),
    ("行驶证", ("机动车行驶证", "机动车登记"), False),
    ("车管所", ("车辆管理所", "机动车登记"), False),
    ("交警", ("交通管理", "道路交通安全"), False),
    ("违章", ("交通违法",), False),
    ("公交", ("公共交通", "公共汽电车"), False),
    ("出租车", ("出租汽车",), False),
    ("的士", ("出租汽车",), False),
    ("网约车", ("网络预约出租汽车",), False),
    ("营运证", ("道路运输证",), False),
    # market, enterprises, credit (市场监管、税务、发改)
    ("营业执照", ("市场主体登记", "企业登记", "个体工商户登记"), False),
    ("工商", ("市场监管", "市场主体"), False),
    ("市监", ("市场监督管理", "市场监管"), False),
    ("个体户", ("个体工商户",), False),
    ("组织机构代码", ("统一社会信用代码",), False),
    ("企业年报", ("企业年度报告",), False),
    ("食安", ("食品安全",), False),
    ("失信", ("失信被执行人",), False),
    ("黑名单", ("严重失信主体", "失信被执行人"), False),
    ("老赖", ("失信被执行人",), False),
    ("双公示", ("行政许可", "行政处罚"), False),
    ("发改", ("发展和改革", "发展改革"), False),
    # land, housing, construction (自然资源、住建)
    ("不动产", ("不动产登记",), False),
    ("房产证", ("不动产权证书", "不动产登记", "房屋所有权证"), False),
    ("土地证", ("不动产权证书", "土地使用权"), False),
    ("国土", ("自然资源",), False),
    ("住建", ("住房和城乡建设",), False),
    ("预售证", ("商品房预售许可",), False),
    ("施工许可证", ("建筑工程施工许可",), False),
    ("城管", ("城市管理", "综合执法"), False),
    # environment, safety (生态环境、应急、水务)
    ("环保", ("生态环境", "环境保护"), False),
    ("环评", ("环境影响评价",), False),
    ("排污证", ("排污许可",), False),
    ("危废", ("危险废物",), False),
    ("安监", ("安全生产", "应急管理"), False),
    ("危化品", ("危险化学品",), False),
    ("取水证", ("取水许可",), False),
    ("PM2.5", ("细颗粒物",), False),
    # education (教育)
    ("毕业证", ("学历证书",), False),
    ("幼儿园", ("学前教育",), False),
    # government services
    ("12345", ("政务服务便民热线",), False),
]


def upgrade() -> None:
    table = op.create_table(
        "catalog_search_synonym",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=20), nullable=False),
        sa.Column("expansions", sa.JSON(), nullable=False),
        sa.Column("bidirectional", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["app_user.id"],
                                name=op.f("fk_catalog_search_synonym_updated_by_app_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_search_synonym")),
        sa.UniqueConstraint("term", name=op.f("uq_catalog_search_synonym_term")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(table, [{"term": term, "expansions": list(also), "bidirectional": both, "created_at": now,
                            "updated_at": now, "updated_by": None} for term, also, both in SEED])


def downgrade() -> None:
    op.drop_table("catalog_search_synonym")
