"""The journal of write actions: intent and outcome rows, append-only.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    key = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    reference = "BIGINT" if postgres else "INTEGER"
    op.execute(
        f"""CREATE TABLE IF NOT EXISTS journal (
    id {key},
    intent_id {reference} REFERENCES journal(id),
    time TEXT NOT NULL,
    operator TEXT NOT NULL,
    environment TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    before TEXT,
    after TEXT,
    result TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0
)"""
    )
    op.execute("CREATE INDEX IF NOT EXISTS journal_intent ON journal(intent_id)")
    op.execute("CREATE INDEX IF NOT EXISTS journal_target ON journal(environment, target)")


def downgrade() -> None:
    op.execute("DROP TABLE journal")
