"""A real Prometheus (Debian ``prometheus``) for the tests: started on a loopback port with a
configuration the test writes, asked back over its HTTP API (``/api/v1/query``) until an answer
holds or a bounded wait ends, stopped at the end of the block.

Requirements: the ``prometheus`` binary (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, missing

Result = list[dict[str, Any]]
"""An instant query's ``data.result``: ``[{"metric": {label: value}, "value": [time, "number"]}, ...]``."""


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        missing("Prometheus", "install the Debian package `prometheus` (.ci/run does)")
        raise AssertionError  # not reached
    return binary


def by_label(result: Result, label: str) -> dict[str, float]:
    """``{value of label: number}`` of a query's result."""
    return {row["metric"].get(label, ""): float(row["value"][1]) for row in result}


class _NotReady(Exception):
    pass


@dataclass
class Prometheus:
    port: int
    log: Path
    http: httpx.AsyncClient

    async def query(self, promql: str) -> Result:
        answer = await self.http.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql})
        if answer.status_code == 503:  # still starting
            raise _NotReady
        assert answer.status_code == 200, answer.text
        result: Result = answer.json()["data"]["result"]
        return result

    async def until(self, promql: str, holds: Callable[[Result], bool], *, within: float = 60.0) -> Result:
        """The first answer to ``promql`` that ``holds``, asked every 0.25 s for ``within`` seconds."""
        deadline = time.monotonic() + within
        last: Result | None = None
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError, _NotReady):
                last = await self.query(promql)
                if holds(last):
                    return last
            await asyncio.sleep(0.25)
        pytest.fail(f"Prometheus never answered as wanted to {promql} (last: {last}):\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _start(binary: str, tmp: Path, config: str, port: int) -> subprocess.Popen[bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "prometheus.yml").write_text(config)
    with (tmp / "prometheus.log").open("wb") as out:
        return subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@asynccontextmanager
async def prometheus(tmp: Path, config: str) -> AsyncIterator[Prometheus]:
    """Prometheus with ``config`` (its YAML) on a free loopback port, its data and log under ``tmp``."""
    port = free_port()
    process = _start(prometheus_binary(), tmp, config, port)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            yield Prometheus(port, tmp / "prometheus.log", http)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
