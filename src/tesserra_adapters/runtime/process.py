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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from tesserra_adapters.runtime.mounts import check_sources
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_core.errors import Conflict, NotFound, Unavailable, Unprocessable, ValidationFailed
from tesserra_core.ports.runtime import StdioChannel, Workload, WorkloadSpec, WorkloadState
from tesserra_core.ports.secrets_at_rest import SecretBox

LINE_LIMIT = 16 * 1024 * 1024
"""The longest stdio line (one MCP message) a workload may send."""
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
"""The only variables a workload inherits from the server (never its secrets)."""
REMOVE_GRACE = 2.0
"""How long ``remove`` lets a workload end on SIGTERM before SIGKILL (``stop`` first for a longer grace)."""


class _Record(msgspec.Struct, kw_only=True):
    """What ``workload.json`` holds."""

    id: str
    spec: WorkloadSpec
    state: WorkloadState
    ports: dict[int, int] = {}
    pid: int | None = None
    start_ticks: int | None = None
    boot_id: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    uid: int | None = None
    """The workload's own uid in the sandbox (None: it runs as the server's user)."""
    pasta_pid: int | None = None
    pasta_ticks: int | None = None
    sealed_env: str | None = None
    """The spec's environment sealed with the secret box (it carries installations' secrets); the
    file then holds ``spec.env`` empty."""


