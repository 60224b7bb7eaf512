"""What the Infra SSH lease use cases take and give."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from tesserra_core.domain.infra_ssh_leases import Approval, Lease, LeaseState
from tesserra_core.domain.text import Input
from tesserra_core.usecases.infra_ssh_views import ActionId, Destination
from tesserra_core.usecases.views import View

HostId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NewLease(Input, frozen=True, forbid_unknown_fields=True):
    host_ids: Annotated[list[HostId], msgspec.Meta(min_length=1, max_length=20)]
    actions: Annotated[list[ActionId], msgspec.Meta(min_length=1, max_length=50)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    duration_seconds: Annotated[int, msgspec.Meta(ge=5, le=86400)] = 900
    """From approval; at most the shortest ``max_lease_seconds`` of the hosts."""
    max_uses: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    forwards: Annotated[list[Destination], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)


class LeaseQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which leases to list: only the caller's (``mine``), in one state as of now."""

    mine: bool = False
    state: LeaseState | None = None


class LeaseView(View[Lease], frozen=True):
    """A lease as the tenant sees it: every field of the lease but its tenant, its state as of now."""

    id: str
    user_id: str
    key_id: str
    host_ids: tuple[str, ...]
    actions: tuple[str, ...]
    forwards: tuple[str, ...]
    duration_seconds: int
    max_uses: int
    uses: int
    reason: str
    approvers_required: int
    approvals: tuple[Approval, ...]
    state: LeaseState
    created_at: datetime
    starts_at: datetime | None
    ends_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None

    @classmethod
    def at(cls, lease: Lease, now: datetime) -> LeaseView:
        return cls.read(lease, state=lease.state_at(now))
