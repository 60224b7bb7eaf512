"""Sandboxes: isolated runtimes a tenant's user creates from a template, with explicit states, a table
of legal actions, two clocks and an event list recording every transition with its cause.

    creating -> running | error
    running  -pause->   pausing  -> paused       paused  -resume->  starting -> running
    running  -stop->    stopping -> stopped      stopped -start->   starting -> running
    running/paused/stopped/error -restart-> starting -> running (a new workload: generation + 1)
    any      -delete->  deleting -> deleted      (idempotent; from every state, transient ones too)

A transient state (creating, starting, pausing, stopping, deleting) is always left: the action that
entered it settles it, and a reconciler settles what a crashed server left behind. Repeating an
action is a no-op; an action the table does not allow is 409 with the code ``sandbox_<state>``.

Clocks: ``expires_at`` (ttl_seconds after creation, or after the PATCH that set a new ttl: a hard
cap, then ``on_ttl``) and ``idle_expires_at`` (idle_timeout_seconds after ``last_activity_at``, while
running, then ``on_idle``). Activity is every action by a caller, keepalive included.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import msgspec

from tesserra_core.domain.resources import next_version, reason
from tesserra_core.errors import Conflict

MAX_NAME = 63
MAX_EVENTS = 50
"""Events kept per sandbox (oldest dropped first)."""
MAX_REVOKED = 1000
"""Single proxy tokens a sandbox holds revoked at once (each until it could no longer be used)."""


class SandboxState(enum.StrEnum):
    CREATING = "creating"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"


TRANSIENT = frozenset(
    {
        SandboxState.CREATING,
        SandboxState.STARTING,
        SandboxState.PAUSING,
        SandboxState.STOPPING,
        SandboxState.DELETING,
    }
)
"""States an action passes through; a reconciler settles those a crashed server left."""

GONE = frozenset({SandboxState.DELETED})


class SandboxAction(enum.StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    RESTART = "restart"
    KEEPALIVE = "keepalive"
    DELETE = "delete"


class Cause(enum.StrEnum):
    """Why a transition happened."""

    REQUEST = "request"
    TTL = "ttl"
    IDLE = "idle"
    OOM = "oom"
    ERROR = "error"
    ADMIN = "admin"
    RECONCILE = "reconcile"


class OnTtl(enum.StrEnum):
    STOP = "stop"
    DELETE = "delete"


class OnIdle(enum.StrEnum):
    PAUSE = "pause"
    STOP = "stop"
    DELETE = "delete"


class Step(msgspec.Struct, frozen=True):
    """What an action does from a state: the transient state it passes through and where it settles."""

    transient: SandboxState
    final: SandboxState
    fresh: bool = False
    """A new workload (start from error, restart): the lifecycle generation moves on."""


_S = SandboxState
_TABLE: dict[SandboxAction, tuple[dict[SandboxState, Step], frozenset[SandboxState]]] = {
    # action: ({from state: step}, states where the action is a no-op)
    SandboxAction.START: (
        {_S.STOPPED: Step(_S.STARTING, _S.RUNNING), _S.ERROR: Step(_S.STARTING, _S.RUNNING, fresh=True)},
        frozenset({_S.RUNNING, _S.STARTING}),
    ),
    SandboxAction.STOP: (
        {s: Step(_S.STOPPING, _S.STOPPED) for s in (_S.RUNNING, _S.PAUSED, _S.ERROR)},
        frozenset({_S.STOPPED, _S.STOPPING}),
    ),
    SandboxAction.PAUSE: ({_S.RUNNING: Step(_S.PAUSING, _S.PAUSED)}, frozenset({_S.PAUSED, _S.PAUSING})),
    SandboxAction.RESUME: ({_S.PAUSED: Step(_S.STARTING, _S.RUNNING)}, frozenset({_S.RUNNING, _S.STARTING})),
    SandboxAction.RESTART: (
        {s: Step(_S.STARTING, _S.RUNNING, fresh=True) for s in (_S.RUNNING, _S.PAUSED, _S.STOPPED, _S.ERROR)},
        frozenset({_S.STARTING}),
    ),
    SandboxAction.KEEPALIVE: ({}, frozenset({_S.RUNNING, _S.STARTING})),
    SandboxAction.DELETE: (
        {s: Step(_S.DELETING, _S.DELETED) for s in SandboxState if s is not _S.DELETED},
        frozenset({_S.DELETED}),
    ),
}


def step(state: SandboxState, action: SandboxAction) -> Step | None:
    """The step ``action`` takes from ``state``; None when it is a no-op there. 409 ``sandbox_<state>``
    when the table does not allow it."""
    moves, noop = _TABLE[action]
    found = moves.get(state)
    if found is not None:
        return found
    if state in noop:
        return None
    raise Conflict(f"cannot {action} a sandbox that is {state}", code=f"sandbox_{state}")


def legal_actions(state: SandboxState) -> list[SandboxAction]:
    """The actions that do something (not a no-op) from ``state``."""
    return [action for action, (moves, _) in _TABLE.items() if state in moves]


class SandboxTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """What the sandbox runs: an image (image runtimes) and/or a command (the process runtime needs one)."""

    image: str | None = None
    command: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    env: dict[str, str] = msgspec.field(default_factory=dict)
    memory_mb: int | None = None
    cpus: float | None = None
    network: bool = False
    """Whether it may reach the network beyond its declared ports (egress)."""


class SandboxEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    state: SandboxState
    """The state entered."""
    previous: SandboxState | None
    cause: Cause
    action: SandboxAction | None = None
    detail: str = ""


class RevokedToken(msgspec.Struct, frozen=True, kw_only=True):
    """One proxy token revoked by its id, kept until ``until`` (when it would have expired anyway)."""

    token_id: str
    until: datetime


class Sandbox(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    owner_id: str
    """The user who created it."""
    name: str
    template: SandboxTemplate
    state: SandboxState
    state_reason: str
    generation: int
    """Moves on with every new workload and with deletion: what proxy tokens bind to."""
    proxy_epoch: int = 0
    """Moves on when the sandbox's proxy tokens are revoked: a token names the epoch it was minted in."""
    revoked_tokens: tuple[RevokedToken, ...] = ()
    """Proxy tokens revoked one by one (by id), each until it would have expired."""
    workload_id: str | None
    ttl_seconds: int
    on_ttl: OnTtl
    idle_timeout_seconds: int | None
    on_idle: OnIdle
    expires_at: datetime
    idle_expires_at: datetime | None
    last_activity_at: datetime
    events: tuple[SandboxEvent, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def owner(self) -> str:
        """The owner label of its workloads in the container runtime."""
        return owner_of(self.id)

    def moved(
        self,
        to: SandboxState,
        cause: Cause,
        now: datetime,
        *,
        action: SandboxAction | None = None,
        detail: str = "",
        **changes: Any,
    ) -> Sandbox:
        """In state ``to``, with the transition recorded (its cause) and the clocks recomputed."""
        event = SandboxEvent(
            at=now, state=to, previous=self.state, cause=cause, action=action, detail=reason(detail) if detail else ""
        )
        moved = msgspec.structs.replace(
            self,
            state=to,
            state_reason=reason(detail) if detail else "",
            events=(*self.events, event)[-MAX_EVENTS:],
            updated_at=next_version(now, self.updated_at),
            **changes,
        )
        return moved.clocked()

    def revoked(self, token_id: str) -> bool:
        return any(r.token_id == token_id for r in self.revoked_tokens)

    def revoking(self, token_id: str, until: datetime, now: datetime) -> Sandbox:
        """With the token ``token_id`` revoked until ``until``; entries whose token has expired are
        dropped. 409 ``too_many_revocations`` past ``MAX_REVOKED`` (revoke them all instead)."""
        kept = tuple(r for r in self.revoked_tokens if r.until > now and r.token_id != token_id)
        if len(kept) >= MAX_REVOKED:
            raise Conflict(
                f"the sandbox holds {MAX_REVOKED} revoked tokens: revoke all its tokens instead",
                code="too_many_revocations",
            )
        entry = RevokedToken(token_id=token_id, until=until)
        return msgspec.structs.replace(
            self, revoked_tokens=(*kept, entry), updated_at=next_version(now, self.updated_at)
        )

    def touched(self, now: datetime) -> Sandbox:
        """Activity now: the idle clock starts again."""
        return msgspec.structs.replace(
            self, last_activity_at=now, updated_at=next_version(now, self.updated_at)
        ).clocked()

    def clocked(self) -> Sandbox:
        """``idle_expires_at`` as the state and the last activity make it: only a running sandbox idles."""
        idle = None
        if self.idle_timeout_seconds is not None and self.state is SandboxState.RUNNING:
            idle = self.last_activity_at + timedelta(seconds=self.idle_timeout_seconds)
        return self if idle == self.idle_expires_at else msgspec.structs.replace(self, idle_expires_at=idle)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def due(self, now: datetime) -> tuple[SandboxAction, Cause] | None:
        """What its clocks ask for now, if anything: the TTL first, then the idle clock."""
        if self.state in GONE or self.state is SandboxState.DELETING:
            return None
        if self.expired(now):
            if self.on_ttl is OnTtl.DELETE:
                return SandboxAction.DELETE, Cause.TTL
            if self.state in (SandboxState.RUNNING, SandboxState.PAUSED, SandboxState.ERROR):
                return SandboxAction.STOP, Cause.TTL
        if self.state is SandboxState.RUNNING and self.idle_expires_at is not None and now >= self.idle_expires_at:
            return SandboxAction(self.on_idle.value), Cause.IDLE
        return None


def owner_of(sandbox_id: str) -> str:
    return f"sandbox:{sandbox_id}"