_WORKLOAD_ID = re.compile(r"[0-9a-f]{32}")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Record)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _process_start(pid: int) -> tuple[str, int] | None:
    """The state letter and start time (clock ticks after boot) of ``pid``, or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[0], int(fields[19])


def _free_port(preferred: int | None = None) -> int:
    for candidate in (preferred, 0):
        if candidate is None:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def _exit_code(returncode: int) -> int:
    """A process killed by signal N reports ``128 + N``, as shells and Docker do."""
    return 128 - returncode if returncode < 0 else returncode


async def _exited(pid: int, within: float) -> bool:
    """Wait for ``pid`` (not necessarily a child) to end, through a pidfd; False after ``within`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    loop.add_reader(fd, ended.set)
    try:
        await asyncio.wait_for(ended.wait(), within)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return True


def _workdir(spec: WorkloadSpec) -> str | None:
    """The spec's working directory on the host: inside a mount, the same place under its source."""
    if spec.workdir is None:
        return None
    return spec.host_path(spec.workdir) or spec.workdir


def _give_tree(path: Path, uid: int) -> None:
    """``path`` and everything under it belong to ``uid`` (links are changed, never followed)."""
    os.chown(path, uid, uid, follow_symlinks=False)
    for parent, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)


def _read_info(fd: int) -> int:
    """The sandbox's first process (bubblewrap's ``--info-fd`` JSON), read until bubblewrap closes it."""
    data = b""
    with os.fdopen(fd, "rb") as info:
        data = info.read()
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        raise OSError(f"bubblewrap reported no sandbox: {data[:200]!r}") from None


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _PipeChannel:
    """The stdio of a child process, one message per line."""

    def __init__(self, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader, closed: asyncio.Event) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self._closed = closed

    async def send(self, line: bytes) -> None:
        if self._closed.is_set():
            raise BrokenPipeError("the channel is closed")
        try:
            self._stdin.write(line.rstrip(b"\n") + b"\n")
            await self._stdin.drain()
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise BrokenPipeError("the workload's stdin is closed") from exc

    async def receive(self) -> bytes:
        if self._closed.is_set():
            raise EOFError("the channel is closed")
        line = await self._stdout.readline()
        if not line:
            raise EOFError("the workload's stdout is closed")
        return line.rstrip(b"\n")

    async def aclose(self) -> None:
        """Detach: the workload keeps running, and may be attached again."""
        self._closed.set()


class _Child:
    """A workload this server started: its process, a pidfd to wait on it, and its stdio if any.

    ``subprocess.Popen`` rather than asyncio's subprocess transport, which kills its child when
    closed or collected: a workload must outlive the server that started it."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pidfd = os.pidfd_open(popen.pid)  # the child is ours to reap, so its pid cannot be reused before
        self.exited = asyncio.Event()
        self.returncode: int | None = None
        self.reaper: asyncio.Task[None] | None = None
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.attached: asyncio.Event | None = None

    async def connect_stdio(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.popen.stdin is not None
        assert self.popen.stdout is not None
        self.stdout = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self.stdout), self.popen.stdout)  # type: ignore[arg-type]
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), self.popen.stdin
        )
        self.stdin = asyncio.StreamWriter(transport, protocol, None, loop)

    async def wait(self, within: float | None = None) -> bool:
        """Wait for the exit (reaped as soon as it happens, so no zombie stays); False after ``within``."""
        try:
            await asyncio.wait_for(self.exited.wait(), within)
        except TimeoutError:
            return False
        return True

    def watch(self) -> None:
        asyncio.get_running_loop().add_reader(self.pidfd, self._reap)

    def forget(self) -> None:
        """Stop watching (the server shuts down; the workload goes on)."""
        if not self.exited.is_set():
            asyncio.get_running_loop().remove_reader(self.pidfd)
            os.close(self.pidfd)

    def _reap(self) -> None:
        asyncio.get_running_loop().remove_reader(self.pidfd)
        os.close(self.pidfd)
        self.returncode = self.popen.wait()  # the pidfd is readable: it has exited, this does not block
        self.exited.set()


class ProcessRuntime:
    name = "process"

    def __init__(
        self,
        data_dir: Path,
        *,
        log_bytes: int = 1024 * 1024,
        box: SecretBox | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self._root = Path(data_dir) / "workloads"
        self._sandbox = sandbox
        """None: workloads run as the server's user (``none-trusted-single-tenant``)."""
        self._log_bytes = log_bytes
        self._box = box
        """With a box, environments are sealed at rest in ``workload.json`` (secrets never lie there in clear)."""
        self._children: dict[str, _Child] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._boot = _boot_id()

    # -- the port ---------------------------------------------------------------------------------

    def admit(self, spec: WorkloadSpec) -> None:
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
        record = _Record(id=uuid.uuid4().hex, spec=spec, state=WorkloadState.CREATED)
        self._create(record)
        async with self._lock(record.id):
            try:
                await self._spawn(record)
            except BaseException:
                shutil.rmtree(self._folder(record.id), ignore_errors=True)
                raise
        return self._view(record)

    async def start(self, workload_id: str) -> Workload:
        async with self._lock(workload_id):
            record = self._refresh(self._load(workload_id))
            if record.state is not WorkloadState.RUNNING:
                await self._spawn(record)
            return self._view(record)

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        async with self._lock(workload_id):
            record = self._load(workload_id)
            await self._terminate(record, grace)
            return self._view(record)

    async def restart(self, workload_id: str) -> Workload:
        async with self._lock(workload_id):
            record = self._load(workload_id)
            await self._terminate(record, 10.0)
            await self._spawn(record)
            return self._view(record)

    async def remove(self, workload_id: str) -> None:
        async with self._lock(workload_id):
            try:
                record = self._load(workload_id)
            except NotFound:
                return
            await self._terminate(record, REMOVE_GRACE)
            shutil.rmtree(self._folder(workload_id), ignore_errors=True)
            others = (r for r in self._records() if r.spec.owner == record.spec.owner)
            if self._sandbox is not None and record.uid is not None and next(others, None) is None:
                self._sandbox.release_uid(record.spec.owner, record.uid)
        self._locks.pop(workload_id, None)

    async def inspect(self, workload_id: str) -> Workload | None:
        try:
            record = self._load(workload_id)
        except NotFound:
            return None
        self._trim(workload_id)
        return self._view(self._refresh(record))

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        workloads = []
        for record in self._records():
            if record.spec.owner.startswith(owner_prefix):
                self._trim(record.id)
                workloads.append(self._view(self._refresh(record)))
        return workloads

    async def attach(self, workload_id: str) -> StdioChannel:
        record = self._refresh(self._load(workload_id))
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
        return _PipeChannel(child.stdin, child.stdout, child.attached)

    async def logs(self, workload_id: str, *, tail: int = 100) -> str:
        self._load(workload_id)
        self._trim(workload_id)
        if tail <= 0:
            return ""
        path = self._folder(workload_id) / "output.log"
        try:
            with path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - self._log_bytes))
                data = f.read()
        except FileNotFoundError:
            return ""
        lines = data.decode(errors="replace").splitlines()[-tail:]
        return "".join(f"{line}\n" for line in lines)

    async def aclose(self) -> None:
        """Forget this server's children without stopping them: they survive a restart (see the module)."""
        for child in self._children.values():
            if child.reaper is not None:
                child.reaper.cancel()
            child.forget()
        self._children.clear()

    # -- processes --------------------------------------------------------------------------------

    async def _spawn(self, record: _Record) -> None:
        if self._sandbox is not None:
            self.admit(record.spec)
            await self._spawn_sandboxed(record, self._sandbox)
        else:
            await self._spawn_process(record)

    def _environment(self, record: _Record) -> dict[str, str]:
        spec = record.spec
        folder = self._folder(record.id)
        record.ports = {port: _free_port(record.ports.get(port)) for port in spec.ports}
        env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
        env["HOME"] = str(folder / "home")
        env.update(spec.env)
        for declared, host in record.ports.items():
            env[f"PORT_{declared}"] = str(host)
        if spec.ports:
            env["PORT"] = str(record.ports[spec.ports[0]])
        return env

    async def _spawn_process(self, record: _Record) -> None:
        spec = record.spec
        folder = self._folder(record.id)
        env = self._environment(record)
        log = os.open(folder / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            popen = await asyncio.to_thread(
                subprocess.Popen,
                list(spec.command),
                stdin=subprocess.PIPE if spec.stdio else subprocess.DEVNULL,
                stdout=subprocess.PIPE if spec.stdio else log,
                stderr=log,
                cwd=_workdir(spec) or folder / "home",
                env=env,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise ValidationFailed(f"cannot run {spec.command[0]}: {exc.strerror}", code="command_failed") from None
        finally:
            os.close(log)
        await self._started(record, popen)

    async def _spawn_sandboxed(self, record: _Record, sandbox: Sandbox) -> None:
        """bubblewrap waits on ``--block-fd`` until pasta has joined its network namespace."""
        spec = record.spec
        folder = self._folder(record.id)
        home = folder / "home"
        env = self._environment(record)
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        # In its own network namespace a workload listens on its declared ports, as in a container:
        # pasta forwards each host port to its declared one.
        env.update({f"PORT_{declared}": str(declared) for declared in record.ports})
        if spec.ports:
            env["PORT"] = str(spec.ports[0])
        record.uid = await asyncio.to_thread(sandbox.claim_uid, spec.owner)
        await asyncio.to_thread(_give_tree, home, record.uid)
        for mount in spec.mounts:
            if not mount.read_only:
                await asyncio.to_thread(_give_tree, Path(mount.source), record.uid)
        program = spec.command[0]
        if program.startswith("/") and not os.access(program, os.X_OK):
            raise ValidationFailed(f"cannot run {program}: not an executable file", code="command_failed")
        workdir = _workdir(spec) or str(home)
        networked = bool(spec.ports) or spec.network
        # Networked: bubblewrap tells its first process (--info-fd), then waits (--block-fd) until
        # pasta has joined that process's network namespace. Otherwise: neither pipe.
        info_read, info_write = os.pipe() if networked else (-1, -1)
        block_read, block_write = os.pipe() if networked else (-1, -1)
        argv = sandbox.argv(
            spec,
            uid=record.uid,
            home=home,
            workdir=workdir,
            info_fd=info_write if networked else None,
            block_fd=block_read if networked else None,
        )
        log = os.open(folder / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            popen = await asyncio.to_thread(
                subprocess.Popen,
                argv,
                stdin=subprocess.PIPE if spec.stdio else subprocess.DEVNULL,
                stdout=subprocess.PIPE if spec.stdio else log,
                stderr=log,
                cwd="/",
                env=env,
                start_new_session=True,
                pass_fds=(info_write, block_read) if networked else (),
                umask=0o022,  # the directories bubblewrap makes on the way to its binds: traversable
            )
        except OSError as exc:
            for fd in (info_read, info_write, block_read, block_write):
                if fd >= 0:
                    os.close(fd)
            raise Unavailable(f"the sandbox does not start: {exc.strerror}", code="isolation_unavailable") from None
        finally:
            os.close(log)
        if networked:
            os.close(info_write)
            os.close(block_read)
            try:
                inner = await asyncio.wait_for(asyncio.to_thread(_read_info, info_read), 10)
                await self._connect(record, sandbox, inner)
                os.write(block_write, b"go")
            except BaseException:
                _kill_group(popen.pid, signal.SIGKILL)
                await asyncio.to_thread(popen.wait)
                raise
            finally:
                os.close(block_write)
        await self._started(record, popen)

    async def _connect(self, record: _Record, sandbox: Sandbox, inner: int) -> None:
        """Attach pasta to the sandbox's network namespace; it forks into the background once ready."""
        folder = self._folder(record.id)
        pid_file = folder / "pasta.pid"
        netns = os.open(f"/proc/{inner}/ns/net", os.O_RDONLY)
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                sandbox.pasta_argv(record.ports, netns, pid_file),
                pass_fds=(netns,),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
                check=False,
                env={},
            )
        finally:
            os.close(netns)
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise Unavailable(f"the workload's network does not start: {why[0][:200]}", code="network_unavailable")
        record.pasta_pid = int(pid_file.read_text().strip())
        started = _process_start(record.pasta_pid)
        record.pasta_ticks = started[1] if started else None

    def _end_pasta(self, record: _Record) -> None:
        """pasta outlives the namespace it serves: end it with its workload (once: its pid is forgotten)."""
        if record.pasta_pid is None:
            return
        found = _process_start(record.pasta_pid)
        if found is not None and found[1] == record.pasta_ticks:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.pasta_pid, signal.SIGKILL)
        record.pasta_pid = record.pasta_ticks = None

    async def _started(self, record: _Record, popen: subprocess.Popen[bytes]) -> None:
        spec = record.spec
        child = _Child(popen)
        child.watch()
        if spec.stdio:
            await child.connect_stdio()
        started = _process_start(popen.pid)
        record.pid = popen.pid
        record.start_ticks = started[1] if started else None
        record.boot_id = self._boot
        record.state = WorkloadState.RUNNING
        record.exit_code = None
        record.started_at = datetime.now(UTC)
        self._save(record)
        self._children[record.id] = child
        child.reaper = asyncio.create_task(self._reap(record.id, child))

    async def _reap(self, workload_id: str, child: _Child) -> None:
        """Wait for a child to exit, record its exit code, and sweep what it left in its group."""
        await child.wait()
        _kill_group(child.popen.pid, signal.SIGKILL)
        if self._children.get(workload_id) is child:
            del self._children[workload_id]
            try:
                record = self._load(workload_id)
            except NotFound:
                return
            if record.pid == child.popen.pid and child.returncode is not None:
                record.state = WorkloadState.EXITED
                record.exit_code = _exit_code(child.returncode)
                self._end_pasta(record)
                self._save(record)

    async def _terminate(self, record: _Record, grace: float) -> None:
        """SIGTERM to the group, SIGKILL after ``grace``; the record ends EXITED."""
        self._refresh(record)
        child = self._children.pop(record.id, None)
        if record.state is WorkloadState.RUNNING and record.pid is not None:
            pid = record.pid
            _kill_group(pid, signal.SIGTERM)
            if child is not None:
                if not await child.wait(grace):
                    _kill_group(pid, signal.SIGKILL)
                    await child.wait()
            elif not await _exited(pid, grace):
                _kill_group(pid, signal.SIGKILL)
                await _exited(pid, 5.0)
            _kill_group(pid, signal.SIGKILL)  # what the leader left behind
            record.state = WorkloadState.EXITED
            returncode = child.returncode if child is not None else None
            record.exit_code = None if returncode is None else _exit_code(returncode)
        self._end_pasta(record)
        if child is not None and child.reaper is not None:
            child.reaper.cancel()
        if self._folder(record.id).is_dir():
            self._save(record)

    def _alive(self, record: _Record) -> bool:
        if record.pid is None or record.boot_id != self._boot:
            return False
        child = self._children.get(record.id)
        if child is not None and child.popen.pid == record.pid:
            return not child.exited.is_set()
        found = _process_start(record.pid)
        return found is not None and found[0] not in ("Z", "X") and found[1] == record.start_ticks

    def _refresh(self, record: _Record) -> _Record:
        """A RUNNING record whose process is gone (while this server was away) becomes EXITED."""
        if record.state is WorkloadState.RUNNING and not self._alive(record):
            child = self._children.get(record.id)
            record.state = WorkloadState.EXITED
            if child is not None and child.returncode is not None:
                record.exit_code = _exit_code(child.returncode)
            self._end_pasta(record)
            if self._folder(record.id).is_dir():
                self._save(record)
        return record

    # -- files ------------------------------------------------------------------------------------

    def _create(self, record: _Record) -> None:
        check_sources(record.spec)
        workdir = _workdir(record.spec)
        if workdir is not None and not Path(workdir).is_dir():
            raise ValidationFailed(f"workdir {record.spec.workdir} is not a directory")
        folder = self._folder(record.id)
        folder.mkdir(parents=True, mode=0o700)
        (folder / "home").mkdir(mode=0o700)
        self._save(record)

    def _records(self) -> tuple[_Record, ...]:
        if not self._root.is_dir():
            return ()
        records = []
        for folder in sorted(self._root.iterdir()):
            with contextlib.suppress(NotFound):
                records.append(self._load(folder.name))
        return tuple(records)

    def _folder(self, workload_id: str) -> Path:
        if _WORKLOAD_ID.fullmatch(workload_id) is None:
            raise NotFound(f"no workload {workload_id}")
        return self._root / workload_id

    def _load(self, workload_id: str) -> _Record:
        try:
            record = _decoder.decode((self._folder(workload_id) / "workload.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            raise NotFound(f"no workload {workload_id}") from None
        if record.sealed_env is not None and self._box is not None:
            env = json.loads(self._box.open(record.sealed_env, context=f"workload:{record.id}:env"))
            record.spec = msgspec.structs.replace(record.spec, env=env)
            record.sealed_env = None
        return record

    def _sealed(self, record: _Record) -> _Record:
        if self._box is None or not record.spec.env:
            return record
        sealed = self._box.seal(json.dumps(dict(record.spec.env)).encode(), context=f"workload:{record.id}:env")
        return msgspec.structs.replace(record, spec=msgspec.structs.replace(record.spec, env={}), sealed_env=sealed)

    def _save(self, record: _Record) -> None:
        path = self._folder(record.id) / "workload.json"
        tmp = path.with_name(f".workload.{os.getpid()}.json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_encoder.encode(self._sealed(record)))
        tmp.replace(path)

    def _trim(self, workload_id: str) -> None:
        """Keep the log bounded: past ``log_bytes``, keep its newest half (same file, so writers go on)."""
        path = self._folder(workload_id) / "output.log"
        try:
            if path.stat().st_size <= self._log_bytes:
                return
            with path.open("r+b") as f:
                f.seek(-(self._log_bytes // 2), os.SEEK_END)
                kept = f.read()
                f.seek(0)
                f.write(kept)
                f.truncate(len(kept))
        except OSError:
            return

    def _lock(self, workload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(workload_id, asyncio.Lock())

    def _view(self, record: _Record) -> Workload:
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
        )
