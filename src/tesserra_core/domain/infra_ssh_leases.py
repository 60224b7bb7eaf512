"""Infra SSH approval leases (admin-session): an operator asks for a scope (hosts, actions, forwards, a
duration, a number of uses, a reason); other people approve it (another admin key and another user; as many
as the strictest host of the scope requires). The clock starts at approval; the lease ends at its end time,
on revocation, or when its uses are spent (then it stays active but covers no more runs)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import msgspec


class LeaseState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DENIED = "denied"
    REVOKED = "revoked"
    EXPIRED = "expired"


class LeaseFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which leases a list keeps: one person's (``user_id``), in one state as of ``at`` (an active lease past
    its end counts as expired; without ``at``, the state as written)."""

    user_id: str | None = None
    state: LeaseState | None = None
    at: datetime | None = None

    def keeps(self, lease: Lease) -> bool:
        if self.user_id is not None and lease.user_id != self.user_id:
            return False
        if self.state is None:
            return True
        return (lease.state if self.at is None else lease.state_at(self.at)) is self.state


class Approval(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    key_id: str
    at: datetime


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    user_id: str
    """X-User-Id of the operator who asked: the only person whose runs it covers."""
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

    def state_at(self, now: datetime) -> LeaseState:
        """The state, counting an active lease past its end as expired (before it is written so)."""
        if self.state is LeaseState.ACTIVE and self.ends_at is not None and now >= self.ends_at:
            return LeaseState.EXPIRED
        return self.state

    def refusal_to_approve(self, user_id: str, key_id: str, now: datetime) -> str | None:
        """Why this person and key may not approve (or deny) the lease now, or None."""
        state = self.state_at(now)
        if state is not LeaseState.PENDING:
            return f"the lease is {state}, not pending"
        if user_id == self.user_id:
            return "nobody approves their own lease"
        if key_id == self.key_id:
            return "the key that asked for a lease cannot approve it"
        for approval in self.approvals:
            if approval.user_id == user_id or approval.key_id == key_id:
                return "each approval must come from another user and another key"
        return None

    def approved(self, approval: Approval) -> Lease:
        """The lease with one more approval; active, its clock started, once enough people approved."""
        approvals = (*self.approvals, approval)
        if len(approvals) < self.approvers_required:
            return msgspec.structs.replace(self, approvals=approvals)
        ends = approval.at + timedelta(seconds=self.duration_seconds)
        return msgspec.structs.replace(
            self, approvals=approvals, state=LeaseState.ACTIVE, starts_at=approval.at, ends_at=ends
        )

    def ended(self, state: LeaseState, by: str, now: datetime) -> Lease:
        return msgspec.structs.replace(self, state=state, ended_at=now, ended_by=by)

    def covers(self, host_id: str, action_id: str, now: datetime) -> bool:
        """Whether a run of ``action_id`` on ``host_id`` fits the lease now (active, in scope, a use left)."""
        return (
            self.state_at(now) is LeaseState.ACTIVE
            and host_id in self.host_ids
            and action_id in self.actions
            and self.uses < self.max_uses
        )

    def covers_forward(self, host_id: str, destination: str, now: datetime) -> bool:
        """Whether a forward to ``destination`` through ``host_id`` fits the lease now (active, in scope). A
        forward takes no use: it lasts until it is closed or the lease ends."""
        return self.state_at(now) is LeaseState.ACTIVE and host_id in self.host_ids and destination in self.forwards

    def used(self) -> Lease:
        return msgspec.structs.replace(self, uses=self.uses + 1)
