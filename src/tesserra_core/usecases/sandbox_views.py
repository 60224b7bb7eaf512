"""What the sandbox use cases take and give: the bounded inputs (400 ``validation_failed`` past a
bound) and the view a GET shows (state, clocks, generation, recent events; never the env's values)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

import msgspec

from tesserra_core.domain.sandboxes import (
    MAX_NAME,
    Cause,
    OnIdle,
    OnTtl,
    Sandbox,
    SandboxAction,
    SandboxEvent,
    SandboxState,
    SandboxTemplate,
    legal_actions,
)
from tesserra_core.domain.text import Input, Line, name_meta
from tesserra_core.usecases.views import View

MAX_TTL = 30 * 24 * 3600
"""The bound of any clock; the plan's ``sandbox_ttl_seconds`` is usually lower."""
DEFAULT_TTL = 3600
RECENT_EVENTS = 20

Argument = Annotated[Line, msgspec.Meta(min_length=1, max_length=4096)]
MAX_PORT = 65535
Seconds = Annotated[int, msgspec.Meta(ge=1, le=MAX_TTL)]


class EnvVar(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128, examples=["DEBUG"])]
    value: Annotated[Line, msgspec.Meta(max_length=4096, examples=["1"])] = ""


class NewSandbox(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(MAX_NAME), msgspec.Meta(examples=["scratch"])]
    image: (
        Annotated[
            Line,
            msgspec.Meta(
                min_length=1,
                max_length=255,
                examples=["python:3.12-slim"],
                description="The image, on image runtimes (Docker). Without an image nor a command: 422 "
                "template_incomplete.",
            ),
        ]
        | None
    ) = None
    command: Annotated[
        list[Argument], msgspec.Meta(max_length=64, examples=[["python3", "-m", "http.server", "8000"]])
    ] = msgspec.field(default_factory=list)
    """The argument vector (the process runtime needs one; on Docker it overrides the image's)."""
    ports: Annotated[
        list[int],
        msgspec.Meta(
            max_length=8,
            examples=[[8000]],
            description="Ports it listens on (the first is in PORT). A port outside 1-65535: 422 invalid_port; "
            "a port declared twice: 422 duplicate_ports.",
        ),
    ] = msgspec.field(default_factory=list)
    env: Annotated[
        list[EnvVar],
        msgspec.Meta(max_length=64, description="Variables it is given (their values are never shown back)."),
    ] = msgspec.field(default_factory=list)
    memory_mb: Annotated[int, msgspec.Meta(ge=16, le=65536)] | None = None
    cpus: Annotated[float, msgspec.Meta(gt=0, le=64)] | None = None
    network: bool = False
    """Outbound network access (egress); off by default."""
    ttl_seconds: Seconds | None = None
    """The hard cap on its life, counted from creation (default one hour, at most the plan's maximum)."""
    on_ttl: OnTtl = OnTtl.STOP
    idle_timeout_seconds: Seconds | None = None
    """How long it may run without activity (actions, keepalive); none by default."""
    on_idle: OnIdle = OnIdle.PAUSE


class SandboxChanges(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(MAX_NAME)] | None = None
    ttl_seconds: Seconds | None = None
    """A new hard cap, counted from now (at most the plan's maximum)."""
    on_ttl: OnTtl | None = None
    idle_timeout_seconds: Seconds | None = None
    on_idle: OnIdle | None = None
    no_idle_timeout: bool = False
    """``true`` removes the idle clock."""


class TemplateView(View[SandboxTemplate], frozen=True):
    image: str | None
    command: list[str]
    ports: list[int]
    env_names: list[str]
    """The variables it is given (their values are never shown)."""
    memory_mb: int | None
    cpus: float | None
    network: bool

    @classmethod
    def of(cls, entity: SandboxTemplate, /) -> Self:
        return cls.read(entity, command=list(entity.command), ports=list(entity.ports), env_names=sorted(entity.env))


class EventView(View[SandboxEvent], frozen=True):
    at: datetime
    state: SandboxState
    previous: SandboxState | None
    cause: Cause
    action: SandboxAction | None
    detail: str


class SandboxView(View[Sandbox], frozen=True):
    id: str
    name: str
    owner_id: str
    state: SandboxState
    state_reason: str
    actions: list[SandboxAction]
    """What may be done from this state (besides the no-ops)."""
    generation: int
    template: TemplateView
    ttl_seconds: int
    on_ttl: OnTtl
    idle_timeout_seconds: int | None
    on_idle: OnIdle
    expires_at: datetime
    idle_expires_at: datetime | None
    last_activity_at: datetime
    events: list[EventView]
    """The most recent transitions, oldest first, each with its cause."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entity: Sandbox, /) -> Self:
        return cls.read(
            entity,
            actions=legal_actions(entity.state),
            template=TemplateView.of(entity.template),
            events=[EventView.of(e) for e in entity.events[-RECENT_EVENTS:]],
        )
