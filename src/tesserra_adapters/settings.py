"""Settings from TESSERRA_* environment variables, with defaults that run on a fresh machine."""

from __future__ import annotations

import ipaddress
import os
import secrets
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from tesserra_core.domain.addresses import authority, http_host_port
from tesserra_core.domain.inputs import where


def make_private(path: Path, *, directory: bool) -> None:
    """The server's own files (data dir, database, key) are its user's alone: a directory 0700, a
    file 0600, created so if missing and narrowed if the server owns them; workloads never see them."""
    mode = 0o700 if directory else 0o600
    if directory:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    else:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, mode))
    if path.stat().st_uid == os.geteuid():
        os.chmod(path, mode)


def _decode(kind: type, value: object) -> object:
    """What ``msgspec.convert`` cannot build from a string itself: paths (TESSERRA_DATA_DIR)."""
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(f"cannot convert {type(value).__name__} to {kind.__name__}")


_CASE = {"proxy_header": str.lower, "log_level": str.upper, "log_format": str.lower}
"""Settings whose closed set of values is matched in any case."""
_LISTS = frozenset({"allowed_hosts", "previous_secret_keys", "dns_resolvers", "tool_script_dirs", "trusted_proxies"})


def _explained(cls: type, fields: Mapping[str, object], exc: msgspec.ValidationError) -> str:
    """msgspec's message with the variable named, and for a closed set the values it admits."""
    name, message = where(exc)
    if not name:
        return message
    variable = f"TESSERRA_{name.upper()}"
    kind = typing.get_type_hints(cls).get(name)
    if typing.get_origin(kind) is Literal:
        return f"{variable} must be one of {', '.join(typing.get_args(kind))}, not {fields.get(name)!r}"
    return f"{message} ({variable})"


_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})  # noqa: S104 (recognised, never bound)
"""Listening addresses that name no one address another node could reach."""


