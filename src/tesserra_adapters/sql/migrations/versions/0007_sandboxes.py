"""sandboxes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandboxes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("tenant_id", sa.String(length=26), nullable=False),
        sa.Column("owner_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.String(length=128), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("on_ttl", sa.String(length=8), nullable=False),
        sa.Column("idle_timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("on_idle", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sandboxes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandboxes")),
    )
    with op.batch_alter_table("sandboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandboxes_tenant_id_id"), ["tenant_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sandboxes_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_sandboxes_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sandboxes_idle_expires_at"), ["idle_expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sandboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandboxes_idle_expires_at"))
        batch_op.drop_index(batch_op.f("ix_sandboxes_expires_at"))
        batch_op.drop_index(batch_op.f("ix_sandboxes_state"))
        batch_op.drop_index(batch_op.f("ix_sandboxes_tenant_id_id"))
    op.drop_table("sandboxes")
