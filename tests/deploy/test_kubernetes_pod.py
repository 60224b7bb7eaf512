"""What the pods of deploy/kubernetes/ run, run here as processes: the migration Job's command, then the
Deployment's, each with the environment its manifest gives it (the ConfigMap, the literal values, the
example Secret), pointed at the real PostgreSQL and Redis; the probes' paths answer, /metrics answers
the Secret's token, and SIGTERM ends the server within the pod's terminationGracePeriodSeconds.

Not what a cluster adds: no image, no read-only root, no kubelet (the address is loopback, not the
pod's 0.0.0.0)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.served import TESSERRA, Server, healthy, serve_env, stop
from tests.deploy.test_kubernetes import APP, MIGRATE, SECRET
from tests.support import REDIS_URL, free_port, postgres_database

pytestmark = pytest.mark.postgres


def _pod_env(container: dict[str, Any], **local: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env (which wins)."""
    env: dict[str, str] = {}
    if container.get("envFrom"):
        env |= APP["ConfigMap/tesserra-config"]["data"]
    secret = SECRET["stringData"]
    fields = {"status.podIP": "127.0.0.1", "metadata.uid": "pod-uid-1"}
    for entry in container["env"]:
        if "value" in entry:  # $(NAME) names a variable defined before it
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"])
        elif "fieldRef" in entry["valueFrom"]:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        elif entry["valueFrom"]["secretKeyRef"]["key"] in secret:
            env[entry["name"]] = secret[entry["valueFrom"]["secretKeyRef"]["key"]]
    return env | local


def _command(container: dict[str, Any]) -> list[str]:
    command = list(container["command"])
    assert command[0] == "tesserra"
    return [TESSERRA, *command[1:]]


def _start(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Server:
    """The server's process in a session of its own (so ``stop`` ends its group), its stderr logged."""
    log = cwd / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return Server(process, port, log)


async def test_the_job_then_the_deployment_run_with_their_manifests_environment(tmp_path: Path) -> None:
    (job,) = MIGRATE["Job/tesserra-migrate"]["spec"]["template"]["spec"]["containers"]
    pod = APP["Deployment/tesserra"]["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    port = free_port()
    async with postgres_database() as database:
        local = {"TESSERRA_DATABASE_URL": database, "TESSERRA_REDIS_URL": REDIS_URL}
        base = {k: v for k, v in serve_env(tmp_path).items() if not k.startswith("TESSERRA_")}
        migrated = subprocess.run(  # noqa: ASYNC221 - the Job runs to completion before the server starts
            _command(job),
            env=base | _pod_env(job, **local),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr

        env = _pod_env(
            server,
            **local,
            TESSERRA_HOST="127.0.0.1",
            TESSERRA_PORT=str(port),
            TESSERRA_DATA_DIR=str(tmp_path / "data"),
            TESSERRA_BOOTSTRAP_PASSWORD="kubernetes-password-1",
        )
        running = _start(_command(server), base | env, tmp_path, port)
        process, log = running.process, running.log
        try:
            await healthy(running, within=60)
            async with httpx.AsyncClient(base_url=running.url, timeout=5) as http:
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    path = server[probe]["httpGet"]["path"]
                    assert (await http.get(path)).status_code == 200, probe
                token = SECRET["stringData"]["metrics-token"]
                scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                assert scraped.status_code == 200, scraped.text
                assert "# TYPE" in scraped.text
                assert (await http.get("/metrics")).status_code == 401

                signalled = time.monotonic()
                os.kill(process.pid, signal.SIGTERM)  # what the kubelet sends first
                # while it drains it still accepts (TESSERRA_DRAIN_DELAY), answering /ready with 503
                delay = float(env["TESSERRA_DRAIN_DELAY"])
                while (await http.get("/ready")).status_code != 503:
                    assert time.monotonic() - signalled < delay, "/ready still 200 at the end of the drain delay"
                    await asyncio.sleep(0.05)
            grace = pod["terminationGracePeriodSeconds"]
            code = await asyncio.to_thread(process.wait, grace)
            assert code == 0, log.read_text()
            assert time.monotonic() - signalled < grace
        finally:
            stop(running)
