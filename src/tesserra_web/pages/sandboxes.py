"""Sandboxes: the tenant's list (state filter and page in the URL), a create form from a template (image or
command, ports, env, clocks), and one sandbox with its state, clocks and events, its lifecycle actions (an
action its state forbids shows the 409 naming the state), delete, and "open" for each declared port: a proxy
token minted for this browser and spent once on the port's proxy URL in a new tab, which exchanges it for
its own path-scoped HttpOnly cookie."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.sandboxes import GONE, TRANSIENT, OnIdle, OnTtl, SandboxAction, SandboxState
from tesserra_core.errors import Conflict, PaymentRequired, Unprocessable, ValidationFailed
from tesserra_core.usecases.runtime_views import TOKEN_QUERY
from tesserra_core.usecases.sandbox_views import MAX_TTL, NewSandbox, SandboxChanges
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_REFUSED = (Conflict, PaymentRequired, Unprocessable, ValidationFailed)
"""What a form or an action can be refused with: shown on its page again, with the status."""
FIELDS = ("name", "image", "command", "ports", "ttl_seconds", "on_ttl", "idle_timeout_seconds", "on_idle", "network")
"""The create form's fields typed back on a refusal (the env's values never are: they may be secrets)."""
ACTIONS = [a.value for a in SandboxAction if a is not SandboxAction.DELETE]
LISTED = [s.value for s in SandboxState if s not in GONE]
TRANSIENT_STATES = frozenset(s.value for s in TRANSIENT)
"""States a sandbox's page polls out of (another request, the reaper or the reconciler is acting)."""
MAX_PORTS_TEXT = 200
_SECONDS = re.compile(r"^-?[0-9]{1,12}$")
_PORT_SPLIT = re.compile(r"[\s,]+")


def _state(request: AnyRequest) -> SandboxState | None:
    raw = request.query_params.get("state", "")
    if not raw:
        return None
    if raw not in LISTED:
        raise ValidationFailed(f"state must be one of {', '.join(LISTED)}", code="invalid_state")
    return SandboxState(raw)


def _ports(raw: str) -> list[int]:
    """``8000, 8001`` as a list; a range and duplicates are the use case's to refuse (422)."""
    if len(raw) > MAX_PORTS_TEXT:
        raise ValidationFailed(f"ports: at most {MAX_PORTS_TEXT} characters", code="invalid_port")
    words = [w for w in _PORT_SPLIT.split(raw.strip()) if w]
    if any(not w.isdigit() or len(w) > 6 for w in words):
        raise ValidationFailed("ports: whole numbers 1-65535, separated by commas", code="invalid_port")
    return [int(w) for w in words]


def _command(raw: str) -> list[str]:
    try:
        return shlex.split(raw)
    except ValueError as exc:
        raise ValidationFailed(f"command: {exc} (quote arguments as a shell does)", code="invalid_command") from None


def _env(raw: str) -> list[dict[str, str]]:
    """One ``NAME=value`` a line; names and bounds are checked as the REST body's are."""
    found = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValidationFailed(f"env: line {number} is not NAME=value", code="invalid_env")
        found.append({"name": name.strip(), "value": value})
    return found


def _seconds(raw: str, field: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not _SECONDS.match(raw):
        raise ValidationFailed(f"{field} must be a whole number of seconds", code="invalid_seconds")
    return int(raw)


def _new_sandbox(form: Mapping[str, Any]) -> NewSandbox:
    """The form as the REST body, converted as the REST body is (400 past any bound)."""
    text = {k: str(form.get(k, "")) for k in (*FIELDS, "env")}
    body: dict[str, Any] = {
        "name": text["name"].strip(),
        "command": _command(text["command"]),
        "ports": _ports(text["ports"]),
        "env": _env(text["env"]),
        "network": text["network"] == "on",
        "on_ttl": text["on_ttl"] or OnTtl.STOP.value,
        "on_idle": text["on_idle"] or OnIdle.PAUSE.value,
    }
    if text["image"].strip():
        body["image"] = text["image"].strip()
    for key in ("ttl_seconds", "idle_timeout_seconds"):
        seconds = _seconds(text[key], key)
        if seconds is not None:
            body[key] = seconds
    try:
        return msgspec.convert(body, NewSandbox)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"this sandbox cannot be created: {exc}", code="validation_failed") from None


def _changes(form: Mapping[str, Any]) -> SandboxChanges:
    """The clocks form as the PATCH body: empty fields left out (unchanged)."""
    body: dict[str, Any] = {"no_idle_timeout": str(form.get("no_idle_timeout", "")) == "on"}
    for key in ("ttl_seconds", "idle_timeout_seconds"):
        seconds = _seconds(str(form.get(key, "")), key)
        if seconds is not None:
            body[key] = seconds
    for key in ("on_ttl", "on_idle"):
        if str(form.get(key, "")):
            body[key] = str(form.get(key, ""))
    try:
        return msgspec.convert(body, SandboxChanges)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"these clocks cannot be set: {exc}", code="validation_failed") from None


def _open_port(form: Mapping[str, Any]) -> int | None:
    """The port the open form names (the use case refuses one the sandbox does not declare: 422)."""
    raw = str(form.get("port", "")).strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 5:
        raise ValidationFailed("port: a whole number 1-65535", code="invalid_port")
    return int(raw)


def port_url(proxy_url: str, sandbox_id: str, port: int) -> str:
    """The proxy URL of one declared port, from the one the use case gives for the first: ``.../{id}/`` is
    ``.../{id}:{port}/`` (the address the runtime proxy routes a non-first port at)."""
    return f"{proxy_url.removesuffix(f'{sandbox_id}/')}{sandbox_id}:{port}/"


