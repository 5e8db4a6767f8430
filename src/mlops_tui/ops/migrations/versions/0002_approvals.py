"""Four-eyes approvals: a request per write that needs approving, and the decisions on it
(approved, rejected, performed, failed, stale), append-only like the journal.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    key = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    reference = "BIGINT" if postgres else "INTEGER"
    op.execute(
        f"""CREATE TABLE IF NOT EXISTS approval_request (
    id {key},
    time TEXT NOT NULL,
    operator TEXT NOT NULL,
    environment TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT NOT NULL,
    before TEXT,
    after TEXT,
    message TEXT NOT NULL DEFAULT '',
    plan TEXT NOT NULL,
    needed INTEGER NOT NULL,
    expires TEXT NOT NULL
)"""
    )
    op.execute(
        f"""CREATE TABLE IF NOT EXISTS approval_decision (
    id {key},
    request_id {reference} NOT NULL REFERENCES approval_request(id),
    time TEXT NOT NULL,
    operator TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
)"""
    )
    op.execute("CREATE INDEX IF NOT EXISTS approval_request_env ON approval_request(environment)")
    op.execute("CREATE INDEX IF NOT EXISTS approval_decision_request ON approval_decision(request_id)")


def downgrade() -> None:
    op.execute("DROP TABLE approval_decision")
    op.execute("DROP TABLE approval_request")
