"""How a process workload is launched (``process.py``): its environment and the host ports it gets,
then its command, either as it is or under bubblewrap with pasta connecting its network
(``sandbox.py``); stdout (unless stdio) and stderr go to its ``output.log``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from tesserra_adapters.runtime.process_children import kill_group, process_start
from tesserra_adapters.runtime.process_files import WorkloadRecord
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_core.errors import Unavailable, ValidationFailed
from tesserra_core.ports.runtime import WorkloadSpec

INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
"""The only variables a workload inherits from the server (never its secrets)."""


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


def host_workdir(spec: WorkloadSpec) -> str | None:
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


async def launch(record: WorkloadRecord, folder: Path, sandbox: Sandbox | None) -> subprocess.Popen[bytes]:
    """Start the record's command from its ``folder``: sandboxed unless ``sandbox`` is None."""
    if sandbox is not None:
        return await _launch_sandboxed(record, folder, sandbox)
    return await _launch_process(record, folder)


def _environment(record: WorkloadRecord, folder: Path) -> dict[str, str]:
    spec = record.spec
    record.ports = {port: _free_port(record.ports.get(port)) for port in spec.ports}
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env["HOME"] = str(folder / "home")
    env.update(spec.env)
    for declared, host in record.ports.items():
        env[f"PORT_{declared}"] = str(host)
    if spec.ports:
        env["PORT"] = str(record.ports[spec.ports[0]])
    return env


async def _launch_process(record: WorkloadRecord, folder: Path) -> subprocess.Popen[bytes]:
    spec = record.spec
    env = _environment(record, folder)
    log = os.open(folder / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return await asyncio.to_thread(
            subprocess.Popen,
            list(spec.command),
            stdin=subprocess.PIPE if spec.stdio else subprocess.DEVNULL,
            stdout=subprocess.PIPE if spec.stdio else log,
            stderr=log,
            cwd=host_workdir(spec) or folder / "home",
            env=env,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise ValidationFailed(f"cannot run {spec.command[0]}: {exc.strerror}", code="command_failed") from None
    finally:
        os.close(log)


async def _launch_sandboxed(record: WorkloadRecord, folder: Path, sandbox: Sandbox) -> subprocess.Popen[bytes]:
    """bubblewrap waits on ``--block-fd`` until pasta has joined its network namespace."""
    spec = record.spec
    home = folder / "home"
    env = _environment(record, folder)
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
    workdir = host_workdir(spec) or str(home)
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
            await _loopback_up(inner)
            await _connect(record, folder, sandbox, inner)
            os.write(block_write, b"go")
        except BaseException:
            kill_group(popen.pid, signal.SIGKILL)
            await asyncio.to_thread(popen.wait)
            end_pasta(record)  # it outlives the namespace it joined
            raise
        finally:
            os.close(block_write)
    return popen


LOOPBACK_WAIT = 2.0
"""How long pasta waits for bubblewrap's loopback (see ``_loopback_up``)."""


async def _loopback_up(inner: int) -> None:
    """Wait until bubblewrap has brought up the namespace's loopback, which it does after telling its
    first process: pasta configuring the same namespace meanwhile made bubblewrap's netlink requests
    fail now and then ("loopback: Failed RTM_NEWADDR"), and bubblewrap then exits. The loopback is
    up once the kernel has given it ``::1``; where IPv6 is off that never shows, and pasta goes
    ahead after ``LOOPBACK_WAIT``."""
    polls = int(LOOPBACK_WAIT / 0.002)
    for _ in range(polls):
        if _loopback_shown(inner):
            return
        await asyncio.sleep(0.002)


def _loopback_shown(pid: int) -> bool:
    """The loopback of ``pid``'s network namespace has ``::1`` (a read of a small /proc file); a
    process that is gone counts as shown, and what follows says it is gone."""
    try:
        with open(f"/proc/{pid}/net/if_inet6", "rb") as addresses:
            return any(line.split()[-1:] == [b"lo"] for line in addresses)
    except OSError:
        return True


PASTA_ATTEMPTS = 3
"""A host port found free may be taken by another listener before pasta binds it: new ports, again."""


async def _connect(record: WorkloadRecord, folder: Path, sandbox: Sandbox, inner: int) -> None:
    """Attach pasta to the sandbox's network namespace, handed over as its standard input (see
    ``Sandbox.pasta_argv``); it forks into the background once ready."""
    pid_file = folder / "pasta.pid"
    for attempt in range(PASTA_ATTEMPTS):
        if attempt:
            record.ports = {declared: _free_port() for declared in record.ports}
        netns = os.open(f"/proc/{inner}/ns/net", os.O_RDONLY)
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                sandbox.pasta_argv(record.ports, pid_file),
                stdin=netns,
                capture_output=True,
                timeout=10,
                check=False,
                env={},
            )
        finally:
            os.close(netns)
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if done.returncode == 0 or "Failed to bind" not in why[0]:
            break
    if done.returncode != 0:
        raise Unavailable(f"the workload's network does not start: {why[0][:200]}", code="network_unavailable")
    record.pasta_pid = int(pid_file.read_text().strip())
    started = process_start(record.pasta_pid)
    record.pasta_ticks = started[1] if started else None


def end_pasta(record: WorkloadRecord) -> None:
    """pasta outlives the namespace it serves: end it with its workload (once: its pid is forgotten)."""
    if record.pasta_pid is None:
        return
    found = process_start(record.pasta_pid)
    if found is not None and found[1] == record.pasta_ticks:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(record.pasta_pid, signal.SIGKILL)
    record.pasta_pid = record.pasta_ticks = None
