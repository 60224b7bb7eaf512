"""chat streams: the events of streamed answers, an answer's user message, a message's idempotency key, budgets

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reply_to", sa.String(length=26), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_messages_conversation_id_idempotency_key"),
            ["conversation_id", "idempotency_key"],
            unique=True,
        )
        batch_op.create_index(batch_op.f("ix_messages_reply_to"), ["reply_to"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_status"), ["status"], unique=False)
    op.create_table(
        "message_events",
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_events_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "seq", name=op.f("pk_message_events")),
    )
    op.create_table(
        "chat_budgets",
        sa.Column("budget", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("budget", "period", name=op.f("pk_chat_budgets")),
    )


def downgrade() -> None:
    op.drop_table("chat_budgets")
    op.drop_table("message_events")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_status"))
        batch_op.drop_index(batch_op.f("ix_messages_reply_to"))
        batch_op.drop_index(batch_op.f("ix_messages_conversation_id_idempotency_key"))
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("reply_to")
        batch_op.drop_column("error_code")
