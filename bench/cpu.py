"""CPU seconds read from /proc: the server's, PostgreSQL's, the load generator's and the machine's,
so each measured run can say who used the cores while it ran."""

from __future__ import annotations

import os
import resource
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> tuple[str, list[int]]:
    text = Path(f"/proc/{pid}/stat").read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    rest = text[text.rindex(")") + 2 :].split()
    return comm, [int(v) for v in rest[11:15]]  # utime, stime, cutime, cstime


def proc_cpu(pid: int) -> float:
    _, (utime, stime, _cu, _cs) = _stat(pid)
    return (utime + stime) / CLK_TCK


def workers_cpu(pid: int) -> float:
    """A prefork server's CPU: its supervisor's and its live workers' (its direct children; what a
    worker starts, such as a process-runtime sandbox, is a grandchild and not counted)."""
    total = proc_cpu(pid)
    with suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with suppress(OSError):
                total += proc_cpu(int(child))
    return total


def postgres_cpu() -> float:
    """Every postgres process's CPU, plus what exited backends left in their parent's cutime/cstime."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            comm, ticks = _stat(entry.name)
            if comm == "postgres":
                total += sum(ticks)
    return total / CLK_TCK


def busy_cpu() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Cpu:
    """CPU seconds spent during one measured run, by whom."""

    wall: float
    server: float
    postgres: float
    loader: float
    busy: float

    @property
    def other(self) -> float:
        return max(0.0, self.busy - self.server - self.postgres - self.loader)


def cpu_snapshot(server_pid: int) -> tuple[float, ...]:
    return time.perf_counter(), proc_cpu(server_pid), postgres_cpu(), children_cpu(), busy_cpu()


def cpu_since(before: tuple[float, ...], server_pid: int) -> Cpu:
    after = cpu_snapshot(server_pid)
    return Cpu(*(b - a for a, b in zip(before, after, strict=True)))
