"""The process workloads a test run leaves behind, and their removal at its end.

A process workload outlives the server that started it (by design: a restarted server finds it
running), so a test server that stops with a sandbox still running (a test that failed before its
delete, a session's server whose last test kept its sandbox) left bubblewrap, pasta and the workload
running for good: pytest later deletes the data dir, and no server will ever reap them (dozens were
found under /tmp/pytest-of-root on a shared machine). At the end of a run every workload recorded in
a data dir of the run is removed as a server would remove it (``ProcessRuntime.remove``: the group,
then pasta); what is still running after that, the product lost track of: the run fails."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

from tesserra_adapters.runtime.process import ProcessRuntime


def data_dirs(root: Path) -> list[Path]:
    """The data dirs under ``root`` holding process workloads (``<data_dir>/workloads/<id>/workload.json``)."""
    return sorted({record.parents[2] for record in root.glob("**/workloads/*/workload.json")})


async def remove_recorded(root: Path) -> list[str]:
    """Remove every workload recorded under ``root``; the ids of those that were still running."""
    running = []
    for data_dir in data_dirs(root):
        runtime = ProcessRuntime(data_dir)
        try:
            for workload in await runtime.list():
                if workload.state.value == "running":
                    running.append(workload.id)
                await runtime.remove(workload.id)
        finally:
            await runtime.aclose()
    return running


def processes_under(root: Path) -> dict[int, str]:
    """pid -> command line of every live process that names a workload folder under ``root`` (bubblewrap's
    binds and working directory, pasta's pid file)."""
    marker = f"{root}/".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker in cmdline and b"/workloads/" in cmdline and state not in ("Z", "X"):
            argv = cmdline.decode(errors="replace").split("\0")
            folder = re.search(r"\S*/workloads/[^/\s]+", " ".join(argv))
            found[int(entry.name)] = f"{Path(argv[0]).name} of {folder.group(0) if folder else root}"
    return found


def kill(pids: dict[int, str]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
