"""The agent loop's own overhead per step, model time excluded (issue 13's figure: < 5 ms p50).

In process, on the memory adapters, with the scripted provider: each answer is ``--steps`` model steps
that each ask for list_projects (run as the user through the use case, three projects) and a last step
that answers. The provider is wrapped in a clock that counts the time spent inside it, which is
subtracted; what is left is the loop (building turns, assembling events, checking and running the tool,
capping and feeding back results) divided by the steps. Then the same through SendMessage (storing
the user's message and the answer). Prints PASS or MISS per target.

    PYTHONPATH=src python -m bench.agents [--answers 300] [--steps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from pathlib import Path

import msgspec
from bench.harness import say

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.memory.models import ScriptedModel, call
from tesserra_adapters.memory.models import say as answer_with
from tesserra_adapters.settings import Settings
from tesserra_core.domain.agents import AgentLimits, agent_catalog
from tesserra_core.ports.models import ChatMessage, ChatTurn, ModelEvent
from tesserra_core.usecases.conversations import NewConversation, NewMessage
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.sessions import Credentials

TARGET_MS = 5.0
EMAIL, PASSWORD = "bench@tesserra.local", "bench-password-1"


class TimedModel:
    """The scripted provider, and the seconds spent inside it."""

    def __init__(self, inner: ScriptedModel) -> None:
        self.inner = inner
        self.seconds = 0.0

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ModelEvent]:
        events = self.inner.stream(turn)
        while True:
            started = time.perf_counter()
            try:
                event = await anext(events)
            except StopAsyncIteration:
                self.seconds += time.perf_counter() - started
                return
            self.seconds += time.perf_counter() - started
            yield event


def _pcts(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):.3f} ms, p95 {p95:.3f} ms"


async def main(args: argparse.Namespace) -> int:
    scripted = ScriptedModel()
    model = TimedModel(scripted)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="tesserra-bench-agents-")), secret_key="b" * 48)
    settings = msgspec.structs.replace(settings, rate_limit_scale=1_000_000.0)
    steps: int = args.steps
    script = [*(call("list_projects", {}) for _ in range(steps)), answer_with("done")]
    async with AsyncExitStack() as stack:
        uc = await build(memory_ports(settings, stack, models=model), settings)
        await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
        actor = await uc.authenticate((await uc.sessions.login(Credentials(EMAIL, PASSWORD))).access_token)
        for n in range(3):
            await uc.projects.create(actor, NewProject(name=f"bench-{n}"))
        agent = msgspec.structs.replace(
            agent_catalog().agent("ops-assistant"), limits=AgentLimits(max_steps=steps + 1, max_tool_calls=steps)
        )
        loop = uc.conversations.send.post.loop
        history = [ChatMessage(role="user", content="Quais projetos temos?")]

        async def per_step(run: Awaitable[object]) -> float:
            scripted.script(*script)
            model.seconds = 0.0
            started = time.perf_counter()
            await run
            return (time.perf_counter() - started - model.seconds) * 1000 / (steps + 1)

        scripted.script(*script)
        checked = await loop.answer(actor, agent, history)
        assert [r.outcome for r in checked.tool_calls] == ["ok"] * steps, checked.tool_calls
        assert '"bench-0"' in checked.tool_calls[0].result, "list_projects should see the three projects"
        for _ in range(20):  # warm-up
            await per_step(loop.answer(actor, agent, history))
        loop_ms = [await per_step(loop.answer(actor, agent, history)) for _ in range(args.answers)]

        conversation = (await uc.conversations.start(actor, NewConversation(agent_id="ops-assistant"))).id
        message = NewMessage(content="Quais projetos temos?")
        send_ms = [
            await per_step(uc.conversations.send(actor, conversation, message)) for _ in range(args.answers // 3)
        ]
    say(f"agent loop, {steps} tool steps + 1 answer, {args.answers} answers: per step {_pcts(loop_ms)}")
    say(f"SendMessage (stores both messages), {args.answers // 3} answers: per step {_pcts(send_ms)}")
    passed = statistics.median(loop_ms) < TARGET_MS
    verdict = "PASS" if passed else "MISS"
    say(f"{verdict}  loop overhead per step p50 < {TARGET_MS:g} ms   {statistics.median(loop_ms):.3f} ms")
    return 0 if passed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Agent loop overhead benchmark (see bench/README.md)")
    parser.add_argument("--answers", type=int, default=300)
    parser.add_argument("--steps", type=int, default=5)
    misses = asyncio.run(main(parser.parse_args()))
    say(f"{misses} target(s) missed")
