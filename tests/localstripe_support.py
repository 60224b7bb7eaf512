"""localstripe (a Stripe-compatible server, PyPI) on 127.0.0.1, as a subprocess of its own virtualenv.

Its dependencies (aiohttp) live apart from ours: the interpreter is TESSERRA_TEST_LOCALSTRIPE_PYTHON,
or ``.venv-localstripe/bin/python`` in the repository (``.ci/run`` creates it). Its CLI binds every
interface and keeps state in /tmp/localstripe.pickle, so it is started here bound to loopback, from
scratch, with the on-disk copy switched off.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.support import free_port, missing

ROOT = Path(__file__).resolve().parent.parent
_LAUNCH = """
import sys
import aiohttp.web
import localstripe.resources as resources
resources.Store.dump_to_disk = lambda self: None
from localstripe.server import app
aiohttp.web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def localstripe_python() -> str | None:
    candidate = os.environ.get("TESSERRA_TEST_LOCALSTRIPE_PYTHON") or str(ROOT / ".venv-localstripe" / "bin" / "python")
    if not Path(candidate).exists():
        return None
    probe = subprocess.run([candidate, "-c", "import localstripe"], capture_output=True, check=False)
    return candidate if probe.returncode == 0 else None


@asynccontextmanager
async def localstripe() -> AsyncIterator[str]:
    """The base URL of a fresh localstripe, stopped afterwards."""
    python = localstripe_python()
    if python is None:
        missing(
            "localstripe",
            "python3 -m venv .venv-localstripe && .venv-localstripe/bin/pip install localstripe "
            "(or set TESSERRA_TEST_LOCALSTRIPE_PYTHON)",
        )
        raise AssertionError("unreachable")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        python, "-c", _LAUNCH, str(port), stdout=asyncio.subprocess.DEVNULL, stderr=sys.stderr
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                if proc.returncode is not None:
                    raise RuntimeError(f"localstripe exited with {proc.returncode}")
                try:
                    await client.get(f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_local"})
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("localstripe did not start within 10 s")
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
