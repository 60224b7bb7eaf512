"""The host processes behind process workloads (``process.py``): what /proc says of a pid, waiting
on a process that is not our child, signalling a process group, and the children this server
started, reaped as soon as they exit, with their stdio pipes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path

LINE_LIMIT = 16 * 1024 * 1024
"""The longest stdio line (one MCP message) a workload may send."""


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_start(pid: int) -> tuple[str, int] | None:
    """The state letter and start time (clock ticks after boot) of ``pid``, or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[0], int(fields[19])


def exit_code(returncode: int) -> int:
    """A process killed by signal N reports ``128 + N``, as shells and Docker do."""
    return 128 - returncode if returncode < 0 else returncode


async def exited(pid: int, within: float) -> bool:
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


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


SANDBOX_PROGRAMS = frozenset({"bwrap", "pasta", "passt", "pasta.avx2", "passt.avx2"})
"""What ``kill_naming`` ends: the sandbox's own programs (a shell that merely names the folder is spared)."""


def kill_naming(folder: Path) -> list[int]:
    """SIGKILL every process (and its group) whose command line names ``folder``: bubblewrap (its binds
    and working directory) and pasta (its pid file) of a workload whose pids were never recorded, as
    when the server died mid-launch (bubblewrap then goes on at its block pipe's end of file). A
    folder is a workload's own (a random id), so nothing else names it. The pids killed."""
    marker = f"{folder}/".encode()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline and Path(cmdline.partition(b"\0")[0].decode(errors="replace")).name in SANDBOX_PROGRAMS:
            pid = int(entry.name)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid:  # bubblewrap leads its workload's group: the group goes with it
                    os.killpg(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


class PipeChannel:
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


class Child:
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
