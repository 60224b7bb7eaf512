"""billing: plans, prices, customers, subscriptions, invoices, provider events

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(length=26)
_PROVIDER_ID = sa.String(length=255)
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("limits", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("stripe_product_id", _PROVIDER_ID, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_plans_code")),
    )
    op.create_table(
        "plan_prices",
        sa.Column("id", _ID, nullable=False),
        sa.Column("plan_id", _ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("stripe_price_id", _PROVIDER_ID, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_prices_plan_id_plans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_prices")),
    )
    op.create_index(op.f("ix_plan_prices_plan_id"), "plan_prices", ["plan_id"])
    op.create_index(op.f("ix_plan_prices_stripe_price_id"), "plan_prices", ["stripe_price_id"])
    op.create_table(
        "billing_customers",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("customer_id", _PROVIDER_ID, nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_customers_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_billing_customers_customer_id")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", _PROVIDER_ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("customer_id", _PROVIDER_ID, nullable=False),
        sa.Column("plan_id", _ID, nullable=True),
        sa.Column("price_id", _PROVIDER_ID, nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("current_period_end", _AT, nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("ended_at", _AT, nullable=True),
        sa.Column("as_of", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subscriptions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_tenant_id"), "subscriptions", ["tenant_id"])
    op.create_index(op.f("ix_subscriptions_status"), "subscriptions", ["status"])
    op.create_table(
        "invoices",
        sa.Column("id", _PROVIDER_ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("customer_id", _PROVIDER_ID, nullable=False),
        sa.Column("subscription_id", _PROVIDER_ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("paid_at", _AT, nullable=True),
        sa.Column("paid_month", sa.String(length=7), nullable=True),
        sa.Column("as_of", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
    )
    op.create_index(op.f("ix_invoices_created_at"), "invoices", ["created_at"])
    op.create_index(op.f("ix_invoices_tenant_id_created_at"), "invoices", ["tenant_id", "created_at"])
    op.create_index(op.f("ix_invoices_status_paid_at"), "invoices", ["status", "paid_at"])
    op.create_table(
        "billing_events",
        sa.Column("id", _PROVIDER_ID, nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", _AT, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", _AT, nullable=False),
        sa.Column("processed_at", _AT, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
    )
    op.create_index(
        op.f("ix_billing_events_processed_at_next_attempt_at"), "billing_events", ["processed_at", "next_attempt_at"]
    )


def downgrade() -> None:
    for table in ("billing_events", "invoices", "subscriptions", "billing_customers", "plan_prices", "plans"):
        op.drop_table(table)
