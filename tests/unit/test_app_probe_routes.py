"""The app factory finds the GET handler of each probe path (``/health``, ``/ready``) to label the
probes' requests with; an app lacking one fails to build with a RuntimeError naming it, even under
``python -O`` (where an assert would let it start with no route for the probe)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from litestar import Litestar, get, post

from tesserra_http.app import _get_handlers
from tesserra_http.probes import Probes


@get("/health", sync_to_thread=False)
def health() -> str:
    return "live"


@get("/ready", sync_to_thread=False)
def ready() -> str:
    return "ready"


@post("/ready", sync_to_thread=False)
def ready_by_post() -> str:
    return "not a probe"


def test_each_probe_path_has_its_get_handler() -> None:
    found = _get_handlers(Litestar(route_handlers=[health, ready, ready_by_post]), Probes.PATHS)
    assert {path: handler.fn for path, handler in found.items()} == {"/health": health.fn, "/ready": ready.fn}


def test_an_app_lacking_a_probes_get_route_fails_to_build_naming_it() -> None:
    with pytest.raises(RuntimeError, match=r"no GET route for /ready$"):
        _get_handlers(Litestar(route_handlers=[health]), Probes.PATHS)
    with pytest.raises(RuntimeError, match=r"no GET route for /ready$"):  # a POST is no probe's route
        _get_handlers(Litestar(route_handlers=[health, ready_by_post]), Probes.PATHS)


def test_the_check_holds_under_python_dash_o() -> None:
    script = (
        "from litestar import Litestar\n"
        "from tesserra_http.app import _get_handlers\n"
        "from tesserra_http.probes import Probes\n"
        "try:\n"
        "    _get_handlers(Litestar(route_handlers=[]), Probes.PATHS)\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    ran = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert ran.stdout.strip() == "the app has no GET route for /health, /ready"
