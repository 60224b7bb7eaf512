"""A real model for the tests: llama-cpp-python's OpenAI-compatible server on SmolLM2-135M-Instruct, in a
virtualenv of its own (llama-cpp-python stays out of the project's lock and venv).

``nox -s tests`` starts scripts/build-model-env.sh in the background (niceness 19) as the session starts,
so the compile overlaps the rest of the suite, and tells the tests where with TESSERRA_TEST_MODEL_VENV. The
build writes ``VENV.rc`` (its exit code) when it ends and logs to ``VENV.log``. The real-model tests run
last (tests/conftest.py moves them) and wait here for that file, at most TESSERRA_TEST_MODEL_WAIT seconds
(1800 by default): a failed build or a build still running then fails them with the log's tail. With no
build at all (pytest run by hand without it) they skip, or fail under TESSERRA_TEST_REQUIRE_ALL=1 or CI=true.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import REQUIRE_ALL, free_port

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("llama_launcher.py")
MODEL_VENV = Path(os.environ.get("TESSERRA_TEST_MODEL_VENV") or ROOT / ".nox" / "model")
WAIT = float(os.environ.get("TESSERRA_TEST_MODEL_WAIT", "1800"))
MUST_RUN = REQUIRE_ALL or os.environ.get("CI") == "true"
HOW = f"run `nox -s tests`, or scripts/build-model-env.sh {MODEL_VENV} > {MODEL_VENV}.log 2>&1"


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


def _state(venv: Path) -> tuple[str | None, bool, bool]:
    """(the build's exit code if it ended, whether a build was started, whether the venv is built)."""
    rc, log = Path(f"{venv}.rc"), Path(f"{venv}.log")
    code = rc.read_text().strip() if rc.exists() else None
    return code, rc.exists() or log.exists(), (venv / "pins").exists() and (venv / "bin" / "python").exists()


async def model_python() -> Path:
    """The model virtualenv's Python, once its build has ended well; waits for a build under way."""
    venv, log = MODEL_VENV, Path(f"{MODEL_VENV}.log")
    code, started, built = _state(venv)
    if not started:
        if built:
            return venv / "bin" / "python"
        message = f"the real model's virtualenv is not built: {HOW}"
        if MUST_RUN:
            pytest.fail(message)
        pytest.skip(message)
    deadline = time.monotonic() + WAIT
    while code is None:
        if time.monotonic() > deadline:
            pytest.fail(f"the real model's build did not end within {WAIT:.0f} s; {log}:\n{_tail(log)}")
        await asyncio.sleep(2)
        code, _, _ = _state(venv)
    if code != "0":
        pytest.fail(f"the real model's build failed (exit {code}); {log}:\n{_tail(log)}")
    return venv / "bin" / "python"


@asynccontextmanager
async def llama_server(python: Path, tmp: Path) -> AsyncIterator[str]:
    """The server on a loopback port, its model loaded: yields its base URL (``.../v1``)."""
    port = free_port()
    log = tmp / "llama-server.log"
    args = [str(python), str(LAUNCHER), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--chat_format", "chatml-function-calling", "--n_threads", "1", "--n_threads_batch", "1"]
    args += ["--n_ctx", "4096"]
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=out, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            deadline = time.monotonic() + 300
            while True:
                if process.returncode is not None:
                    pytest.fail(f"the llama server exited ({process.returncode}):\n{_tail(log)}")
                try:
                    if (await client.get(f"{url}/models")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the llama server did not answer within 300 s:\n{_tail(log)}")
                await asyncio.sleep(0.5)
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        if process.returncode not in (0, -signal.SIGTERM):
            sys.stderr.write(_tail(log))
