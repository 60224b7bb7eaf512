"""``--profile``: py-spy on ``tesserra serve`` during each Tesserra scenario, summarized as self time
by layer, the top functions by self time, and Tesserra's own functions by inclusive time."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def start_profile(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy, sampling the thread that holds the GIL (so: where the server's Python CPU goes)."""
    cmd = [
        py_spy() or "py-spy",
        "record",
        "-p",
        str(pid),
        "-d",
        str(max(1, round(seconds))),
        "-r",
        "200",
        "-f",
        "raw",
        "-o",
        str(out),
        "--gil",
        "--nonblocking",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_LAYERS = (
    ("driver: asyncpg / aiosqlite (incl. socket and thread I/O)", ("asyncpg/", "aiosqlite/", "sqlite3/")),
    ("SQLAlchemy Core + greenlet bridge", ("sqlalchemy/", "greenlet")),
    ("tesserra_adapters", ("tesserra_adapters/",)),
    ("tesserra_core", ("tesserra_core/",)),
    ("tesserra_http (middlewares, controllers)", ("tesserra_http/",)),
    ("Litestar + anyio + msgspec", ("litestar/", "anyio/", "msgspec/")),
    ("uvicorn + httptools + event loop", ("uvicorn/", "asyncio/", "httptools", "uvloop")),
)

_OWN = (
    "tesserra_core/",
    "tesserra_adapters/",
    "tesserra_http/guard",
    "tesserra_http/context",
    "KwargsModel.resolve_dependencies",
    "Engine.connect",
    "AsyncConnection.start",
    "AsyncConnection.close",
    "encode_json",
)
_SKIP = ("tesserra_http/cli",)


@dataclass
class _Samples:
    total: int = 0
    layers: dict[str, int] = field(default_factory=dict)
    own: dict[str, int] = field(default_factory=dict)
    inclusive: dict[str, int] = field(default_factory=dict)

    def add(self, stack: str, n: int) -> None:
        self.total += n
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f for f in stack.split(";")]
        leaf = frames[-1]
        layer = next((name for name, keys in _LAYERS if any(k in leaf for k in keys)), "other")
        self.layers[layer] = self.layers.get(layer, 0) + n
        self.own[leaf] = self.own.get(leaf, 0) + n
        for frame in set(frames):
            if any(k in frame for k in _OWN) and not any(k in frame for k in _SKIP):
                self.inclusive[frame] = self.inclusive.get(frame, 0) + n

    def pct(self, items: dict[str, int], limit: int) -> list[str]:
        return [f"  {n / self.total:6.1%}  {f}" for f, n in sorted(items.items(), key=lambda kv: -kv[1])[:limit]]


def summarize_profile(raw: Path, top: int = 10) -> list[str]:
    """From py-spy's raw output: self time by layer, the top functions by self time, and Tesserra's
    own functions (use cases, repositories, unit of work, guard) by inclusive time."""
    if not raw.exists():
        return ["(py-spy wrote nothing: is ptrace allowed?)"]
    samples = _Samples()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples.add(stack, int(count))
    if not samples.total:
        return ["(no samples)"]
    return [
        f"{samples.total} samples; self time by layer:",
        *samples.pct(samples.layers, len(samples.layers)),
        "top functions by self time:",
        *samples.pct(samples.own, top),
        "Tesserra and hot library entry points, inclusive:",
        *samples.pct(samples.inclusive, 2 * top),
    ]
