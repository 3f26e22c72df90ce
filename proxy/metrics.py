"""Prometheus metrics, correct with one worker process or several.

`r1gate serve` gives its workers a shared PROMETHEUS_MULTIPROC_DIR, where each process
writes its own values and a scrape adds them up (the API port's `/metrics`, or the
`metrics.listen` port served by the parent process); a gateway inside another program
keeps its metrics in its own registry. Labels hold teams, routes, rule ids, statuses and
the API called (`chat`, `messages`) only, and `render(teams=False)` sums the teams away for
a caller who may not see them.
"""
from __future__ import annotations

from typing import Iterator

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server,
                               values)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def multiprocess() -> bool:
    """Whether values go to PROMETHEUS_MULTIPROC_DIR: decided once, when prometheus_client
    was imported, so this asks it rather than the environment."""
    return values.ValueClass.__name__ == "MmapedValue"


def shared_registry() -> CollectorRegistry:
    """Every process's values in PROMETHEUS_MULTIPROC_DIR, added up."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def serve_shared(host: str, port: int) -> None:
    """Serves every worker's metrics, team labels included, on a private address: a thread
    of `r1gate serve`'s parent process."""
    start_http_server(port, host, registry=shared_registry())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # `api`: chat (OpenAI's chat completions) or messages (Anthropic's Messages API)
        self.requests = Counter("r1gate_requests", "Requests answered", ["route", "team", "status", "api"],
                                registry=r)
        self.latency = Histogram("r1gate_request_seconds", "Time to the whole answer", ["route", "api"],
                                 buckets=_LATENCY, registry=r)
        self.upstream_latency = Histogram("r1gate_upstream_seconds", "Time to the upstream's first byte",
                                          ["upstream"], buckets=_LATENCY, registry=r)
        self.inspection_latency = Histogram("r1gate_inspection_seconds", "Time to decide the route",
                                            buckets=_LATENCY, registry=r)
        self.tokens = Counter("r1gate_tokens", "Tokens billed", ["team", "route", "kind"], registry=r)
        self.cost = Counter("r1gate_cost_usd", "Spend in USD", ["team", "route"], registry=r)
        self.saved = Counter("r1gate_cache_saved_usd", "Spend avoided by cache hits", ["team"], registry=r)
        self.cache = Counter("r1gate_cache_requests", "Cache lookups", ["result"], registry=r)
        self.budget_rejections = Counter("r1gate_budget_rejections", "Requests refused for budget or rate",
                                         ["team"], registry=r)
        self.rule_matches = Counter("r1gate_rule_matches", "Policy rules that matched", ["rule"], registry=r)
        self.upstream_errors = Counter("r1gate_upstream_errors", "Failed upstream calls", ["upstream", "reason"],
                                       registry=r)
        self.in_flight = Gauge("r1gate_in_flight", "Requests being answered", registry=r,
                               multiprocess_mode="livesum")
        self.redis_up = Gauge("r1gate_redis_up", "1 when Redis answers, 0 when down (no Redis: absent)",
                              registry=r, multiprocess_mode="livemin")
        self.ledger_backlog = Gauge("r1gate_ledger_backlog", "Ledger records waiting for the database",
                                    registry=r, multiprocess_mode="livesum")

    def render(self, teams: bool = True) -> bytes:
        source: Collector = shared_registry() if multiprocess() else self.registry
        if not teams:
            registry = CollectorRegistry()
            registry.register(WithoutTeams(source))
            source = registry
        return generate_latest(source)  # type: ignore[arg-type]


class WithoutTeams(Collector):
    """Another collector's metrics with the `team` label summed away."""

    def __init__(self, source: Collector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            if not any("team" in s.labels for s in family.samples):
                yield family
                continue
            summed: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            for s in family.samples:
                if not s.name.endswith("_created"):  # a creation time cannot be summed
                    key = (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "team")))
                    summed[key] = summed.get(key, 0.0) + s.value
            merged = Metric(family.name, family.documentation, family.type, family.unit)
            for (name, labels), value in summed.items():
                merged.add_sample(name, dict(labels), value)
            yield merged
