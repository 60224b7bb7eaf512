"""schemathesis, with every check, over every operation of /openapi.json on the real server: a client
generated from the document never sends what the server refuses, and the server answers what the
document says (status codes, content types, bodies). The run is bounded (a few examples per operation,
deterministic) and any finding fails the test."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tesserra_core.domain.identity import Scope, Tier
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials
from tests import support

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ADMIN_EMAIL, ADMIN_PASSWORD = "root@tesserra.test", "root-password-1"
TIME_LIMIT = 600.0


async def test_every_operation_conforms_to_the_openapi_document(tmp_path: Path) -> None:
    # Rate limits are scaled out of the way: the run sends hundreds of requests with one key.
    async with (
        support.database_url("sqlite", tmp_path) as url,
        support.live_server(support.test_settings(tmp_path, url, rate_limit_scale=1000.0)) as server,
    ):
        uc = server.uc
        assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        admin = await uc.authenticate(
            (await uc.sessions.login(Credentials(email=ADMIN_EMAIL, password=ADMIN_PASSWORD))).access_token
        )
        key = await uc.api_keys.generate(admin, NewApiKey(name="schemathesis", scopes=list(Scope), tier=Tier.ADMIN))
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {key.key}",
            "--report",
            "junit",
            "--report-junit-path",
            str(tmp_path / "schemathesis.xml"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT)
    report = output.decode(errors="replace")
    assert process.returncode == 0, _readable(report)


def _readable(report: str) -> str:
    """The report with each line cut to 400 characters: one generated URL can fill any tail."""
    return "\n".join(line if len(line) <= 400 else f"{line[:400]}…" for line in report.splitlines())[-30_000:]
