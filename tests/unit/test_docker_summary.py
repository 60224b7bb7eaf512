"""A Docker container as a listing summarises it (``summary_status``) reads as its inspection does
(``workload_view``) in every state the engine names, the exit code taken from the summary's text; a
container being removed or dead shows none there (its inspection keeps its last one)."""

from __future__ import annotations

from typing import Any

import pytest

from tesserra_adapters.runtime.docker_config import MANAGED, OWNER, TENANT
from tesserra_adapters.runtime.docker_inspection import summary_status, workload_view
from tesserra_core.ports.runtime import WorkloadState, WorkloadStatus

LABELS = {MANAGED: "1", OWNER: "sandbox:s1", TENANT: "t1"}


def _inspection(status: str, exit_code: int) -> dict[str, Any]:
    return {
        "Id": "c1",
        "Name": "/tesserra-c1",
        "Config": {"Labels": LABELS, "Image": "busybox"},
        "State": {"Status": status, "ExitCode": exit_code, "StartedAt": "2026-01-01T00:00:00Z"},
        "NetworkSettings": {},
    }


def _summary(state: str, text: str) -> dict[str, Any]:
    return {"Id": "c1", "Names": ["/tesserra-c1"], "Labels": LABELS, "State": state, "Status": text}


@pytest.mark.parametrize(
    ("state", "text", "exit_code"),
    [
        ("created", "Created", 0),
        ("running", "Up 3 seconds", 0),
        ("paused", "Up 3 seconds (Paused)", 0),
        ("restarting", "Restarting (1) 2 seconds ago", 1),
        ("exited", "Exited (137) 3 seconds ago", 137),
        ("exited", "Exited (0) About a minute ago", 0),
    ],
)
def test_a_summary_reads_as_the_inspection(state: str, text: str, exit_code: int) -> None:
    assert summary_status(_summary(state, text)) == WorkloadStatus.of(workload_view(_inspection(state, exit_code)))


@pytest.mark.parametrize(("state", "text"), [("removing", "Removal In Progress"), ("dead", "Dead")])
def test_a_container_on_its_way_out_shows_no_exit_code(state: str, text: str) -> None:
    assert summary_status(_summary(state, text)) == WorkloadStatus(
        owner="sandbox:s1", state=WorkloadState.EXITED, tenant_id="t1"
    )
    assert workload_view(_inspection(state, 137)).exit_code == 137
