"""runner fencing and nodes: a lease's generation (its fencing token), the nodes' heartbeats and the
workloads each node started

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runner_leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False))
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("beat_at", sa.Float(), nullable=False),
        sa.Column("data_dir", sa.String(length=1024), nullable=True),
        sa.Column("boot_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    op.create_table(
        "node_workloads",
        sa.Column("workload_id", sa.String(length=128), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("workload_id", name=op.f("pk_node_workloads")),
    )
    with op.batch_alter_table("node_workloads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_workloads_node_id"), ["node_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_workloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_workloads_node_id"))
    op.drop_table("node_workloads")
    op.drop_table("nodes")
    with op.batch_alter_table("runner_leases", schema=None) as batch_op:
        batch_op.drop_column("generation")
