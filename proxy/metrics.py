"""Prometheus metrics, correct with several worker processes.

`r1gate serve` gives its workers a shared PROMETHEUS_MULTIPROC_DIR, where each process
writes its own values and `/metrics` adds them up; a gateway inside another program keeps
its metrics in its own registry. Labels hold teams, routes, rule ids and statuses only.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("r1gate_requests", "Requests answered", ["route", "team", "status"], registry=r)
        self.latency = Histogram("r1gate_request_seconds", "Time to the whole answer", ["route"],
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

    def render(self) -> bytes:
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
