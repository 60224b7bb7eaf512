"""A container runtime in memory: workloads are asyncio tasks, for unit tests and library users.

Each workload runs ``main(io)``, a coroutine given the workload's side of its stdio and a log; its
return value is the exit code. The default main echoes every stdin line back on stdout (``cat``).
Ports are mapped to made-up host ports that nothing listens on. Mounts are checked like the real
runtimes check them (an existing source directory); a ``main`` finds a mounted path's host location
with ``io.spec.host_path(path)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import msgspec

from tesserra_adapters.runtime.freezing import Freezing
from tesserra_adapters.runtime.mounts import check_sources
from tesserra_core.errors import Conflict, NotFound, Unavailable, ValidationFailed
from tesserra_core.ports.runtime import (
    StdioChannel,
    Workload,
    WorkloadSpec,
    WorkloadState,
    WorkloadStatus,
    statuses_of,
)

_EOF = None
LOG_LINES = 1000


class _Pipe:
    """One direction of a stdio: lines in order, then end of file."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = False

    def put(self, line: bytes) -> None:
        if self._closed:
            raise BrokenPipeError("the pipe is closed")
        self._queue.put_nowait(line.rstrip(b"\n"))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_EOF)

    async def get(self) -> bytes:
        line = await self._queue.get()
        if line is _EOF:
            self._queue.put_nowait(_EOF)  # every later read sees the end too
            raise EOFError("end of stream")
        return line


class _End:
    """A StdioChannel over two pipes: what it sends goes out on one, what it receives comes from the other."""

    def __init__(self, outgoing: _Pipe, incoming: _Pipe) -> None:
        self._out = outgoing
        self._in = incoming
        self._closed = False

    async def send(self, line: bytes) -> None:
        if self._closed:
            raise BrokenPipeError("the channel is closed")
        self._out.put(line)

    async def receive(self) -> bytes:
        if self._closed:
            raise EOFError("the channel is closed")
        return await self._in.get()

    async def aclose(self) -> None:
        self._closed = True


class MemoryIO:
    """What a memory workload's ``main`` gets: its spec, its side of the stdio, and its log."""

    def __init__(self, spec: WorkloadSpec, stdio: StdioChannel, logs: deque[str]) -> None:
        self.spec = spec
        self.stdio = stdio
        """``receive()`` reads what an attached client sent (EOFError once stdin closes); ``send()`` answers."""
        self._logs = logs

    def log(self, text: str) -> None:
        self._logs.extend(text.splitlines() or [""])


WorkloadMain = Callable[[MemoryIO], Awaitable[int | None]]


async def echo(io: MemoryIO) -> int:
    """The default workload: ``cat``. Runs until its stdin closes (never, for a workload nobody attaches)."""
    io.log(f"started: {' '.join(io.spec.command)}")
    while True:
        try:
            line = await io.stdio.receive()
        except EOFError:
            return 0
        await io.stdio.send(line)


class _Entry:
    def __init__(self, workload: Workload, spec: WorkloadSpec) -> None:
        self.workload = workload
        self.spec = spec
        self.task: asyncio.Task[None] | None = None
        self.stdin = _Pipe()
        self.stdout = _Pipe()
        self.logs: deque[str] = deque(maxlen=LOG_LINES)


