"""Where the proxy forwards a sandbox's traffic when another node runs its workload (issue 15): to the
address and ports that node recorded, when it runs on this machine (the same boot id); on another
machine (or one unknown), to that node's own advertised address (a node hop), never the recorded
address, which would name something else here; 502 ``sandbox_unreachable`` when that node advertises
no address or is not alive, and when a request another node forwarded would be forwarded again. This
node's own workloads come from its runtime only."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tesserra_adapters.memory.nodes import MemoryNodes
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_adapters.security import HmacProxyTokens
from tesserra_core.domain.identity import AuthMethod, Principal, Role, Scope, Tier
from tesserra_core.domain.sandboxes import Sandbox, SandboxTemplate
from tesserra_core.errors import NotFound, UpstreamFailed
from tesserra_core.ports.nodes import Node, NodeWorkload
from tesserra_core.ports.runtime import Workload, WorkloadState
from tesserra_core.usecases.runtime_proxy import OpenProxy
from tesserra_core.usecases.sandbox_upstream import HOP_TTL, NodeHop, UpstreamPorts
from tests.unit.helpers import FakeClock
from tests.unit.test_sandbox_states import a_sandbox


class Placed(MemoryNodes):
    """Nodes with the boot id of each one's machine, the address each advertises, and each one's last
    beat (1.0 unless said)."""

    def __init__(
        self,
        boots: dict[str, str | None],
        urls: dict[str, str] | None = None,
        beats: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.boots = boots
        self.urls = urls or {}
        self.beats = beats or {}

    async def alive(self, since: float) -> list[Node]:
        nodes = [
            Node(id=n, name=n, started_at=0, beat_at=self.beats.get(n, 1.0), boot_id=b, url=self.urls.get(n))
            for n, b in self.boots.items()
        ]
        return [n for n in nodes if n.beat_at >= since]


def _record(node_id: str, state: WorkloadState = WorkloadState.RUNNING) -> NodeWorkload:
    snapshot = Workload(
        id="w-1",
        owner="sandbox:s1",
        tenant_id="t1",
        runtime="process",
        state=state,
        image="",
        started_at=datetime(2026, 12, 5, tzinfo=UTC),
        ports={8000: 41234},
        address="127.0.0.1",
    )
    return NodeWorkload(workload_id="w-1", node_id=node_id, owner="sandbox:s1", runtime="process", snapshot=snapshot)


async def _upstream(
    boots: dict[str, str | None],
    record: NodeWorkload | None,
    urls: dict[str, str] | None = None,
    beats: dict[str, float] | None = None,
) -> UpstreamPorts:
    nodes = Placed(boots, urls, beats)
    if record is not None:
        await nodes.record(record)
    return UpstreamPorts(MemoryRuntime(), nodes, "here", now=lambda: 5.0, dead_after=10.0)


async def test_a_workload_of_another_node_on_this_machine_is_reached_where_that_node_recorded_it() -> None:
    upstream = await _upstream({"here": "boot-a", "there": "boot-a"}, _record("there"))
    assert await upstream.of(a_sandbox(workload_id="w-1")) == ("127.0.0.1", {8000: 41234})


@pytest.mark.parametrize("there", ["boot-b", None])
async def test_a_workload_of_a_node_on_another_or_an_unknown_machine_is_unreachable(there: str | None) -> None:
    upstream = await _upstream({"here": "boot-a", "there": there}, _record("there"))
    with pytest.raises(UpstreamFailed) as refused:
        await upstream.of(a_sandbox(workload_id="w-1"))
    assert refused.value.code == "sandbox_unreachable"
    assert "another machine" in refused.value.message
    assert "advertises no address" in refused.value.message


@pytest.mark.parametrize("there", ["boot-b", None])
@pytest.mark.parametrize(("url", "host"), [("http://10.0.0.5:7501", "10.0.0.5"), ("http://[fd00::5]:7501", "fd00::5")])
async def test_a_workload_of_a_node_on_another_machine_is_reached_through_that_node(
    there: str | None, url: str, host: str
) -> None:
    """Never the address it recorded (127.0.0.1 there is not 127.0.0.1 here): the node's own (an IPv6
    one without the URL's brackets, as a socket takes it)."""
    urls = {"here": "http://10.0.0.4:7500", "there": url}
    upstream = await _upstream({"here": "boot-a", "there": there}, _record("there"), urls)
    assert await upstream.of(a_sandbox(workload_id="w-1")) == NodeHop(node_id="there", host=host, port=7501)


@pytest.mark.parametrize("url", ["http://fd00::5:7501", "http://[fd00::5:7501", "https://10.0.0.5:7501"])
async def test_a_node_whose_recorded_address_is_no_http_host_and_port_is_unreachable(url: str) -> None:
    """A 502 naming the node, never an error of the URL parser's (a 500)."""
    upstream = await _upstream({"here": "boot-a", "there": "boot-b"}, _record("there"), {"there": url})
    with pytest.raises(UpstreamFailed) as refused:
        await upstream.of(a_sandbox(workload_id="w-1"))
    assert refused.value.code == "sandbox_unreachable"
    assert "not http://host:port" in refused.value.message


