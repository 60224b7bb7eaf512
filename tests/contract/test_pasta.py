"""Which pasta the process runtime uses: its version read from ``pasta --version`` (which passt 2025
prints only to a terminal), whether it streams large transfers, and the /status probe that says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesserra_adapters.probes import SandboxProbe
from tesserra_adapters.runtime.sandbox import Sandbox, pasta_streams, pasta_version
from tesserra_core.ports.health import Health
from tests import support


@pytest.mark.parametrize(
    ("version", "streams"),
    [
        ("pasta 0.0~git20250503.587980c-2+deb13u1", True),
        ("pasta 0.0~git20251215.b40f5cd", True),
        ("pasta 0.0~git20230309.7c7625d-1", False),
        ("pasta unknown version", False),  # Debian 12's build
        (None, False),
    ],
)
def test_only_passt_2025_05_03_and_later_count_as_streaming(version: str | None, streams: bool) -> None:
    assert pasta_streams(version) is streams


def test_the_version_is_read_even_when_pasta_does_not_flush_a_pipe(tmp_path: Path) -> None:
    # as passt 2025 does: stdio, then _exit() without a flush unless the output is a terminal
    fake = tmp_path / "pasta"
    fake.write_text(
        "#!/usr/bin/python3\nimport os, sys\n"
        "sys.stdout.write('pasta 0.0~git20250503.587980c\\nCopyright Red Hat\\n')\n"
        "os._exit(0) if not sys.stdout.isatty() else (sys.stdout.flush(), os._exit(0))\n"
    )
    fake.chmod(0o755)
    assert pasta_version(str(fake)) == "pasta 0.0~git20250503.587980c"
    assert pasta_version(str(tmp_path / "missing")) is None


async def test_the_probe_names_the_pasta_or_why_workloads_are_refused() -> None:
    refused = await SandboxProbe(Sandbox(bwrap="/nonexistent/bwrap")).check()
    assert refused.status is Health.DEGRADED
    assert "process workloads are refused" in refused.detail
    assert "/nonexistent/bwrap" in refused.detail
    sandbox = Sandbox()
    if sandbox.problem is not None:
        support.missing("the process sandbox", sandbox.problem)
    found = await SandboxProbe(sandbox).check()
    assert found.status is Health.OK
    version = pasta_version(sandbox.pasta)
    assert version is not None
    assert found.detail.startswith(f"bubblewrap; {version} ({sandbox.pasta})")
    assert ("large transfers may stall" in found.detail) is not pasta_streams(version)