def _check_node_url(url: str) -> None:
    found = http_host_port(url)
    if found is None:
        raise ValueError(f"node_url: http://host:port (no path; an IPv6 address in brackets), not {url!r}")
    if found[0] in _WILDCARDS:
        raise ValueError(f"node_url: an address other nodes can reach, not the wildcard {url!r}")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite+aiosqlite:///./tesserra.db"
    host: str = "127.0.0.1"
    port: int = 7500
    data_dir: Path = Path("./tesserra-data")
    secret_key: str | None = None
    previous_secret_keys: tuple[str, ...] = ()
    """Former TESSERRA_SECRET_KEY values (comma-separated): secrets sealed under them still open, new
    ones are sealed under the current key."""
    bootstrap_email: str = "admin@tesserra.local"
    bootstrap_password: str | None = None
    workers: int = 1
    rate_limit_backend: Literal["auto", "memory", "database", "redis"] = "auto"
    """``memory`` (one process), ``database`` or ``redis`` (shared by every worker and host), or
    ``auto``: memory for one worker, database for several."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    rate_limit_scale: float = 1.0
    docker_host: str = "unix:///var/run/docker.sock"
    sandbox_pool_size: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    """Paused sandbox workloads kept warm per template (the last 4 templates created from): a create
    whose template matches claims one. 0: no pool."""
    docker_host_guard: Literal["iptables", "external"] = "iptables"
    """How sandboxes on Docker are kept from the host's ports (``runtime/docker_guard.py``): this server
    adds one iptables rule (it needs root and iptables), or ``external``: the operator keeps it."""
    runtime: Literal["process", "docker"] = "process"
    """Where workloads run: ``process`` (local processes, sandboxed by ``process_isolation``) or ``docker``."""
    process_isolation: Literal["bubblewrap", "none-trusted-single-tenant"] = "bubblewrap"
    """How the process runtime isolates workloads: ``bubblewrap`` (each in a sandbox with a uid and a
    network of its own; where it cannot run, workloads are refused with 422 ``isolation_unavailable``),
    or ``none-trusted-single-tenant``: as the server's own user, for one tenant running trusted code."""
    bwrap_path: str = "bwrap"
    pasta_path: str = "pasta"
    allowed_hosts: tuple[str, ...] = ()
    """Extra Host names that /mcp accepts (DNS-rebinding protection); loopback is always allowed."""
    trusted_proxies: tuple[str, ...] = ()
    """Proxies and load balancers (CIDRs or addresses, comma-separated) whose ``proxy_header`` tells
    the client's address, which per-IP rate limits count. Empty: the TCP peer is the client and
    forwarding headers are ignored, whoever sends them."""
    proxy_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    """The header the trusted proxies append the client to: ``x-forwarded-for`` or ``forwarded`` (RFC 7239)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    catalog_source: str = "builtin"
    """Where POST /api/marketplace/refresh reloads the catalog from: ``builtin``, a file, or an http(s)
    URL serving a registry listing (``{"servers": [server.json, ...]}``)."""
    ssh_actions_file: Path | None = None
    """Infra SSH's catalog of named actions (JSON, as ``tesserra_core/domain/infra_ssh_actions.json``);
    unset: the catalog shipped with the server."""
    audit_checkpoint_dir: Path | None = None
    """Where signed Infra SSH audit checkpoints and their key are kept, outside the database
    (TESSERRA_AUDIT_CHECKPOINT_DIR); default ``<data_dir>/audit-checkpoints``."""
    tool_script_dirs: tuple[str, ...] = ()
    """Directories searched first for a pypi tool server's console script (comma-separated), before a
    virtualenv is prepared for it under the data dir."""
    tool_python_image: str = "tesserra-test/python-mcp:latest"
    """The image that runs pypi tool servers on the Docker runtime (``/opt/mcp/bin/<script>``)."""
    public_url: str | None = None
    """How clients reach this server (e.g. https://tesserra.example.com), for the URLs it hands out:
    the OAuth redirect URI and the MCP client configuration. Unset: the URL of the request."""
    oauth_return_url: str | None = None
    """Where the browser goes after the shared-tool OAuth callback. Unset: the callback answers JSON."""
    oauth_state_ttl: float = 600.0
    smtp_url: str | None = None
    """The mail server the platform sends invitations through: ``smtp://[user:password@]host[:port]``,
    ``smtp+starttls://...`` or ``smtps://...``. Unset: nothing is emailed (the console shows the link to
    hand over). Mails carry links only when ``public_url`` is set."""
    smtp_ca_file: Path | None = None
    """The certificate authorities (PEM) a TLS mail server's certificate is checked against; unset: the
    system's."""
    mail_from: str = "Tesserra <no-reply@localhost>"
    """The sender of the platform's mails."""
    shared_tools_file: Path | None = None
    """Shared tools and their OAuth providers (JSON). Unset: ``<data dir>/shared_tools.json``."""

    @property
    def shared_tools_path(self) -> Path:
        return self.shared_tools_file or self.data_dir / "shared_tools.json"

    stripe_api_key: str | None = None
    """Without it, billing endpoints that must reach Stripe answer 503; everything else runs."""
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    """Another Stripe-compatible server (localstripe in tests); default: Stripe's own."""
    stripe_prices_api: Literal["prices", "plans"] = "prices"
    """``prices``, or ``plans`` (legacy) for servers without the Prices API (localstripe)."""
    stripe_webhook_tolerance: int = 300
    stripe_success_url: str = "http://127.0.0.1:7500/?checkout=success"
    stripe_cancel_url: str = "http://127.0.0.1:7500/?checkout=cancel"
    stripe_return_url: str = "http://127.0.0.1:7500/"
    model_base_url: str | None = None
    """An OpenAI-compatible Chat Completions server (e.g. http://127.0.0.1:8080/v1) that agents answer
    with. Unset: posting a message answers 503 model_unavailable (the message is still stored)."""
    model_api_key: str | None = None
    model: str | None = None
    """The model agents use unless an agent names its own."""
    model_timeout: float = 120.0
    """Seconds one model call may take, connection included."""
    chat_approval_timeout: float = 600.0
    """Seconds an agent's destructive tool call waits for the user's approval; then it is denied."""
    model_stream_tools: bool = True
    """Stream the model calls that offer tools. Off for servers that cannot (llama-cpp-python's
    chatml-function-calling): those calls ask for the whole completion; calls without tools still stream."""
    dns_resolvers: tuple[str, ...] = ()
    """Name servers (``host``, ``host:port``) that verify domains and check their DNS; the system's by default."""
    dns_timeout: float = 2.0
    head_timeout: float = 30.0
    """Seconds a request's line and headers may take to arrive (408 request_timeout after)."""
    max_upload_bytes: int = 2 * 1024**3
    """The largest project file one upload may store."""
    file_storage: Literal["auto", "database", "directory"] = "auto"
    """Where project files' bytes live: ``database`` (chunk rows every node sharing the database reads),
    ``directory`` (``data_dir/files``, this node's alone), or ``auto``: database on PostgreSQL, directory
    on SQLite."""
    metrics_token: str | None = None
    """The bearer token Prometheus scrapes GET /metrics with (at least 16 characters). Unset: metrics are
    off, nothing is measured and /metrics answers 404."""
    otel_endpoint: str | None = None
    """An OTLP/HTTP collector's base URL (``http://collector:4318``; spans go to ``/v1/traces`` under it,
    protobuf-encoded) to send OpenTelemetry traces to. Unset, the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
    is used; neither set, tracing is off and the SDK is never imported."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (time, level, message, request id, tenant, principal, route),
    access log included."""
    mcp_sessions: Literal["auto", "local", "none"] = "auto"
    """Legacy (before 2026-07-28) MCP clients: ``local``, a stateful session held in the memory of the
    process that opened it (one node, one worker); ``none``, no session is issued (the spec makes
    ``Mcp-Session-Id`` optional) and every request stands alone, so any worker or node behind a
    balancer answers it; ``auto``: ``local`` for one worker, ``none`` for several. Modern clients are
    stateless either way."""
    drain_delay: float = 2.0
    """On SIGTERM, seconds /ready answers 503 before the server stops accepting connections (so that a
    load balancer stops sending first)."""
    drain_grace: int = 30
    """On SIGTERM, seconds in-flight requests and streams may take to finish once accepting stopped."""
    node_timeout: Annotated[float, msgspec.Meta(ge=3.0, le=3600.0)] = 10.0
    """Seconds without a heartbeat (each node beats every second) after which another node takes a node
    for dead and reaps the workloads it left: three heartbeats at least (a node late by one beat is not
    reaped), an hour at most."""
    node_url: str | None = None
    """Where the other nodes reach this node's HTTP server (``http://10.0.0.5:7500``, an IPv6 address in
    brackets: ``http://[fd00::5]:7500``; scheme, address and port, no path), kept with its heartbeat: a
    proxied request for a sandbox this node runs that reaches a node on another machine is forwarded
    here. Unset: ``http://<host>:<port>`` (``http://[<host>]:<port>`` for IPv6) when TESSERRA_HOST is a
    concrete address, none when it is a wildcard (0.0.0.0, ::), and such requests
    answer 502 sandbox_unreachable on the other nodes."""
    boot_id: str | None = None
    """The boot id other nodes compare with theirs to tell whether this node runs on their machine
    (whose loopback and data dirs they share). Unset: the kernel's. For tests and containers only: nodes
    on one machine that do not share a network namespace (pods, containers) set distinct ones."""

    @property
    def advertised_url(self) -> str | None:
        """``node_url``, or the one ``host`` and ``port`` make when ``host`` is a concrete address."""
        if self.node_url:
            return self.node_url
        if self.host in _WILDCARDS:
            return None
        return f"http://{authority(self.host, self.port)}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        fields: dict[str, object] = {}
        for name in cls.__struct_fields__:
            value = env.get(f"TESSERRA_{name.upper()}")
            if value is not None and value != "":
                if name in _LISTS:
                    fields[name] = tuple(v.strip() for v in value.split(",") if v.strip())
                else:
                    fields[name] = _CASE[name](value.strip()) if name in _CASE else value
        fields.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(fields, cls, strict=False, dec_hook=_decode)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"invalid TESSERRA_* setting: {_explained(cls, fields, exc)}") from None

    def __post_init__(self) -> None:
        # Absolute from the start: the data dir is handed to workloads (mounts, working directories)
        # that must not depend on the server's current directory.
        msgspec.structs.force_setattr(self, "data_dir", Path(os.path.abspath(self.data_dir)))
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ValueError("metrics_token: at least 16 characters")
        if self.drain_delay < 0 or self.drain_grace < 0:
            raise ValueError("drain_delay and drain_grace: seconds, not negative")
        if self.smtp_url is not None:
            scheme, _, rest = self.smtp_url.partition("://")
            if scheme not in ("smtp", "smtp+starttls", "smtps") or not rest.rpartition("@")[2].split(":")[0]:
                raise ValueError(
                    "smtp_url: smtp://, smtp+starttls:// or smtps:// followed by [user:password@]host[:port]"
                )
        if self.node_url is not None:
            _check_node_url(self.node_url)
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {cidr!r} is not an address or a CIDR network") from None

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

    def prepare_data_dir(self) -> None:
        make_private(self.data_dir, directory=True)

    @property
    def limiter(self) -> Literal["memory", "database", "redis"]:
        if self.rate_limit_backend == "auto":
            return "memory" if self.workers <= 1 else "database"
        return self.rate_limit_backend

    @property
    def file_store(self) -> Literal["database", "directory"]:
        if self.file_storage == "auto":
            return "database" if self.database_url.startswith("postgresql") else "directory"
        return self.file_storage

    @property
    def mcp_stateless(self) -> bool:
        """Whether /mcp serves legacy clients without sessions (``mcp_sessions``)."""
        if self.mcp_sessions == "auto":
            return self.workers > 1
        return self.mcp_sessions == "none"

    def secret(self) -> bytes:
        """TESSERRA_SECRET_KEY, or a key generated once and kept in the data dir (mode 0600)."""
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SystemExit("TESSERRA_SECRET_KEY must be at least 32 characters")
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.prepare_data_dir()
            tmp = path.with_name(f".secret_key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)  # atomic: the first worker to get here wins, the others read its key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip().encode()

    def node_id(self) -> str:
        """This node's id: made once and kept in the data dir (``node_id``), so that every worker of the
        node, and the node after a restart, is the same node (whose workloads it finds again)."""
        path = self.data_dir / "node_id"
        if not path.exists():
            self.prepare_data_dir()
            tmp = path.with_name(f".node_id.{os.getpid()}")
            tmp.write_text(secrets.token_hex(8))
            try:
                os.link(tmp, path)  # atomic: the first worker to get here wins, the others read its id
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()