async def test_a_workload_of_another_machine_is_looked_up_again_after_a_while() -> None:
    """The owning node (its address) is kept a short while only: it may restart elsewhere, or die."""
    now = [0.0]
    nodes = Placed({"here": "boot-a", "there": "boot-b"}, {"there": "http://10.0.0.5:7500"})
    await nodes.record(_record("there"))
    upstream = UpstreamPorts(MemoryRuntime(), nodes, "here", now=lambda: 5.0, monotonic=lambda: now[0])
    sandbox = a_sandbox(workload_id="w-1")
    assert isinstance(await upstream.of(sandbox), NodeHop)
    nodes.urls["there"] = "http://10.0.0.9:7500"
    assert await upstream.of(sandbox) == NodeHop(node_id="there", host="10.0.0.5", port=7500)
    now[0] = HOP_TTL
    assert await upstream.of(sandbox) == NodeHop(node_id="there", host="10.0.0.9", port=7500)


async def test_a_workload_of_a_node_that_is_not_alive_is_unreachable() -> None:
    """Its last beat older than the node timeout: 502 at once, never a wait on a dead address."""
    upstream = await _upstream(
        {"here": "boot-a", "there": "boot-b"}, _record("there"), {"there": "http://10.0.0.5:7500"}, {"there": -6.0}
    )
    with pytest.raises(UpstreamFailed) as refused:
        await upstream.of(a_sandbox(workload_id="w-1"))
    assert refused.value.code == "sandbox_unreachable"
    assert "not alive" in refused.value.message


class _Reads:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def get(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        return self.sandbox if (tenant_id, sandbox_id) == (self.sandbox.tenant_id, self.sandbox.id) else None


def _open_proxy(upstream: UpstreamPorts, sandbox: Sandbox) -> OpenProxy:
    return OpenProxy(
        _Reads(sandbox),  # type: ignore[arg-type]
        HmacProxyTokens(b"k" * 32),
        FakeClock(),
        None,  # type: ignore[arg-type]  # no query token: never exchanged
        upstream,
        None,  # type: ignore[arg-type]
    )


MEMBER = Principal(
    user_id="u1",
    tenant_id="t1",
    role=Role.MEMBER,
    is_platform_admin=False,
    scopes=frozenset({Scope.TOOLS_WRITE}),
    tier=Tier.BASIC,
    method=AuthMethod.API_KEY,
    credential_id="key-1",
)


async def test_the_proxy_target_is_the_workload_on_this_machine_and_the_node_on_another() -> None:
    """The access check is this node's either way; then the workload itself (this node's or a
    neighbour's on this machine), or the node that runs it, whose own address the request goes to."""
    sandbox = a_sandbox(workload_id="w-1", template=SandboxTemplate(command=("sleep", "1"), ports=(8000,)))
    same = await _upstream({"here": "boot-a", "there": "boot-a"}, _record("there"), {"there": "http://10.0.0.5:7500"})
    direct = await _open_proxy(same, sandbox)(sandbox.id, None, actor=MEMBER)
    assert (direct.host, direct.host_port, direct.node_id) == ("127.0.0.1", 41234, None)
    other = await _upstream({"here": "boot-a", "there": "boot-b"}, _record("there"), {"there": "http://10.0.0.5:7500"})
    hop = await _open_proxy(other, sandbox)(sandbox.id, None, actor=MEMBER)
    assert (hop.host, hop.host_port, hop.node_id, hop.port) == ("10.0.0.5", 7500, "there", 8000)
    with pytest.raises(NotFound):  # another tenant's: as for a missing one, before anything else
        await _open_proxy(other, sandbox)(sandbox.id, None, actor=msgspec.structs.replace(MEMBER, tenant_id="t2"))


async def test_a_request_another_node_forwarded_is_never_forwarded_again() -> None:
    """Marked as a hop (the header a client may forge too): only a workload this node reaches itself
    is proxied; one that would go to another node answers 502, before and after a cached target."""
    sandbox = a_sandbox(workload_id="w-1", template=SandboxTemplate(command=("sleep", "1"), ports=(8000,)))
    other = await _upstream({"here": "boot-a", "there": "boot-b"}, _record("there"), {"there": "http://10.0.0.5:7500"})
    proxy = _open_proxy(other, sandbox)
    for _ in range(2):
        with pytest.raises(UpstreamFailed) as refused:
            await proxy(sandbox.id, None, actor=MEMBER, hop=True)
        assert refused.value.code == "sandbox_unreachable"
        assert (await proxy(sandbox.id, None, actor=MEMBER)).node_id == "there"
    same = await _upstream({"here": "boot-a", "there": "boot-a"}, _record("there"))
    assert (await _open_proxy(same, sandbox)(sandbox.id, None, actor=MEMBER, hop=True)).node_id is None


@pytest.mark.parametrize(
    "record",
    [
        None,  # recorded by no node
        _record("here"),  # this node's, which its runtime no longer has: the runtime is the truth
        _record("there", WorkloadState.EXITED),
        msgspec.structs.replace(_record("there"), snapshot=None),
    ],
)
async def test_a_workload_no_node_on_this_machine_runs_is_unreachable(record: NodeWorkload | None) -> None:
    upstream = await _upstream({"here": "boot-a", "there": "boot-a"}, record)
    with pytest.raises(UpstreamFailed) as refused:
        await upstream.of(a_sandbox(workload_id="w-1"))
    assert (refused.value.code, refused.value.message) == (
        "sandbox_unreachable",
        "the sandbox's workload is not running",
    )
