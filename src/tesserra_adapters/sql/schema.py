"""The database schema, as SQLAlchemy Core tables. Alembic migrations create it; nothing else does.

Over 400 lines on purpose: one schema in one place, one ``metadata`` that Alembic compares with the
migrations, so that every table, key and index of every area can be read (and reviewed) together.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # asyncpg already answers aware UTC
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = String(26)

tenants = Table(
    "tenants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("slug", String(63), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("is_platform_admin", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("created_by", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("tier", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "tenant_id", "id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("session_id", ID, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index(None, "session_id"),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("invited_by", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("accepted_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "tenant_id", "id"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("user_agent", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("login_id", ID, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(16), nullable=True),
    Column("shown_once", Text, nullable=True),
    Index(None, "user_id"),
    Index(None, "last_seen"),
)

revocations = Table(
    "revocations",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("owner", String(100), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("content_type", String(100), nullable=True),
    Column("expires_at", Float, nullable=False),
    Index(None, "expires_at"),
)

rate_limit_keys = Table(
    "rate_limit_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("touched_at", Float, nullable=False),
)

runner_leases = Table(
    "runner_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=True),
    Column("expires_at", Float, nullable=False),
    Column("last_run_at", Float, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("generation", BigInteger, nullable=False, server_default="0"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("beat_at", Float, nullable=False),
    Column("data_dir", String(1024), nullable=True),
    Column("boot_id", String(64), nullable=True),
    Column("url", String(255), nullable=True),
)

deployment = Table(
    "deployment",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
)
"""One row: this deployment's id, made by the migration that made the table. Every node of a cluster
shares it (one database); the Docker runtime labels its containers with it, so that deployments
sharing an engine never take each other's containers for their own strays."""

