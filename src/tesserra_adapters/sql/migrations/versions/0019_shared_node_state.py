"""state every node shares: stored file objects in chunks, the Infra SSH user CA (sealed), and each
recorded workload's tenant and last known state

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_objects",
        sa.Column("key", sa.String(length=520), nullable=False),
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_stored_objects")),
    )
    op.create_table(
        "file_chunks",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("written_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", "seq", name=op.f("pk_file_chunks")),
    )
    op.create_table(
        "ssh_user_ca",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_user_ca")),
    )
    with op.batch_alter_table("node_workloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("snapshot", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_node_workloads_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_workloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_workloads_tenant_id"))
        batch_op.drop_column("snapshot")
        batch_op.drop_column("tenant_id")
    op.drop_table("ssh_user_ca")
    op.drop_table("file_chunks")
    op.drop_table("stored_objects")
