"""A real Prometheus scrapes the three nodes behind HAProxy (issue 15), each node a target of its
own with the metrics token, and is asked back over its HTTP API: the requests each node counted are
the ones HAProxy sent it (the ``X-Tesserra-Node`` of each answer), every runner lease has exactly one
holder across the cluster, and a node killed goes down (``up == 0``) while its leases move to the
others. One scrape a second; every wait is bounded."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from tests.cluster.conftest import client, login, node_of
from tests.servers.cluster import ADMIN_EMAIL, ADMIN_PASSWORD, Cluster, cluster
from tests.servers.prometheus import Prometheus, Result, by_label, prometheus, prometheus_binary

pytestmark = pytest.mark.postgres

TOKEN = "cluster-metrics-token-0123456789"
LEASES = {"reconciler", "provisioner", "housekeeping", "billing-retries"}
REQUESTS = 'tesserra_http_request_duration_seconds_count{job="tesserra",route="/api/auth/me",status="200"}'
HELD = 'tesserra_runner_lease_held{job="tesserra"}'


def _config(nodes: Cluster) -> str:
    targets = "\n".join(
        f'      - {{targets: ["{n.host}:{n.port}"], labels: {{node: "{n.name}"}}}}' for n in nodes.nodes
    )
    return f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tesserra
    authorization: {{type: Bearer, credentials: "{TOKEN}"}}
    static_configs:
{targets}
"""


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    prometheus_binary()  # or skip (fail under TESSERRA_TEST_REQUIRE_ALL=1) before any node starts
    async with cluster(tmp_path_factory.mktemp("metrics-cluster"), TESSERRA_METRICS_TOKEN=TOKEN) as made:
        yield made


@pytest.fixture(scope="module")
async def scraper(nodes: Cluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Prometheus]:
    async with prometheus(tmp_path_factory.mktemp("prometheus"), _config(nodes)) as running:
        await running.until('up{job="tesserra"}', lambda r: by_label(r, "node") == {"n1": 1, "n2": 1, "n3": 1})
        yield running


def _one_holder_each(result: Result) -> bool:
    """Every runner lease summed over the nodes is 1."""
    held = by_label(result, "runner")
    return set(held) >= LEASES and all(count == 1 for count in held.values())


async def test_each_node_counts_the_requests_haproxy_sent_it_and_each_runner_has_one_holder(
    nodes: Cluster, scraper: Prometheus
) -> None:
    sent: Counter[str] = Counter()
    async with client(nodes.url) as http:
        bearer = {"Authorization": f"Bearer {await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        for _ in range(30):
            me = await http.get("/api/auth/me", headers=bearer)
            assert me.status_code == 200, me.text
            sent[node_of(me)] += 1
    assert set(sent) == {"n1", "n2", "n3"}, sent  # round robin: each node got some
    counted = await scraper.until(f"sum by (node) ({REQUESTS})", lambda r: by_label(r, "node") == dict(sent))
    assert sum(by_label(counted, "node").values()) == 30

    held = await scraper.until(f"sum by (runner) ({HELD})", _one_holder_each)
    assert all(count == 1 for count in by_label(held, "runner").values()), held
    holders = await scraper.query(f"{HELD} == 1")
    assert {row["metric"]["node"] for row in holders} <= {"n1", "n2", "n3"}


async def test_a_killed_node_goes_down_and_its_leases_move_to_the_others(nodes: Cluster, scraper: Prometheus) -> None:
    holders = await scraper.until(f"{HELD} == 1", lambda r: {row["metric"]["runner"] for row in r} >= LEASES)
    by_node = Counter(row["metric"]["node"] for row in holders)
    victim = nodes.node(by_node.most_common(1)[0][0])  # the node with the most leases: they must move
    victim.signal(signal.SIGKILL)
    assert victim.process is not None
    victim.process.wait(10)

    await scraper.until('up{job="tesserra"}', lambda r: by_label(r, "node")[victim.name] == 0, within=20)
    up = by_label(await scraper.query('up{job="tesserra"}'), "node")
    assert up == {**{n.name: 1 for n in nodes.nodes}, victim.name: 0}, up
    # a lease moves within 5 s of its holder's death; Prometheus drops the dead target's series as stale
    moved = await scraper.until(
        f"{HELD} == 1",
        lambda r: (
            {row["metric"]["runner"] for row in r} >= LEASES and all(row["metric"]["node"] != victim.name for row in r)
        ),
        within=20,
    )
    assert Counter(row["metric"]["runner"] for row in moved).most_common(1)[0][1] == 1, moved  # one holder each
    await scraper.until(f"sum by (runner) ({HELD})", _one_holder_each)
