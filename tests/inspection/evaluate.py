"""Leaks and over-routing of a labelled request set, for any way of routing it.

`cloud_received(request)` returns what the cloud upstream received for the request (its
text), or None when nothing reached the cloud. It may ask `PolicyRouter.decide` directly or
send the request through the gateway over HTTP and read the fake cloud's record; only the
counting lives here, so both measure the same thing.

- leak: a sensitive request for which the cloud received one of its `values` (also without
  spaces, and for names each word of 4+ letters); with empty `values`, a sensitive request
  that reached the cloud at all;
- over-routing: a request with `sensitive: false` that never reached the cloud.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterable

CloudReceived = Callable[[dict], Awaitable[str | None]]


@dataclass
class Report:
    total: int = 0
    sensitive: int = 0
    harmless: int = 0
    leaks: list[str] = field(default_factory=list)  # record ids
    over_routed: list[str] = field(default_factory=list)

    @property
    def over_routing_rate(self) -> float:
        return len(self.over_routed) / self.harmless if self.harmless else 0.0

    def summary(self) -> str:
        return (f"{self.total} requests: {len(self.leaks)} leaks of {self.sensitive} sensitive, "
                f"{len(self.over_routed)} over-routed of {self.harmless} harmless "
                f"({self.over_routing_rate:.1%})")


def load(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def leaked(record: dict, sent: str) -> bool:
    """Whether the text that reached the cloud holds one of the record's values."""
    values = record["values"]
    if not values:
        return True
    compact = sent.replace(" ", "")
    for value in values:
        variants = {value, value.replace(" ", "")}
        if record.get("category") in ("person", "in-history") or _looks_like_name(value):
            variants |= {w for w in value.replace("-", " ").split() if len(w) >= 4}
        if any(v and (v in sent or v in compact) for v in variants):
            return True
    return False


def _looks_like_name(value: str) -> bool:
    words = value.split()
    return 2 <= len(words) <= 5 and all(w[:1].isupper() and w.replace("-", "").replace("'", "").isalpha() for w in words)


async def evaluate(records: Iterable[dict], cloud_received: CloudReceived) -> Report:
    report = Report()
    for record in records:
        report.total += 1
        sent = await cloud_received(record["request"])
        if record["sensitive"]:
            report.sensitive += 1
            if sent is not None and leaked(record, sent):
                report.leaks.append(record["id"])
        else:
            report.harmless += 1
            if sent is None:
                report.over_routed.append(record["id"])
    return report
