"""How a catalog package runs on a runtime: the package resolver.

- pypi on the process runtime: the package's console script, found first in the configured script
  directories (``TESSERRA_TOOL_SCRIPT_DIRS``, e.g. a virtualenv that already holds it), else from a
  virtualenv this resolver prepares once per package version under ``<data_dir>/packages/`` (pip
  install into it; later installs reuse it);
- pypi on Docker: the configured Python image (``TESSERRA_TOOL_PYTHON_IMAGE``, whose ``/opt/mcp``
  virtualenv holds the servers) running ``/opt/mcp/bin/<script>`` through a loader that reads the
  secret settings from stdin (``SECRETS_FROM_STDIN``);
- oci on Docker: the image itself, ``identifier:version``, in its own working directory (the
  workspace is mounted at ``/workspace`` all the same);
- npm on the process runtime: ``npx -y identifier@version`` when ``npx`` is installed.

Anything else answers ``Unprocessable`` naming why.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

from tesserra_core.domain.tools import Package
from tesserra_core.errors import Unprocessable
from tesserra_core.ports.tools import LaunchPlan

SECRETS_FROM_STDIN = """\
import json, os, sys
line = b""
while not line.endswith(b"\\n"):
    byte = os.read(0, 1)  # one byte at a time: what follows the line is the MCP session's
    if not byte:
        sys.exit("no settings line on stdin")
    line += byte
os.environ.update(json.loads(line))
os.execv(sys.argv[1], sys.argv[1:])
"""
"""Run by the Python image's interpreter before the server (``python -c ... <script>``): the secret
settings arrive on stdin's first line (``LaunchPlan.secrets_on_stdin``), so ``docker inspect`` never
shows them; then it becomes the server, whose stdin carries on with MCP."""

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def script_name(package: Package) -> str:
    name = package.command or package.identifier
    if not _SAFE.match(name):
        raise Unprocessable(f"{name!r} is not a runnable command name", code="not_installable")
    return name


class LocalPackages:
    def __init__(
        self,
        data_dir: Path,
        script_dirs: tuple[str, ...] = (),
        python_image: str = "tesserra-test/python-mcp:latest",
        *,
        python: str = sys.executable,
        install_timeout: float = 600.0,
    ) -> None:
        self._root = data_dir / "packages"
        self._script_dirs = tuple(Path(d) for d in script_dirs)
        self._python_image = python_image
        self._python = python
        self._install_timeout = install_timeout
        self._locks: dict[str, asyncio.Lock] = {}

    async def plan(self, package: Package, runtime: str) -> LaunchPlan:
        if runtime == "docker":
            return self._image_plan(package)
        if package.registry_type == "pypi":
            return LaunchPlan(command=(await self._pypi_script(package),), env={"PYTHONUNBUFFERED": "1"})
        if package.registry_type == "npm":
            npx = shutil.which("npx")
            if npx is None:
                raise Unprocessable("npm packages need npx on this host", code="not_installable")
            return LaunchPlan(command=(npx, "-y", f"{package.identifier}@{package.version}"))
        raise Unprocessable("image (oci) packages need the Docker runtime", code="not_installable")

    def _image_plan(self, package: Package) -> LaunchPlan:
        if package.registry_type == "oci":
            image = (
                package.identifier
                if ":" in package.identifier.rsplit("/", 1)[-1]
                else (f"{package.identifier}:{package.version}")
            )
            return LaunchPlan(command=(), image=image, in_workspace=False)
        if package.registry_type == "pypi":
            script = f"/opt/mcp/bin/{script_name(package)}"
            return LaunchPlan(
                command=("/opt/mcp/bin/python", "-c", SECRETS_FROM_STDIN, script),
                image=self._python_image,
                secrets_on_stdin=True,
            )
        raise Unprocessable("npm packages do not run on the Docker runtime here", code="not_installable")

    async def _pypi_script(self, package: Package) -> str:
        script = script_name(package)
        for directory in self._script_dirs:
            candidate = directory / script
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        if not _SAFE.match(package.identifier) or not re.match(r"^[A-Za-z0-9.+!-]{1,64}$", package.version):
            raise Unprocessable("the package's name or version is not installable", code="not_installable")
        venv = self._root / "pypi" / f"{package.identifier}-{package.version}"
        target = venv / "bin" / script
        lock = self._locks.setdefault(str(venv), asyncio.Lock())
        async with lock:
            if not (venv / ".ready").exists():
                await self._prepare(venv, f"{package.identifier}=={package.version}")
        if not target.is_file():
            raise Unprocessable(f"the package installs no command {script!r}", code="not_installable")
        return str(target)

    async def _prepare(self, venv: Path, requirement: str) -> None:
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        pip = venv / "bin" / "pip"
        for argv in ((self._python, "-m", "venv", str(venv)), (str(pip), "install", "-q", requirement)):
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), self._install_timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise Unprocessable(f"installing {requirement} took too long", code="package_install_failed") from None
            if proc.returncode != 0:
                last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise Unprocessable(f"installing {requirement} failed: {last[0][:300]}", code="package_install_failed")
        (venv / ".ready").write_text("ok\n")
