"""What the Infra SSH use cases take and give. A host's view never carries its login key (only its
public half); a run's view carries the head of its output, its sizes and hashes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import msgspec

from tesserra_core.domain.infra_ssh import (
    Action,
    Host,
    HostTier,
    Outcome,
    Parameter,
    ParamKind,
    ParamValue,
    Risk,
)
from tesserra_core.domain.text import Input
from tesserra_core.usecases.views import View

HostName = Annotated[str, msgspec.Meta(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Login = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
KeyLine = Annotated[str, msgspec.Meta(min_length=16, max_length=16384)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9_.:=-]{0,62}$")]
ActionId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Destination = Annotated[str, msgspec.Meta(min_length=3, max_length=262, pattern=r"^[A-Za-z0-9.\[\]:-]+:[0-9]{1,5}$")]
LeaseSeconds = Annotated[int, msgspec.Meta(ge=60, le=86400)]
Approvers = Annotated[int, msgspec.Meta(ge=1, le=5)]
WaitSeconds = Annotated[int, msgspec.Meta(ge=0, le=20)]
Parameters = Annotated[dict[str, ParamValue], msgspec.Meta(max_length=32)]
"""An action's parameters by name; each value is checked against its parameter's type by the template."""


class NewHost(Input, frozen=True, forbid_unknown_fields=True):
    name: HostName
    address: Address
    login: Login
    host_key: KeyLine
    """The host key to pin: an OpenSSH public key line (``ssh-ed25519 AAAA...``)."""
    private_key: KeyLine
    """The login's private key (unencrypted OpenSSH or PKCS#8 PEM): sealed at rest, never shown again."""
    port: Port = 22
    tier: HostTier = HostTier.DEV
    labels: Annotated[list[Label], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    actions: Annotated[list[ActionId], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    """Ids of the catalog actions the host allows."""
    forwards: Annotated[list[Destination], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    """host:port destinations a lease may forward to (leases: next slice)."""
    max_lease_seconds: LeaseSeconds = 3600
    approvers_required: Approvers | None = None
    """Default: 2 on prod, 1 on dev."""
    certificate_login: bool = False
    """The host trusts the server's user CA (GET /api/infra/ssh/user-ca): runs log in with short-lived
    certificates instead of the login key."""


class HostChanges(Input, frozen=True, forbid_unknown_fields=True):
    """Fields to change; the host key is re-pinned on its own (``RepinHostKey``)."""

    name: HostName | None = None
    address: Address | None = None
    port: Port | None = None
    login: Login | None = None
    private_key: KeyLine | None = None
    tier: HostTier | None = None
    labels: Annotated[list[Label], msgspec.Meta(max_length=20)] | None = None
    actions: Annotated[list[ActionId], msgspec.Meta(max_length=100)] | None = None
    forwards: Annotated[list[Destination], msgspec.Meta(max_length=20)] | None = None
    max_lease_seconds: LeaseSeconds | None = None
    approvers_required: Approvers | None = None
    certificate_login: bool | None = None


class NewHostKey(Input, frozen=True, forbid_unknown_fields=True):
    host_key: KeyLine


class HostView(View[Host], frozen=True):
    id: str
    name: str
    address: str
    port: int
    login: str
    host_key: str
    public_key: str
    """The public half of the login key: what the host's authorized_keys must hold."""
    tier: HostTier
    labels: tuple[str, ...]
    actions: tuple[str, ...]
    forwards: tuple[str, ...]
    max_lease_seconds: int
    approvers_required: int
    created_at: datetime
    updated_at: datetime
    certificate_login: bool


class ParameterView(View[Parameter], frozen=True):
    name: str
    kind: ParamKind
    description: str
    choices: tuple[str, ...]
    minimum: int | None
    maximum: int | None
    pattern: str | None
    max_length: int


class ActionView(View[Action], frozen=True):
    id: str
    title: str
    argv: tuple[str, ...]
    """The template: literal words and ``{parameter}`` placeholders, each one whole argument."""
    parameters: tuple[ParameterView, ...]
    risk: Risk
    time_limit_seconds: int
    output_cap_bytes: int
    needs_lease: bool
    catalog_version: int

    @classmethod
    def in_catalog(cls, action: Action, version: int) -> ActionView:
        parameters = tuple(ParameterView.of(p) for p in action.parameters)
        return cls.read(action, parameters=parameters, catalog_version=version)


class CheckAction(Input, frozen=True, forbid_unknown_fields=True):
    host_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    parameters: Parameters = msgspec.field(default_factory=dict)


class CheckView(msgspec.Struct, frozen=True, kw_only=True):
    """The dry run: what the policy decides and the argv that would run (no connection is made)."""

    action: str
    host_id: str
    decision: Outcome
    reason: str
    argv: tuple[str, ...] | None
    argv_sha256: str | None


class NewRun(Input, frozen=True, forbid_unknown_fields=True):
    host_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    action: ActionId
    parameters: Parameters = msgspec.field(default_factory=dict)
    wait_seconds: WaitSeconds = 20
    """How long to wait for the result (0-20 s) before answering 202 with the run to poll."""
    lease_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    """For an action that needs an approval lease: the lease to use (default: the caller's oldest active
    lease that covers the run)."""


class RunState(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutputView(msgspec.Struct, frozen=True, kw_only=True):
    text: str | None
    """The first ``output_cap_bytes`` as UTF-8 (undecodable bytes replaced); null when not kept here."""
    bytes: int
    sha256: str
    truncated: bool


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    host_id: str
    host_name: str
    action: str
    parameters: dict[str, ParamValue]
    argv: tuple[str, ...]
    state: RunState
    outcome: Outcome | None
    remote_kind: str | None
    exit_status: int | None
    signal: str | None
    stdout: OutputView | None
    stderr: OutputView | None
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None
    audit_id: str | None
    lease_id: str | None = None
