"""catalog search index (R-CAT-10)

Revision ID: 20261122_0003
Revises: 20261122_0002
Create Date: 2026-11-22 09:00:00

One row per published entry in ``catalog_search_doc`` (narrow: denormalised facet columns,
name, code) and in ``catalog_search_text`` (summary and pre-segmented tokens: jieba words +
pinyin), facet counts over everything indexed (``catalog_search_count``, for the landing page),
and the database's own full-text index over those tokens:

- SQLite: an external-content FTS5 table ``catalog_search_fts`` over ``catalog_search_text``
  (``unicode61``, which splits on blanks and punctuation only, so each segmented Chinese
  word stays one token), with prefix indexes for 1–3 characters, kept in step by triggers;
- PostgreSQL: ``tsv`` (``to_tsvector('simple', …)``, name tokens weighted A, the rest B) with
  a GIN index and ``name_words`` (for ranking) on ``catalog_search_doc``, written with the row.
"""

import sqlalchemy as sa
from alembic import op

revision = "20261122_0003"
down_revision = "20261122_0002"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE catalog_search_fts USING fts5(
        name_tokens, body_tokens, content='catalog_search_text', content_rowid='entry_id',
        tokenize='unicode61 remove_diacritics 0', prefix='1 2 3')""",
    """CREATE TRIGGER catalog_search_text_ai AFTER INSERT ON catalog_search_text BEGIN
        INSERT INTO catalog_search_fts(rowid, name_tokens, body_tokens)
        VALUES (new.entry_id, new.name_tokens, new.body_tokens);
    END""",
    """CREATE TRIGGER catalog_search_text_ad AFTER DELETE ON catalog_search_text BEGIN
        INSERT INTO catalog_search_fts(catalog_search_fts, rowid, name_tokens, body_tokens)
        VALUES ('delete', old.entry_id, old.name_tokens, old.body_tokens);
    END""",
    """CREATE TRIGGER catalog_search_text_au AFTER UPDATE ON catalog_search_text BEGIN
        INSERT INTO catalog_search_fts(catalog_search_fts, rowid, name_tokens, body_tokens)
        VALUES ('delete', old.entry_id, old.name_tokens, old.body_tokens);
        INSERT INTO catalog_search_fts(rowid, name_tokens, body_tokens)
        VALUES (new.entry_id, new.name_tokens, new.body_tokens);
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS catalog_search_text_au",
    "DROP TRIGGER IF EXISTS catalog_search_text_ad",
    "DROP TRIGGER IF EXISTS catalog_search_text_ai",
    "DROP TABLE IF EXISTS catalog_search_fts",
]
PG_UP = [
    # tsv: every token (name weighted A); name_words: the name's words, kept inline for cheap ranking.
    # They live in the narrow doc table (written with it by the service) so that matching, facets and
    # ranking read one table; the wide tsv goes out of line (TOAST) so that the heap stays narrow.
    "ALTER TABLE catalog_search_doc ADD COLUMN tsv tsvector, ADD COLUMN name_words text",
    # only tsv may leave the row: every other column stays inline and uncompressed (PLAIN), or
    # each facet count and sort would fetch it back from the TOAST table
    "ALTER TABLE catalog_search_doc " + ", ".join(
        f"ALTER COLUMN {c} SET STORAGE PLAIN" for c in (
            "code", "name", "org_name", "resource_attr", "topic", "grade", "sharing_type", "open_type", "format",
            "update_cycle", "name_words")),
    "ALTER TABLE catalog_search_doc SET (toast_tuple_target = 256)",
    "CREATE INDEX ix_catalog_search_doc_tsv ON catalog_search_doc USING gin (tsv)",
]


def upgrade() -> None:
    op.create_table(
        "catalog_search_doc",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("resource_attr", sa.String(length=4), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("grade", sa.String(length=10), nullable=False),
        sa.Column("sharing_type", sa.String(length=10), nullable=False),
        sa.Column("open_type", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("update_cycle", sa.String(length=10), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_catalog_search_doc")),
    )
    with op.batch_alter_table("catalog_search_doc", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_search_doc_code"), ["code"], unique=False)
        # the landing page lists entries in name order
        batch_op.create_index("ix_catalog_search_doc_name_entry_id", ["name", "entry_id"], unique=False)
    op.create_table(
        "catalog_search_text",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("name_tokens", sa.Text(), nullable=False),
        sa.Column("body_tokens", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_catalog_search_text")),
    )
    op.create_table(
        "catalog_search_count",
        sa.Column("facet", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("n_all", sa.Integer(), nullable=False),
        sa.Column("n_public", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("facet", "value", name=op.f("pk_catalog_search_count")),
    )
    dialect = op.get_bind().dialect.name
    for stmt in SQLITE_UP if dialect == "sqlite" else PG_UP if dialect == "postgresql" else []:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    op.drop_table("catalog_search_count")
    op.drop_table("catalog_search_text")
    with op.batch_alter_table("catalog_search_doc", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_search_doc_name_entry_id")
        batch_op.drop_index(batch_op.f("ix_catalog_search_doc_code"))
    op.drop_table("catalog_search_doc")
