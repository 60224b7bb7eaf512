"""Workloads as local processes (the default runtime): no image, nothing to install.

With a ``Sandbox`` (the default: ``TESSERRA_PROCESS_ISOLATION=bubblewrap``), each workload runs
under bubblewrap as a uid of its own, sees only the system read-only, its home and its mounts, and
has a network namespace of its own that pasta connects (``sandbox.py`` says what that means). Where
the sandbox cannot run, ``admit`` refuses every spec (422 ``isolation_unavailable``). Without one
(``none-trusted-single-tenant``), a workload runs as the server's user: only for trusted code.

Each workload runs in its own session and process group, with a small environment (``PATH``,
``LANG``, ``HOME``, the spec's variables and its ports) rather than the server's, in its own
directory ``<data_dir>/workloads/<id>/`` holding:

- ``workload.json`` (mode 0600): the spec, pid, process start time and state, so that after a
  server restart ``list()`` still reports the workloads that survived and ``remove()`` can kill
  them (the start time read from /proc defeats pid reuse);
- ``output.log``: stdout (unless ``stdio``) and stderr, bounded to ``log_bytes``;
- ``home/``: the working directory and ``HOME`` unless the spec names a ``workdir``.

A workload finds a mount's files at its ``source`` (and, sandboxed, at its ``target`` too), and a
``workdir`` at or under a mount's ``target`` runs at the same place under the ``source`` (``Mount``
in the port). ``read_only`` is enforced in the sandbox only.

Each declared port gets a free 127.0.0.1 port on the host. Sandboxed, the workload listens on its
declared port in its own network namespace, and pasta forwards the host port to it; unsandboxed,
the host port is handed to the workload as ``PORT_<declared>`` and (the first one) ``PORT``, and it
must listen on that. Either way ``PORT``/``PORT_<declared>`` name where to listen. Stopping sends SIGTERM to the whole
group, then SIGKILL after ``grace``; nothing of the group outlives ``stop`` or ``remove``.
Workloads started with ``stdio=True`` keep their stdin and stdout pipes to this server: they do not
survive its restart in a usable state (``attach`` then fails until the workload is restarted).

This module supervises the workloads; ``process_files.py`` keeps their folders and records,
``process_launch.py`` starts their commands, ``process_children.py`` watches and signals processes.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from tesserra_adapters.runtime.freezing import Freezing
from tesserra_adapters.runtime.mounts import check_sources
from tesserra_adapters.runtime.process_children import (
    Child,
    PipeChannel,
    boot_id,
    exit_code,
    exited,
    kill_group,
    kill_naming,
    process_start,
)
from tesserra_adapters.runtime.process_files import WorkloadFiles, WorkloadRecord
from tesserra_adapters.runtime.process_launch import end_pasta, host_workdir, launch
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_core.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from tesserra_core.ports.runtime import (
    StdioChannel,
    Workload,
    WorkloadSpec,
    WorkloadState,
    WorkloadStatus,
    statuses_of,
)
from tesserra_core.ports.secrets_at_rest import SecretBox

REMOVE_GRACE = 2.0
"""How long ``remove`` lets a workload end on SIGTERM before SIGKILL (``stop`` first for a longer grace)."""


class ProcessRuntime(Freezing):
    name = "process"
    pools_per_tenant = False

    def __init__(
        self,
        data_dir: Path,
        *,
        log_bytes: int = 1024 * 1024,
        box: SecretBox | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self._sandbox = sandbox
        """None: workloads run as the server's user (``none-trusted-single-tenant``)."""
        self._files = WorkloadFiles(Path(data_dir) / "workloads", log_bytes=log_bytes, box=box)
        self._children: dict[str, Child] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._boot = boot_id()

    # -- the port ---------------------------------------------------------------------------------

    def admit(self, spec: WorkloadSpec) -> None:
        if self._sandbox is None and spec.require_isolation:
            raise Unprocessable(
                "this server runs workloads unisolated (TESSERRA_PROCESS_ISOLATION=none-trusted-single-tenant), "
                "and this one must be isolated: use TESSERRA_PROCESS_ISOLATION=bubblewrap (with bubblewrap, passt "
                "and util-linux installed) or the docker runtime (TESSERRA_RUNTIME=docker)",
                code="isolation_unavailable",
            )
        if self._sandbox is not None and (problem := self._sandbox.problem) is not None:
            raise Unprocessable(
                f"this server cannot isolate workloads ({problem}): install bubblewrap, passt and util-linux, "
                "or use the docker runtime (TESSERRA_RUNTIME=docker); a single-tenant server running only "
                "trusted code may opt out with TESSERRA_PROCESS_ISOLATION=none-trusted-single-tenant",
                code="isolation_unavailable",
            )

    async def run(self, spec: WorkloadSpec) -> Workload:
        self.admit(spec)
        if not spec.owner:
            raise ValidationFailed("a workload needs an owner")
        if not spec.command:
            raise ValidationFailed("a process workload needs a command")
        record = WorkloadRecord(id=uuid.uuid4().hex, spec=spec, state=WorkloadState.CREATED)
        self._create(record)
        async with self._lock(record.id):
            try:
                await self._spawn(record)
            except BaseException:
                shutil.rmtree(self._files.folder(record.id), ignore_errors=True)
                raise
        return self._view(record)

    async def start(self, workload_id: str) -> Workload:
        async with self._lock(workload_id):
            record = self._refresh(self._files.load(workload_id))
            if record.state is not WorkloadState.RUNNING:
                await self._spawn(record)
            return self._view(record)

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        async with self._lock(workload_id):
            record = self._files.load(workload_id)
            await self._terminate(record, grace)
            return self._view(record)

    async def restart(self, workload_id: str) -> Workload:
        async with self._lock(workload_id):
            record = self._files.load(workload_id)
            await self._terminate(record, 10.0)
            await self._spawn(record)
            return self._view(record)

    async def _freeze(self, workload_id: str, *, paused: bool) -> Workload:
        """SIGSTOP (or SIGCONT) to the workload's whole process group, the sandbox's processes with it."""
        async with self._lock(workload_id):
            record = self._refresh(self._files.load(workload_id))
            if record.state is not WorkloadState.RUNNING or record.pid is None:
                raise Conflict("the workload is not running", code="not_running")
            if record.paused != paused:
                kill_group(record.pid, signal.SIGSTOP if paused else signal.SIGCONT)
                record.paused = paused
                self._files.save(record)
            return self._view(record)

    async def remove(self, workload_id: str) -> None:
        async with self._lock(workload_id):
            try:
                record = self._files.load(workload_id)
            except NotFound:
                return
            await self._terminate(record, REMOVE_GRACE)
            if self._sandbox is not None:  # what a server that died mid-launch started but never recorded
                await asyncio.to_thread(kill_naming, self._files.folder(workload_id))
            shutil.rmtree(self._files.folder(workload_id), ignore_errors=True)
            others = (r for r in self._files.records() if r.spec.owner == record.spec.owner)
            if self._sandbox is not None and record.uid is not None and next(others, None) is None:
                self._sandbox.release_uid(record.spec.owner, record.uid)
        self._locks.pop(workload_id, None)

    async def adopt(self, workload_id: str, owner: str, tenant_id: str, *, resume: bool = False) -> Workload:
        """The record names its new owner; in the sandbox its uid passes to the new owner with it
        (the network, pasta's, forwards only to this host's loopback: nothing to move)."""
        if not owner:
            raise ValidationFailed("a workload needs an owner")
        async with self._lock(workload_id):
            record = self._files.load(workload_id)
            if record.spec.tenant_id not in ("", tenant_id):
                raise ValidationFailed(f"workload {workload_id} was made for another tenant")
            previous = record.spec.owner
            record.spec = msgspec.structs.replace(record.spec, owner=owner, tenant_id=tenant_id)
            if self._sandbox is not None and record.uid is not None:
                self._sandbox.transfer_uid(previous, owner, record.uid)
            self._files.save(record)
            adopted = self._view(self._refresh(record))
        return await self.resume(workload_id) if resume else adopted

    async def tidy(self) -> int:
        """Nothing outlives a process workload's ``remove`` (its folder, uid and pasta go with it)."""
        return 0

    async def inspect(self, workload_id: str) -> Workload | None:
        try:
            record = self._files.load(workload_id)
        except NotFound:
            return None
        self._files.trim(workload_id)
        return self._view(self._refresh(record))

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        workloads = []
        for record in self._files.records():
            if record.spec.owner.startswith(owner_prefix):
                self._files.trim(record.id)
                workloads.append(self._view(self._refresh(record)))
        return workloads

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        """``list``'s, no dearer: a process workload's state is its record's (and each log is trimmed
        there, as a polling watch relies on to keep logs bounded)."""
        return statuses_of(await self.list(owner_prefix))

    async def attach(self, workload_id: str) -> StdioChannel:
        record = self._refresh(self._files.load(workload_id))
        if not record.spec.stdio:
            raise Conflict("the workload was not started with stdio", code="not_stdio")
        if record.state is not WorkloadState.RUNNING:
            raise Conflict("the workload is not running", code="not_running")
        child = self._children.get(workload_id)
        if child is None:
            raise Conflict(
                "the workload's stdio was lost when the server restarted; restart the workload", code="stdio_lost"
            )
        if child.attached is not None and not child.attached.is_set():
            raise Conflict("the workload's stdio is already attached", code="attached")
        if child.stdin is None or child.stdout is None:
            raise Conflict("the workload was not started with stdio", code="not_stdio")
        child.attached = asyncio.Event()
        return PipeChannel(child.stdin, child.stdout, child.attached)

    async def logs(self, workload_id: str, *, tail: int = 100) -> str:
        self._files.load(workload_id)
        self._files.trim(workload_id)
        if tail <= 0:
            return ""
        return self._files.tail(workload_id, tail)

    async def aclose(self) -> None:
        """Forget this server's children without stopping them: they survive a restart (see the module)."""
        for child in self._children.values():
            if child.reaper is not None:
                child.reaper.cancel()
            child.forget()
        self._children.clear()

    # -- processes --------------------------------------------------------------------------------

    async def _spawn(self, record: WorkloadRecord) -> None:
        self.admit(record.spec)
        popen = await launch(record, self._files.folder(record.id), self._sandbox)
        await self._started(record, popen)

    async def _started(self, record: WorkloadRecord, popen: subprocess.Popen[bytes]) -> None:
        spec = record.spec
        child = Child(popen)
        child.watch()
        if spec.stdio:
            await child.connect_stdio()
        started = process_start(popen.pid)
        record.pid = popen.pid
        record.start_ticks = started[1] if started else None
        record.boot_id = self._boot
        record.state = WorkloadState.RUNNING
        record.paused = False
        record.exit_code = None
        record.started_at = datetime.now(UTC)
        self._files.save(record)
        self._children[record.id] = child
        child.reaper = asyncio.create_task(self._reap(record.id, child))

    async def _reap(self, workload_id: str, child: Child) -> None:
        """Wait for a child to exit, record its exit code, and sweep what it left in its group."""
        await child.wait()
        kill_group(child.popen.pid, signal.SIGKILL)
        if self._children.get(workload_id) is child:
            del self._children[workload_id]
            try:
                record = self._files.load(workload_id)
            except NotFound:
                return
            if record.pid == child.popen.pid and child.returncode is not None:
                record.state = WorkloadState.EXITED
                record.exit_code = exit_code(child.returncode)
                end_pasta(record)
                self._files.save(record)

    async def _terminate(self, record: WorkloadRecord, grace: float) -> None:
        """SIGTERM to the group, SIGKILL after ``grace``; the record ends EXITED."""
        self._refresh(record)
        child = self._children.pop(record.id, None)
        if record.state is WorkloadState.RUNNING and record.pid is not None:
            pid = record.pid
            kill_group(pid, signal.SIGTERM)
            if record.paused:  # stopped processes act on SIGTERM once they run again
                kill_group(pid, signal.SIGCONT)
            if child is not None:
                if not await child.wait(grace):
                    kill_group(pid, signal.SIGKILL)
                    await child.wait()
            elif not await exited(pid, grace):
                kill_group(pid, signal.SIGKILL)
                await exited(pid, 5.0)
            kill_group(pid, signal.SIGKILL)  # what the leader left behind
            record.state = WorkloadState.EXITED
            record.paused = False
            returncode = child.returncode if child is not None else None
            record.exit_code = None if returncode is None else exit_code(returncode)
        end_pasta(record)
        if child is not None and child.reaper is not None:
            child.reaper.cancel()
        if self._files.folder(record.id).is_dir():
            self._files.save(record)

    def _alive(self, record: WorkloadRecord) -> bool:
        if record.pid is None or record.boot_id != self._boot:
            return False
        child = self._children.get(record.id)
        if child is not None and child.popen.pid == record.pid:
            return not child.exited.is_set()
        found = process_start(record.pid)
        return found is not None and found[0] not in ("Z", "X") and found[1] == record.start_ticks

    def _refresh(self, record: WorkloadRecord) -> WorkloadRecord:
        """A RUNNING record whose process is gone (while this server was away) becomes EXITED."""
        if record.state is WorkloadState.RUNNING and not self._alive(record):
            child = self._children.get(record.id)
            record.state = WorkloadState.EXITED
            if child is not None and child.returncode is not None:
                record.exit_code = exit_code(child.returncode)
            end_pasta(record)
            if self._files.folder(record.id).is_dir():
                self._files.save(record)
        return record

    # -- files ------------------------------------------------------------------------------------

    def _create(self, record: WorkloadRecord) -> None:
        check_sources(record.spec)
        workdir = host_workdir(record.spec)
        if workdir is not None and not Path(workdir).is_dir():
            raise ValidationFailed(f"workdir {record.spec.workdir} is not a directory")
        self._files.create(record)

    def _lock(self, workload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(workload_id, asyncio.Lock())

    def _view(self, record: WorkloadRecord) -> Workload:
        return Workload(
            id=record.id,
            owner=record.spec.owner,
            tenant_id=record.spec.tenant_id,
            runtime=self.name,
            state=record.state,
            image=record.spec.image,
            ports=dict(record.ports),
            exit_code=record.exit_code,
            started_at=record.started_at,
            paused=record.paused and record.state is WorkloadState.RUNNING,
        )