def _origin(request: AnyRequest) -> str:
    """The URL this console is served on (the core prefers a configured public URL)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_pages(console), *_actions(console)]


async def _detail(
    console: Console, request: AnyRequest, sandbox_id: str, status: int = 200, error: str | None = None
) -> Template:
    session, actor = await console.signed_in(request)
    sandbox = await console.uc.sandboxes.get(actor, sandbox_id)
    return render(
        request,
        "sandbox.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        sandbox=sandbox,
        actions=[a.value for a in sandbox.actions if a is not SandboxAction.DELETE]
        + (["keepalive"] if sandbox.state is SandboxState.RUNNING else []),
        on_ttl=[v.value for v in OnTtl],
        on_idle=[v.value for v in OnIdle],
        transient=TRANSIENT_STATES,
    )


def _pages(console: Console) -> list[HTTPRouteHandler]:
    async def _form(request: AnyRequest, status: int = 200, error: str | None = None, **typed: str) -> Template:
        session, actor = await console.signed_in(request)
        return render(
            request,
            "sandbox_new.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            form={k: "" for k in FIELDS} | typed,
            on_ttl=[v.value for v in OnTtl],
            on_idle=[v.value for v in OnIdle],
            max_ttl=MAX_TTL,
        )

    @get("/sandboxes")
    async def sandboxes_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        chosen = _state(request)
        page = await console.uc.sandboxes.list(actor, pager.request, chosen)
        return render(
            request,
            "sandboxes.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            chosen_state=chosen.value if chosen else "",
            states=LISTED,
        )

    @get("/sandboxes/new")
    async def new_sandbox_page(request: AnyRequest) -> Template:
        return await _form(request)

    @post("/sandboxes")
    async def create_sandbox(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {k: str(form.get(k, "")) for k in FIELDS}
        try:
            created = await console.uc.sandboxes.create(actor, _new_sandbox(form))
        except _REFUSED as exc:
            return await _form(request, exc.status, exc.message, **typed)
        return back_to(href(f"/sandboxes/{created.id}"))

    @get("/sandboxes/{sandbox_id:str}")
    async def sandbox_page(request: AnyRequest, sandbox_id: FromPath[str]) -> Template:
        return await _detail(console, request, sandbox_id)

    @get("/sandboxes/{sandbox_id:str}/status")
    async def sandbox_status(request: AnyRequest, sandbox_id: FromPath[str]) -> Template:
        """htmx polls this while the sandbox is in a transient state; once settled the whole page reloads."""
        session, actor = await console.signed_in(request)
        sandbox = await console.uc.sandboxes.get(actor, sandbox_id)
        template = render(
            request, "sandbox_status.html", session=session, actor=actor, sandbox=sandbox, transient=TRANSIENT_STATES
        )
        if sandbox.state not in TRANSIENT:
            template.headers["HX-Refresh"] = "true"
        return template

    return [sandboxes_page, new_sandbox_page, create_sandbox, sandbox_page, sandbox_status]


def _actions(console: Console) -> list[HTTPRouteHandler]:
    """Each answers 303 to the sandbox's page, or that page with the refusal (409 naming the state, ...)."""

    @post("/sandboxes/{sandbox_id:str}/actions/{action:str}")
    async def act(request: AnyRequest, sandbox_id: FromPath[str], action: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.sandboxes.action(actor, sandbox_id, action)
        except _REFUSED as exc:
            return await _detail(console, request, sandbox_id, exc.status, exc.message)
        return back_to(href(f"/sandboxes/{sandbox_id}"))

    @post("/sandboxes/{sandbox_id:str}/clocks")
    async def set_clocks(request: AnyRequest, sandbox_id: FromPath[str]) -> Template | Redirect:
        """A new lifetime (counted from now, within the plan) or idle timeout: what an expired sandbox
        needs before it may start again."""
        _, actor = await console.signed_in(request)
        try:
            await console.uc.sandboxes.update(actor, sandbox_id, _changes(await request.form()))
        except _REFUSED as exc:
            return await _detail(console, request, sandbox_id, exc.status, exc.message)
        return back_to(href(f"/sandboxes/{sandbox_id}"))

    @post("/sandboxes/{sandbox_id:str}/delete")
    async def delete_sandbox(request: AnyRequest, sandbox_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.sandboxes.delete(actor, sandbox_id)
        except _REFUSED as exc:
            return await _detail(console, request, sandbox_id, exc.status, exc.message)
        return back_to(href(f"/sandboxes/{sandbox_id}"))

    @post("/sandboxes/{sandbox_id:str}/open")
    async def open_sandbox(request: AnyRequest, sandbox_id: FromPath[str]) -> Template | Redirect:
        """A token for one declared port (the form's ``port``; all of them, and the first one's URL, without
        it) for the default expiry, spent once on its proxy URL: the page's form opens it in a new tab, and
        this redirect sends no Referer on (the proxied code never learns the console's URL)."""
        _, actor = await console.signed_in(request)
        try:
            port = _open_port(await request.form())
            ports = None if port is None else [port]
            minted = await console.uc.runtime.mint_token(actor, sandbox_id, ports, None, _origin(request))
        except _REFUSED as exc:
            return await _detail(console, request, sandbox_id, exc.status, exc.message)
        url = minted.proxy_url if port is None else port_url(minted.proxy_url, minted.sandbox_id, port)
        opened = back_to(f"{url}?{urlencode({TOKEN_QUERY: minted.token})}")
        opened.headers["Referrer-Policy"] = "no-referrer"
        return opened

    return [act, set_clocks, delete_sandbox, open_sandbox]
