"""A real `tesserra serve` killed (SIGKILL) while it streams an answer: the next server to start marks the
answer interrupted with the text it had streamed, and closes its event stream, instead of leaving it
"streaming" forever."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx

import tesserra_core
from tesserra_adapters.memory.models import call, say
from tests.cli.served import serving
from tests.servers.scripted_model import Forever, scripted_model
from tests.support import eventually

EMAIL = "boss@tesserra.test"
PASSWORD = "crash-password-1"


async def _bearer(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _events(body: bytes) -> list[tuple[str, Any]]:
    frames = [f.split("\n") for f in body.decode().split("\n\n") if f]
    return [(lines[1][7:], json.loads(lines[2][6:])) for lines in frames if len(lines) == 3]


async def test_an_answer_cut_by_a_killed_server_is_interrupted_after_the_next_start(tmp_path: Path) -> None:
    async with scripted_model() as model:
        model.script(then=[Forever("tic ", every=0.05)])
        env = {
            "TESSERRA_MODEL_BASE_URL": model.url,
            "TESSERRA_MODEL": "tiny-chat",
            "TESSERRA_BOOTSTRAP_EMAIL": EMAIL,
            "TESSERRA_BOOTSTRAP_PASSWORD": PASSWORD,
            # the code under test, even where the installed package is another checkout
            "PYTHONPATH": str(Path(tesserra_core.__file__).parents[1]),
        }
        async with serving(tmp_path, **env) as first, httpx.AsyncClient(base_url=first.url, timeout=30) as http:
            auth = await _bearer(http)
            started = await http.post("/api/conversas", json={"agent_id": "ops-assistant"}, headers=auth)
            conversation = started.json()["id"]
            url = f"/api/conversas/{conversation}/mensagens"
            seen = b""
            headers = {**auth, "Accept": "text/event-stream"}
            async with http.stream("POST", url, json={"content": "conta"}, headers=headers) as response:
                async for chunk in response.aiter_raw():
                    seen += chunk
                    if seen.count(b"event: text_delta") >= 3:
                        break
                os.killpg(first.process.pid, signal.SIGKILL)
                first.process.wait(10)
        await eventually(lambda: _closed(model.closed), within=10)

        async with serving(tmp_path, **env) as second, httpx.AsyncClient(base_url=second.url, timeout=30) as http:
            auth = await _bearer(http)
            listed = (await http.get(url, headers=auth)).json()["items"]
            assert [(m["role"], m["status"]) for m in listed] == [("user", "complete"), ("assistant", "interrupted")]
            answer = listed[1]
            assert answer["error_code"] == "interrupted"
            seen_text = "".join(d["text"] for name, d in _events(seen.rpartition(b"\n\n")[0]) if name == "text_delta")
            assert seen_text.startswith("tic tic ")
            assert answer["content"].startswith(seen_text)  # the server may have stored more than the client read
            replay = (await http.get(f"{url}/{answer['id']}/eventos", headers=auth)).content
            assert replay.startswith(seen.rpartition(b"\n\n")[0])
            events = _events(replay)
            assert [name for name, _ in events[-2:]] == ["error", "done"]
            assert events[-1][1]["status"] == "interrupted"
            assert events[-1][1]["content"] == answer["content"]


async def _closed(closed: list[float]) -> bool | None:
    return True if closed else None


async def test_a_killed_server_leaves_a_waiting_approval_cancelled_and_never_runs_the_call(tmp_path: Path) -> None:
    """Approvals are stored, but an answer is not resumed by another process: the next start marks the
    waiting answer interrupted and its approval cancelled (a decision after that is 409), and the
    destructive call never runs."""
    async with scripted_model() as model:
        env = {
            "TESSERRA_MODEL_BASE_URL": model.url,
            "TESSERRA_MODEL": "tiny-chat",
            "TESSERRA_BOOTSTRAP_EMAIL": EMAIL,
            "TESSERRA_BOOTSTRAP_PASSWORD": PASSWORD,
            "PYTHONPATH": str(Path(tesserra_core.__file__).parents[1]),
        }
        async with serving(tmp_path, **env) as first, httpx.AsyncClient(base_url=first.url, timeout=30) as http:
            auth = await _bearer(http)
            project = (await http.post("/api/projetos", json={"name": "fica"}, headers=auth)).json()["id"]
            model.script(call("delete_project", {"project_id": project}), say("Apagado."))
            started = await http.post("/api/conversas", json={"agent_id": "ops-assistant"}, headers=auth)
            url = f"/api/conversas/{started.json()['id']}/mensagens"
            seen = b""
            headers = {**auth, "Accept": "text/event-stream"}
            async with http.stream("POST", url, json={"content": "apaga"}, headers=headers) as response:
                async for chunk in response.aiter_raw():
                    seen += chunk
                    if b"event: approval_required" in seen and seen.endswith(b"\n\n"):
                        break
                os.killpg(first.process.pid, signal.SIGKILL)
                first.process.wait(10)
        events = _events(seen)
        answer_id = events[0][1]["message_id"]
        approval = next(data for name, data in events if name == "approval_required")

        async with serving(tmp_path, **env) as second, httpx.AsyncClient(base_url=second.url, timeout=30) as http:
            auth = await _bearer(http)
            listed = (await http.get(url, headers=auth)).json()["items"]
            assert [(m["role"], m["status"]) for m in listed] == [("user", "complete"), ("assistant", "interrupted")]
            decided = await http.post(
                f"{url}/{answer_id}/aprovacoes/{approval['approval_id']}", json={"decision": "approve"}, headers=auth
            )
            assert decided.status_code == 409, decided.text
            assert decided.json()["code"] == "approval_decided"
            assert "cancelled" in decided.json()["detail"]
            assert (await http.get(f"/api/projetos/{project}", headers=auth)).status_code == 200
            replay = _events((await http.get(f"{url}/{answer_id}/eventos", headers=auth)).content)
            assert [name for name, _ in replay[-2:]] == ["error", "done"]
            assert len(model.requests) == 1
