"""Telemetry as Prometheus metrics, correct across forked workers (prometheus-client's multiprocess
mode): each process writes its samples to memory-mapped files in one directory per run, and the worker
that answers a scrape merges every file there. This module imports prometheus-client, so nothing
imports it unless metrics are on (``TESSERRA_METRICS_TOKEN``): prometheus-client picks its storage
when first imported, so ``PROMETHEUS_MULTIPROC_DIR`` must name the directory before
(``tesserra_adapters.bootstrap.prepare_metrics``).

A request costs two writes to the mapped file (the histogram's bucket and sum; its ``_count`` is the
request count), behind a child looked up once per label set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PrometheusTelemetry:
    enabled = True

    def __init__(self) -> None:
        directory = os.environ.get(DIRECTORY_VARIABLE)
        if not directory or not os.path.isdir(directory) or not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(f"metrics need {DIRECTORY_VARIABLE} naming a directory before prometheus-client loads")
        self._directory = directory
        self._requests = Histogram(
            "tesserra_http_request_duration_seconds",
            "HTTP requests by route template, method and status; _count is the number of requests",
            ("route", "method", "status"),
            buckets=REQUEST_BUCKETS,
            registry=None,
        )
        self._tool_calls = Histogram(
            "tesserra_tool_call_duration_seconds",
            "Calls to installed tool servers by catalog entry",
            ("server",),
            buckets=TOOL_BUCKETS,
            registry=None,
        )
        self._tool_errors = Counter(
            "tesserra_tool_call_errors",
            "Failed tool calls by catalog entry and error code",
            ("server", "code"),
            registry=None,
        )
        self._rate_limited = Counter(
            "tesserra_rate_limit_rejections", "Requests refused by a rate-limit rule", ("rule",), registry=None
        )
        self._pool_in_use = Gauge(
            "tesserra_db_pool_connections_in_use",
            "Database connections checked out of the pools of the live workers",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._pool_limit = Gauge(
            "tesserra_db_pool_connections_limit",
            "Database connections the pools of the live workers may open",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._children: dict[tuple[str, str, int], Any] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._requests.labels(route, method, str(status))
        child.observe(seconds)

    def tool_call(self, server: str, seconds: float, error: str | None) -> None:
        self._tool_calls.labels(server).observe(seconds)
        if error is not None:
            self._tool_errors.labels(server, error).inc()

    def rate_limited(self, rule: str) -> None:
        self._rate_limited.labels(rule).inc()

    def connection_checked_out(self) -> None:
        self._pool_in_use.inc()

    def connection_checked_in(self) -> None:
        self._pool_in_use.dec()

    def pool_limit(self, connections: int) -> None:
        self._pool_limit.set(connections)

    def render(self, workloads: Mapping[tuple[str, str], int], runners: Mapping[str, bool]) -> bytes:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, self._directory)  # type: ignore[no-untyped-call]
        registry.register(_AtTheScrape(workloads, runners))
        return generate_latest(registry)


class _AtTheScrape:
    """What is read when a scrape comes, not sampled by each process: the node's workloads (its own
    listing) and the runner leases it holds (the cluster's lease rows)."""

    def __init__(self, workloads: Mapping[tuple[str, str], int], runners: Mapping[str, bool]) -> None:
        self._workloads = workloads
        self._runners = runners

    def collect(self) -> list[GaugeMetricFamily]:
        workloads = GaugeMetricFamily(
            "tesserra_workloads", "Workloads by runtime and state", labels=("runtime", "state")
        )
        for (runtime, state), count in sorted(self._workloads.items()):
            workloads.add_metric((runtime, state), count)
        runners = GaugeMetricFamily(
            "tesserra_runner_lease_held",
            "1 for each runner lease (a background loop run once across the cluster) this node holds, else 0",
            labels=("runner",),
        )
        for name, held in sorted(self._runners.items()):
            runners.add_metric((name,), 1 if held else 0)
        return [workloads, runners]
