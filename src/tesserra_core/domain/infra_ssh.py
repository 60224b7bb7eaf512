"""Infra SSH: hosts of a tenant's inventory and the named actions that may run on them.

An action is a typed template: its parameters are each an enum, an integer range or a bounded pattern,
and it renders to an argument vector, never a shell string; a value that does not fit its parameter is
a validation failure and never reaches a host. Which actions a host allows, and whether one needs an
approval lease, is the policy here (``decide``); leases themselves come in a later slice and slot in
where ``decide`` answers ``approval_required``.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from functools import cache
from importlib import resources

import msgspec

from tesserra_core.errors import ValidationFailed

MAX_PARAMETER = 1024
"""No parameter value is longer than this (a pattern parameter may set less)."""
MAX_TIME_LIMIT = 3600
MAX_OUTPUT_CAP = 1 << 20
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


class Risk(enum.StrEnum):
    READ = "read"
    MUTATE = "mutate"
    PRIVILEGED = "privileged"


class HostTier(enum.StrEnum):
    DEV = "dev"
    PROD = "prod"


class ParamKind(enum.StrEnum):
    ENUM = "enum"
    INTEGER = "integer"
    PATTERN = "pattern"


class Outcome(enum.StrEnum):
    """How an attempt ended: the error classes of every driver and of the audit."""

    OK = "ok"
    VALIDATION_FAILED = "validation_failed"
    APPROVAL_REQUIRED = "approval_required"
    DENIED = "denied"
    REMOTE_FAILED = "remote_failed"


class RemoteKind(enum.StrEnum):
    """Why a remote execution failed (``RemoteFailed.kind``)."""

    EXIT_NONZERO = "exit_nonzero"
    SIGNAL = "signal"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    FORWARD_REFUSED = "forward_refused"


ParamValue = str | int


class Parameter(msgspec.Struct, frozen=True, kw_only=True):
    """One typed parameter: ``choices`` for an enum, ``minimum``/``maximum`` for an integer, ``pattern``
    (matched in full) and ``max_length`` for a bounded pattern."""

    name: str
    kind: ParamKind
    description: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    max_length: int = MAX_PARAMETER

    def check(self, value: object) -> ParamValue:
        """The value, if it fits; ValidationFailed (code validation_failed) naming the parameter otherwise."""
        if self.kind is ParamKind.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _invalid(f"parameter {self.name} must be an integer")
            low, high = self.minimum, self.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                raise _invalid(f"parameter {self.name} must be between {low} and {high}")
            return value
        if not isinstance(value, str):
            raise _invalid(f"parameter {self.name} must be a string")
        if self.kind is ParamKind.ENUM:
            if value not in self.choices:
                raise _invalid(f"parameter {self.name} must be one of {', '.join(self.choices)}")
            return value
        if len(value) > self.max_length or "\x00" in value or _compiled(self.pattern or "").fullmatch(value) is None:
            raise _invalid(f"parameter {self.name} must match {self.pattern} (at most {self.max_length} characters)")
        return value


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, code=Outcome.VALIDATION_FAILED.value)


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """A named action: ``argv`` is a list of literal words and ``{name}`` placeholders, each placeholder a
    whole word, so a parameter value is always exactly one argument."""

    id: str
    title: str
    argv: tuple[str, ...]
    parameters: tuple[Parameter, ...] = ()
    risk: Risk = Risk.READ
    time_limit_seconds: int = 30
    output_cap_bytes: int = 65536
    needs_lease: bool = False

    def render(self, given: dict[str, object]) -> tuple[tuple[str, ...], dict[str, ParamValue]]:
        """The argument vector for these parameters, and the parameters as checked. Unknown or missing
        parameters and values that do not fit are validation failures."""
        known = {p.name: p for p in self.parameters}
        extra = sorted(set(given) - set(known))
        if extra:
            raise _invalid(f"unknown parameter: {', '.join(extra)}")
        missing = [name for name in known if name not in given]
        if missing:
            raise _invalid(f"missing parameter: {', '.join(missing)}")
        checked = {name: known[name].check(value) for name, value in given.items()}
        argv = tuple(str(checked[word[1:-1]]) if _is_placeholder(word) else word for word in self.argv)
        return argv, checked


def _is_placeholder(word: str) -> bool:
    return len(word) > 2 and word[0] == "{" and word[-1] == "}"


class ActionCatalog(msgspec.Struct, frozen=True, kw_only=True):
    """The named actions, by id; ``version`` says which edition of the catalog they come from."""

    version: int
    actions: tuple[Action, ...]

    def __post_init__(self) -> None:
        for action in self.actions:
            _check_action(action)

    def get(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)


def _check_action(action: Action) -> None:
    names = {p.name for p in action.parameters}
    used = {word[1:-1] for word in action.argv if _is_placeholder(word)}
    if not action.argv or _is_placeholder(action.argv[0]):
        raise ValueError(f"action {action.id}: argv must start with a literal program")
    if used != names or any("{" in w or "}" in w for w in action.argv if not _is_placeholder(w)):
        raise ValueError(f"action {action.id}: every parameter must be exactly one whole argv word")
    if not 1 <= action.time_limit_seconds <= MAX_TIME_LIMIT or not 1 <= action.output_cap_bytes <= MAX_OUTPUT_CAP:
        raise ValueError(f"action {action.id}: time limit or output cap out of bounds")
    for p in action.parameters:
        if p.kind is ParamKind.PATTERN:
            try:
                _compiled(p.pattern or "")
            except re.error as exc:
                raise ValueError(f"action {action.id}: parameter {p.name}: bad pattern ({exc})") from None
            if p.pattern is None or p.max_length > MAX_PARAMETER:
                raise ValueError(f"action {action.id}: pattern parameter {p.name} needs a pattern and a bound")
        if p.kind is ParamKind.ENUM and not p.choices:
            raise ValueError(f"action {action.id}: enum parameter {p.name} has no choices")


def load_catalog(data: bytes) -> ActionCatalog:
    return msgspec.json.decode(data, type=ActionCatalog)


@cache
def shipped_catalog() -> ActionCatalog:
    """The catalog shipped with the package (``infra_ssh_actions.json``)."""
    return load_catalog(resources.files("tesserra_core.domain").joinpath("infra_ssh_actions.json").read_bytes())


class Host(msgspec.Struct, frozen=True, kw_only=True):
    """A host of the tenant's inventory. ``sealed_key`` is the login's private key, sealed at rest
    (context ``host_key_context``); it never leaves the core unsealed but to the SSH port.
    ``forwards``, ``max_lease_seconds`` and ``approvers_required`` are for leases (next slice)."""

    id: str
    tenant_id: str
    name: str
    address: str
    port: int
    login: str
    host_key: str
    """The pinned host key, an OpenSSH public key line (``ssh-ed25519 AAAA...``)."""
    public_key: str
    """The public half of the login key (to put in authorized_keys)."""
    sealed_key: str
    tier: HostTier
    labels: tuple[str, ...]
    actions: tuple[str, ...]
    """Ids of the catalog actions this host allows."""
    forwards: tuple[str, ...]
    max_lease_seconds: int
    approvers_required: int
    created_at: datetime
    updated_at: datetime
    certificate_login: bool = False
    """The host trusts this server's user CA: runs log in with a fresh key and a short-lived certificate
    (until the lease's end, or the action's time limit), and the host's KRL refuses revoked leases."""


def credential_context(tenant_id: str, host_id: str) -> str:
    return f"infra_ssh:{tenant_id}:{host_id}:login_key"


def check_host_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise _invalid("name must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter")
    return name


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The policy's answer for one action on one host: ``ok``, ``denied`` or ``approval_required``."""

    outcome: Outcome
    reason: str


def decide(host: Host, action: Action) -> Decision:
    """Whether ``action`` may run on ``host`` now, without a lease: the host must allow it; an action that
    needs a lease, and any action but a read on a prod host, needs an approval lease (not built yet: it
    answers approval_required)."""
    if action.id not in host.actions:
        return Decision(outcome=Outcome.DENIED, reason=f"host {host.name} does not allow action {action.id}")
    if action.needs_lease or (host.tier is HostTier.PROD and action.risk is not Risk.READ):
        return Decision(outcome=Outcome.APPROVAL_REQUIRED, reason=f"action {action.id} needs an approval lease")
    return Decision(outcome=Outcome.OK, reason="allowed")