node_workloads = Table(
    "node_workloads",
    metadata,
    Column("workload_id", String(128), primary_key=True),
    Column("node_id", String(64), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("runtime", String(16), nullable=False),
    Column("recorded_at", Float, nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("snapshot", Text, nullable=True),
    Index(None, "node_id"),
    Index(None, "tenant_id"),
)

stored_objects = Table(
    "stored_objects",
    metadata,
    Column("key", String(520), primary_key=True),
    Column("upload_id", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("stored_at", Float, nullable=False),
)

file_chunks = Table(
    "file_chunks",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    Column("written_at", Float, nullable=False),
)

ssh_user_ca = Table(
    "ssh_user_ca",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sealed", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

rate_limit_hits = Table(
    "rate_limit_hits",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False),
    Column("at", Float, nullable=False),
    Index(None, "key", "at"),
)

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("tool_id", String(100), nullable=False),
    Column("provider_id", String(100), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("verifier_sealed", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index(None, "expires_at"),
)

oauth_links = Table(
    "oauth_links",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("tool_id", String(100), primary_key=True),
    Column("provider_id", String(100), nullable=False),
    Column("access_token_sealed", Text, nullable=False),
    Column("refresh_token_sealed", Text, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("scopes", Text, nullable=False),
    Column("email", String(320), nullable=True),
    Column("linked_at", UtcDateTime, nullable=False),
    Column("refreshed_at", UtcDateTime, nullable=True),
    Column("needs_relink", Boolean, nullable=False),
)

client_syncs = Table(
    "client_syncs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("instance_id", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("client_version", String(64), nullable=True),
    Column("tool_count", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "instance_id", "at"),
)

domains = Table(
    "domains",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(253), nullable=False, unique=True),
    Column("default_ttl", Integer, nullable=False),
    Column("serial", BigInteger, nullable=False),
    Column("verification_token", String(64), nullable=False),
    Column("verification_status", String(16), nullable=False),
    Column("verified_at", UtcDateTime, nullable=True),
    Column("last_checked_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "name"),
)

dns_records = Table(
    "dns_records",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, nullable=False),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(253), nullable=False),
    Column("type", String(8), nullable=False),
    Column("ttl", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "domain_id", "name"),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("domain_id", ID, ForeignKey("domains.id"), nullable=False),
    Column("address", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("quota_bytes", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "address"),
    Index(None, "domain_id"),
)

email_aliases = Table(
    "email_aliases",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("domain_id", ID, ForeignKey("domains.id"), nullable=False),
    Column("source", String(320), nullable=False, unique=True),
    Column("destinations", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "source"),
    Index(None, "domain_id"),
)

project_files = Table(
    "project_files",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("storage_key", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
    Index(None, "tenant_id"),
)

projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("name_key", String(400), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "id"),
    Index(None, "tenant_id", "name_key", unique=True),
)

project_counts = Table(
    "project_counts",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("projects", Integer, nullable=False),
)
"""How many projects each tenant holds, kept in the transaction that adds or deletes one: the
total of an unfiltered project list and the quota count, read in O(1) whatever the tenant's size."""

resources = Table(
    "resources",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("name", String(63), nullable=False),
    Column("config", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=False),
    Column("workload_id", String(128), nullable=True),
    Column("endpoint", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "project_id", "id"),
    Index(None, "project_id", "name", unique=True),
    Index(None, "status"),
)
# Billing (migration 0004)

Money = BigInteger()
ProviderId = String(255)

plans = Table(
    "plans",
    metadata,
    Column("id", ID, primary_key=True),
    Column("code", String(63), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("limits", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("stripe_product_id", ProviderId, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

plan_prices = Table(
    "plan_prices",
    metadata,
    Column("id", ID, primary_key=True),
    Column("plan_id", ID, ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("interval", String(8), nullable=False),
    Column("amount", Money, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("stripe_price_id", ProviderId, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "plan_id"),
    Index(None, "stripe_price_id"),
)

billing_customers = Table(
    "billing_customers",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("customer_id", ProviderId, nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", ProviderId, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", ProviderId, nullable=False),
    Column("plan_id", ID, nullable=True),
    Column("price_id", ProviderId, nullable=True),
    Column("status", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("interval", String(8), nullable=True),
    Column("amount", Money, nullable=False),
    Column("current_period_end", UtcDateTime, nullable=True),
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("as_of", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id"),
    Index(None, "status"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", ProviderId, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", ProviderId, nullable=False),
    Column("subscription_id", ProviderId, nullable=True),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_due", Money, nullable=False),
    Column("amount_paid", Money, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("paid_at", UtcDateTime, nullable=True),
    Column("paid_month", String(7), nullable=True),
    Column("as_of", UtcDateTime, nullable=False),
    Index(None, "created_at"),
    Index(None, "tenant_id", "created_at"),
    Index(None, "status", "paid_at"),
)

billing_events = Table(
    "billing_events",
    metadata,
    Column("id", ProviderId, primary_key=True),
    Column("type", String(100), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Index(None, "processed_at", "next_attempt_at"),
)

catalog_entries = Table(
    "catalog_entries",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("tags", Text, nullable=False),  # " a b ": LIKE '% tag %' matches one whole tag
    Column("search_text", Text, nullable=False),
    Column("document", Text, nullable=False),
    Index(None, "name"),
)

installations = Table(
    "installations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("entry_id", String(128), nullable=False),
    Column("entry_version", String(64), nullable=False),
    Column("config", Text, nullable=False),
    Column("sealed_secrets", Text, nullable=True),
    Column("secret_names", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("tools", Text, nullable=False),
    Column("workload_id", String(128), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "id"),
)

sandboxes = Table(
    "sandboxes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("name", String(63), nullable=False),
    Column("template", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("state_reason", Text, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("proxy_epoch", Integer, nullable=False, server_default="0"),
    Column("revoked_tokens", Text, nullable=False, server_default="[]"),
    Column("workload_id", String(128), nullable=True),
    Column("ttl_seconds", Integer, nullable=False),
    Column("on_ttl", String(8), nullable=False),
    Column("idle_timeout_seconds", Integer, nullable=True),
    Column("on_idle", String(8), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("idle_expires_at", UtcDateTime, nullable=True),
    Column("last_activity_at", UtcDateTime, nullable=False),
    Column("events", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "id"),
    Index(None, "state"),
    Index(None, "expires_at"),
    Index(None, "idle_expires_at"),
)
"""Sandboxes (migration 0007; proxy_epoch 0008; revoked_tokens 0012); a deleted one stays, state
``deleted``, with its events. The owner is a user id without a foreign key: the sandbox outlives its
creator's membership and is the tenant's."""

ssh_hosts = Table(
    "ssh_hosts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(63), nullable=False),
    Column("address", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("login", String(64), nullable=False),
    Column("host_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("sealed_key", Text, nullable=False),
    Column("tier", String(8), nullable=False),
    Column("labels", Text, nullable=False),
    Column("actions", Text, nullable=False),
    Column("forwards", Text, nullable=False),
    Column("max_lease_seconds", Integer, nullable=False),
    Column("approvers_required", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("certificate_login", Boolean, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "name"),
)
"""Infra SSH hosts (migration 0009). ``sealed_key`` is the login's private key sealed by the secret box;
labels, actions and forwards are JSON lists."""

ssh_audit = Table(
    "ssh_audit",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("event", String(24), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("via", String(8), nullable=False),
    Column("host_id", ID, nullable=True),
    Column("host_name", String(63), nullable=True),
    Column("action", String(64), nullable=True),
    Column("parameters", Text, nullable=False),
    Column("argv_sha256", String(64), nullable=True),
    Column("outcome", String(24), nullable=False),
    Column("remote_kind", String(24), nullable=True),
    Column("exit_status", Integer, nullable=True),
    Column("signal", String(16), nullable=True),
    Column("stdout_sha256", String(64), nullable=True),
    Column("stdout_bytes", BigInteger, nullable=True),
    Column("stderr_sha256", String(64), nullable=True),
    Column("stderr_bytes", BigInteger, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("run_id", ID, nullable=True),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("lease_id", ID, nullable=True),
    UniqueConstraint("tenant_id", "seq"),
)
"""The Infra SSH audit chain (migration 0009): append-only, ``seq`` 1, 2, ... per tenant, each ``hash``
over the previous one and the record's content (see tesserra_core.domain.infra_ssh_audit). ``lease_id``: 0013."""

ssh_leases = Table(
    "ssh_leases",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("host_ids", Text, nullable=False),
    Column("actions", Text, nullable=False),
    Column("forwards", Text, nullable=False),
    Column("duration_seconds", Integer, nullable=False),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("approvers_required", Integer, nullable=False),
    Column("approvals", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("starts_at", UtcDateTime, nullable=True),
    Column("ends_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("ended_by", String(128), nullable=True),
    Index(None, "tenant_id", "user_id", "state"),
)
"""Infra SSH approval leases (migration 0013): host ids, actions, forwards and approvals are JSON lists."""
agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("agent", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id"),
)
"""Agents edited or added after the shipped catalog (migration 0015): the current version's definition
(JSON), a tombstone once deleted; ``tenant_id`` set on a tenant's private agent, null on a platform one."""

conversations = Table(
    "conversations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("agent_version", Integer, nullable=False),
    Column("agent", Text, nullable=False),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "user_id", "updated_at"),
)
"""Conversations with agents (migration 0010): the user's own within the tenant. ``agent`` is the agent's
definition (JSON) as it was when the conversation started; ``agent_id`` and ``agent_version`` name it."""

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, nullable=False),
    Column("conversation_id", ID, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("stop_reason", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Column("tool_calls", Text, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("tokens_estimated", Boolean, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("reply_to", ID, nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Index(None, "conversation_id", "id"),
    Index(None, "conversation_id", "idempotency_key", unique=True),
    Index(None, "reply_to"),
    Index(None, "status"),
)
"""Messages of conversations (migration 0010), oldest first by id; each answer with its tool calls (JSON),
tokens (``tokens_estimated`` when counted here) and latency; an answer names its user message (``reply_to``),
a user message its ``Idempotency-Key`` (migration 0014)."""

message_events = Table(
    "message_events",
    metadata,
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("tenant_id", ID, nullable=False),
    Column("name", String(32), nullable=False),
    Column("data", Text, nullable=False),
)
"""The events of streamed answers, as sent (migration 0014)."""

chat_approvals = Table(
    "chat_approvals",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, nullable=False),
    Column("conversation_id", ID, nullable=False),
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("tool_call_id", String(128), nullable=False),
    Column("tool", String(128), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Index(None, "message_id"),
)
"""Destructive tool calls waiting for the user's decision (migration 0015); ``status`` leaves ``pending``
once, by a conditional update."""

chat_budgets = Table(
    "chat_budgets",
    metadata,
    Column("budget", String(80), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("tokens", Integer, nullable=False),
    Column("tool_calls", Integer, nullable=False),
)
"""Tokens and tool calls spent or reserved per budget (``tenant:<id>``, ``user:<id>``) and period (migration 0014)."""
