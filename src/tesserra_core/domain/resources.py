"""Resources: what a project holds (apps, sites, databases, buckets, cron jobs, MCP tool servers),
each of a catalog type, with a validated configuration and a provisioning lifecycle.

    pending -> provisioning -> running | failed
    running -> stopped -> provisioning (started again)
    any -> deleting -> (gone)
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import msgspec

from tesserra_core.domain.text import check_name

MAX_NAME = 63
MAX_REASON = 1000


class ResourceStatus(enum.StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    DELETING = "deleting"


UNSETTLED = frozenset({ResourceStatus.PENDING, ResourceStatus.PROVISIONING, ResourceStatus.DELETING})
"""States a provisioner is (or should be) working on; a restart resumes them."""


class DesiredState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class Resource(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    project_id: str
    type: str
    name: str
    config: dict[str, Any]
    status: ResourceStatus
    status_reason: str
    """Why it is in its status (the error of a failed provisioning), or empty."""
    workload_id: str | None
    """The runtime's workload, for container types."""
    endpoint: str | None
    """Where it answers, e.g. ``http://127.0.0.1:49153`` for a web app; None when it has no address."""
    created_at: datetime
    updated_at: datetime

    @property
    def owner(self) -> str:
        """The owner label of its workload in the container runtime."""
        return owner_of(self.id)


def next_version(now: datetime, previous: datetime) -> datetime:
    """The ``updated_at`` of a change: now, or just after the previous one if the clock has not
    moved, so that every write changes it (writers compare-and-set on it)."""
    return now if now > previous else previous + timedelta(microseconds=1)


def owner_of(resource_id: str) -> str:
    return f"resource:{resource_id}"


def check_resource_name(value: str) -> str:
    return check_name("name", value, MAX_NAME)


def reason(text: str) -> str:
    """A failure reason as stored: never empty, never unbounded."""
    text = text.strip() or "unknown error"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
