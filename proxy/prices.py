"""What a request cost, what it would have cost elsewhere, and what it may cost at most.

Cloud prices are data (`prices.yaml`: per model, with effective dates and time-of-day
windows); on-prem cost comes from a GPU-hour price and the engine's throughput; the
reference price is another API's list price, for the report that compares them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import ModelSettings, OnpremCost, ReferencePrice
from .errors import ConfigError

SHIPPED = Path(__file__).with_name("prices.yaml")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str
    start: datetime = Field(alias="from")
    until: datetime | None = None
    hours: list[str] = []
    days: list[str] = []
    input_cache_hit: float = Field(ge=0)
    input_cache_miss: float = Field(ge=0)
    output: float = Field(ge=0)

    @field_validator("start", "until", mode="before")
    @classmethod
    def _midnight(cls, v: Any) -> Any:
        return datetime.combine(v, time()) if isinstance(v, date) and not isinstance(v, datetime) else v

    @field_validator("start", "until")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=timezone.utc) if v is not None and v.tzinfo is None else v

    @field_validator("hours")
    @classmethod
    def _windows(cls, v: list[str]) -> list[str]:
        for window in v:
            _window(window)
        return v

    @property
    def windows(self) -> list[tuple[int, int]]:
        return [_window(w) for w in self.hours]

    @field_validator("days")
    @classmethod
    def _day_names(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in _DAYS]
        if bad:
            raise ValueError(f"unknown day {bad[0]!r}; use {', '.join(_DAYS)}")
        return v


def _window(text: str) -> tuple[int, int]:
    """'16:30-00:30' → minutes since midnight (start, end); a window may wrap midnight."""
    try:
        start, end = (datetime.strptime(part.strip(), "%H:%M") for part in text.split("-"))
    except ValueError:
        raise ValueError(f"hours must look like '16:30-00:30', not {text!r}") from None
    return start.hour * 60 + start.minute, end.hour * 60 + end.minute


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input_cache_hit: float
    input_cache_miss: float
    output: float


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as DeepSeek reports them (the gateway completes them for other upstreams)."""

    prompt_hit: int = 0
    prompt_miss: int = 0
    completion: int = 0
    reasoning: int = 0

    @classmethod
    def from_dict(cls, usage: dict[str, Any] | None) -> "Usage":
        usage = usage or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        hit = int(usage.get("prompt_cache_hit_tokens") or 0)
        return cls(hit, int(usage.get("prompt_cache_miss_tokens") or max(prompt - hit, 0)),
                   int(usage.get("completion_tokens") or 0),
                   int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0))

    @property
    def prompt(self) -> int:
        return self.prompt_hit + self.prompt_miss


@dataclass(frozen=True, slots=True)
class Costs:
    cost: float  # what this request cost on the route that served it
    cloud: float  # the same usage at DeepSeek's price
    reference: float  # the same usage at the reference API's list price


class PriceTable:
    def __init__(self, entries: list[_Entry]) -> None:
        # Windows parsed once: prices are looked up on every request.
        self._entries = [(e, e.windows) for e in entries]

    @classmethod
    def load(cls, path: str | Path | None = None) -> "PriceTable":
        path = Path(path) if path else SHIPPED
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the price table: {getattr(exc, 'strerror', None) or exc}") from None
        if not isinstance(data, list):
            raise ConfigError(f"{path}: the price table must be a list of entries")
        entries = []
        for i, item in enumerate(data):
            try:
                entries.append(_Entry.model_validate(item))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ConfigError(f"{path}: entry {i + 1}: {where}: {err['msg'].removeprefix('Value error, ')}") from None
        return cls(entries)

    def price(self, model: str, at: datetime) -> Price | None:
        """The price in force for `model` at `at`: a matching windowed entry beats a plain
        one, and among equals the most recent start wins."""
        best: tuple[bool, datetime] | None = None
        found: _Entry | None = None
        for e, windows in self._entries:
            if e.model != model or at < e.start or (e.until and at >= e.until) or not _in_window(e, windows, at):
                continue
            rank = (bool(e.hours), e.start)
            if best is None or rank > best:
                best, found = rank, e
        return Price(found.input_cache_hit, found.input_cache_miss, found.output) if found else None



def _in_window(entry: _Entry, windows: list[tuple[int, int]], at: datetime) -> bool:
    if entry.days and _DAYS[at.weekday()] not in entry.days:
        return False
    if not windows:
        return True
    minute = at.hour * 60 + at.minute
    for start, end in windows:
        if (start <= minute < end) if start < end else (minute >= start or minute < end):
            return True
    return False


class Pricing:
    def __init__(self, table: PriceTable, onprem: OnpremCost, reference: ReferencePrice) -> None:
        self.table = table
        self._onprem = onprem
        self._reference = reference

    def costs(self, model: ModelSettings, model_name: str, route: str, usage: Usage, at: datetime) -> Costs:
        cloud = self.cloud_cost(model, model_name, usage, at)
        onprem = (usage.prompt / self._onprem.prompt_tokens_per_s
                  + usage.completion / self._onprem.completion_tokens_per_s) * self._onprem.gpu_hour_usd / 3600
        reference = (usage.prompt * self._reference.input + usage.completion * self._reference.output) / 1e6
        return Costs(onprem if route == "onprem" else cloud, cloud, reference)

    def cloud_cost(self, model: ModelSettings, model_name: str, usage: Usage, at: datetime) -> float:
        price = self.table.price(model.cloud or model_name, at)
        if price is None:
            return 0.0
        return (usage.prompt_hit * price.input_cache_hit + usage.prompt_miss * price.input_cache_miss
                + usage.completion * price.output) / 1e6

    def max_cost(self, model: ModelSettings, model_name: str, route: str, prompt_tokens: int,
                 max_tokens: int | None, at: datetime) -> float:
        """The most a request can cost: its prompt all cache misses, its answer as long as allowed."""
        usage = Usage(prompt_miss=prompt_tokens, completion=max_tokens or model.max_output_tokens)
        return self.costs(model, model_name, route, usage, at).cost