class MemoryRuntime(Freezing):
    """Behaves like the real runtimes: states, port mapping, stop/start/restart/remove, owner prefixes.

    ``main`` is what every workload runs (default: :func:`echo`); ``images``, when given, is the set of
    images that exist: running any other image fails like Docker does with a missing image.
    """

    name = "memory"
    pools_per_tenant = False

    def __init__(
        self,
        main: WorkloadMain | None = None,
        *,
        images: Iterable[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._main = main or echo
        self._images = None if images is None else frozenset(images)
        self._now = clock or (lambda: datetime.now(UTC))
        self._entries: dict[str, _Entry] = {}
        self._ports = itertools.count(41000)

    def admit(self, spec: WorkloadSpec) -> None:
        """Tasks isolate nothing, and run nothing a tenant supplies: everything is admitted."""

    async def run(self, spec: WorkloadSpec) -> Workload:
        if not spec.owner:
            raise ValidationFailed("a workload needs an owner")
        if spec.image is not None and self._images is not None and spec.image not in self._images:
            raise Unavailable(f"image {spec.image} is not available", code="image_missing")
        check_sources(spec)
        workload = Workload(
            id=uuid.uuid4().hex,
            owner=spec.owner,
            tenant_id=spec.tenant_id,
            runtime=self.name,
            state=WorkloadState.CREATED,
            image=spec.image,
        )
        entry = _Entry(workload, spec)
        self._entries[workload.id] = entry
        return self._start(entry)

    async def start(self, workload_id: str) -> Workload:
        entry = self._entry(workload_id)
        if entry.workload.state is WorkloadState.RUNNING:
            return entry.workload
        return self._start(entry)

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        entry = self._entry(workload_id)
        await self._halt(entry, exit_code=143)
        return entry.workload

    async def restart(self, workload_id: str) -> Workload:
        entry = self._entry(workload_id)
        await self._halt(entry, exit_code=143)
        return self._start(entry)

    async def remove(self, workload_id: str) -> None:
        entry = self._entries.get(workload_id)
        if entry is None:
            return
        await self._halt(entry, exit_code=137)
        self._entries.pop(workload_id, None)

    async def adopt(self, workload_id: str, owner: str, tenant_id: str, *, resume: bool = False) -> Workload:
        entry = self._entry(workload_id)
        if entry.spec.tenant_id not in ("", tenant_id):
            raise ValidationFailed(f"workload {workload_id} was made for another tenant")
        entry.spec = msgspec.structs.replace(entry.spec, owner=owner, tenant_id=tenant_id)
        entry.workload = _replace(entry.workload, owner=owner, tenant_id=tenant_id)
        return await self.resume(workload_id) if resume else entry.workload

    async def tidy(self) -> int:
        return 0

    async def inspect(self, workload_id: str) -> Workload | None:
        entry = self._entries.get(workload_id)
        return None if entry is None else entry.workload

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        return [e.workload for e in self._entries.values() if e.workload.owner.startswith(owner_prefix)]

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        return statuses_of(e.workload for e in self._entries.values() if e.workload.owner.startswith(owner_prefix))

    async def attach(self, workload_id: str) -> StdioChannel:
        entry = self._entry(workload_id)
        if not entry.spec.stdio:
            raise Conflict("the workload was not started with stdio", code="not_stdio")
        if entry.workload.state is not WorkloadState.RUNNING:
            raise Conflict("the workload is not running", code="not_running")
        return _End(entry.stdin, entry.stdout)

    async def logs(self, workload_id: str, *, tail: int = 100) -> str:
        entry = self._entry(workload_id)
        lines = list(entry.logs)[-tail:] if tail > 0 else []
        return "".join(f"{line}\n" for line in lines)

    async def aclose(self) -> None:
        """Stop every workload (the runtime's life ends with its owner's)."""
        for entry in list(self._entries.values()):
            await self._halt(entry, exit_code=143)

    def _entry(self, workload_id: str) -> _Entry:
        entry = self._entries.get(workload_id)
        if entry is None:
            raise NotFound(f"no workload {workload_id}")
        return entry

    async def _freeze(self, workload_id: str, *, paused: bool) -> Workload:
        """A paused task is only marked: nothing a tenant supplies runs here."""
        entry = self._entry(workload_id)
        if entry.workload.state is not WorkloadState.RUNNING:
            raise Conflict("the workload is not running", code="not_running")
        entry.workload = _replace(entry.workload, paused=paused)
        return entry.workload

    def _start(self, entry: _Entry) -> Workload:
        entry.stdin, entry.stdout = _Pipe(), _Pipe()
        ports = dict(entry.workload.ports) or {port: next(self._ports) for port in entry.spec.ports}
        entry.workload = _replace(
            entry.workload,
            state=WorkloadState.RUNNING,
            ports=ports,
            exit_code=None,
            started_at=self._now(),
            paused=False,
        )
        io = MemoryIO(entry.spec, _End(entry.stdout, entry.stdin), entry.logs)
        entry.task = asyncio.create_task(self._run(entry, io))
        return entry.workload

    async def _run(self, entry: _Entry, io: MemoryIO) -> None:
        try:
            code = await self._main(io)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a crashing workload exits non-zero, like a process would
            io.log(f"{type(exc).__name__}: {exc}")
            code = 1
        entry.stdout.close()
        entry.workload = _replace(entry.workload, state=WorkloadState.EXITED, exit_code=code or 0, paused=False)

    async def _halt(self, entry: _Entry, *, exit_code: int) -> None:
        task, entry.task = entry.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            entry.workload = _replace(entry.workload, state=WorkloadState.EXITED, exit_code=exit_code, paused=False)
        entry.stdin.close()
        entry.stdout.close()


def _replace(workload: Workload, **changes: object) -> Workload:
    return msgspec.structs.replace(workload, **changes)
