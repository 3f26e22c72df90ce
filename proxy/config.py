"""Settings: embedded defaults, then an optional YAML file, then the environment.

Every setting is validated here, once, so a bad one is a one-line error at start-up
(`r1gate` exits with code 2) rather than a failure on some later request.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

# Environment variable → dotted setting. The contract in the design names these.
ENV = {
    "R1GATE_CLOUD_URL": "cloud.url",
    "R1GATE_CLOUD_API_KEY": "cloud.api_key",
    "R1GATE_ONPREM_URL": "onprem.url",
    "R1GATE_ONPREM_API_KEY": "onprem.api_key",
    "R1GATE_ONPREM_MESSAGES_API": "onprem.messages_api",
    "R1GATE_POLICY": "policy",
    "R1GATE_REDIS_URL": "redis_url",
    "R1GATE_DATABASE_URL": "database_url",
    "R1GATE_SECRET": "secret",
    "R1GATE_INSPECTION_WORKERS": "inspection_workers",
}
# Read only when R1GATE_CLOUD_API_KEY is absent, as DeepSeek's own tools do.
FALLBACK_CLOUD_KEY_ENV = "DEEPSEEK_API_KEY"
DEFAULT_URLS = {"cloud": "https://api.deepseek.com", "onprem": "http://127.0.0.1:8000/v1"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    connect_s: float = Field(5.0, gt=0)
    first_byte_s: float = Field(300.0, gt=0)  # R1 can think for minutes before answering
    idle_s: float = Field(120.0, gt=0)  # between two stream chunks
    total_s: float = Field(1800.0, gt=0)


class Retries(_Strict):
    attempts: int = Field(3, ge=1, le=10)  # per upstream, first try included
    backoff_s: float = Field(0.25, ge=0)
    max_backoff_s: float = Field(8.0, ge=0)  # also caps an upstream's retry-after


class UpstreamSettings(_Strict):
    url: str
    api_key: str | None = None
    # On-prem engines without a reasoning parser put R1's thoughts in `content`, closed by
    # `</think>`; `auto` splits them out unless the upstream already sends a reasoning field.
    think_tags: Literal["auto", "off"] = "auto"
    max_connections: int = Field(256, ge=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class OnpremSettings(UpstreamSettings):
    # Anthropic's Messages API: `translate` to the engine's chat API and back; `native` for
    # engines that serve `{url}/messages` themselves (recent vLLM and SGLang).
    messages_api: Literal["translate", "native"] = "translate"


class ModelSettings(_Strict):
    """How a model name that clients ask for is served by each upstream."""

    cloud: str | None = None  # name at DeepSeek; None: the same name
    onprem: str | None = None  # served name on-prem; None: the same name
    reasoner: bool = False  # answers carry reasoning (R1-style)
    # The original R1 API rejects `reasoning_content` in the history; newer models want it back.
    strip_history_reasoning: bool = True
    max_output_tokens: int = Field(32768, ge=1)  # what a budget reserves when max_tokens is unset
    cache_ttl_s: float | None = Field(None, ge=0)  # None: the cache's default TTL


class OnpremCost(_Strict):
    """What on-prem answers cost: the GPU time they take, from the engine's throughput."""

    gpu_hour_usd: float = Field(3.0, ge=0)
    prompt_tokens_per_s: float = Field(10000.0, gt=0)
    completion_tokens_per_s: float = Field(1000.0, gt=0)


class ReferencePrice(_Strict):
    """Another API's list price (USD per million tokens), for the spend report's comparison."""

    name: str = "OpenAI o1"
    input: float = Field(15.0, ge=0)
    output: float = Field(60.0, ge=0)


class CacheSettings(_Strict):
    # deterministic: temperature 0 or a client's opt-in; opt-in: only `Cache-Control: max-age=N`
    mode: Literal["deterministic", "opt-in", "off"] = "deterministic"
    ttl_s: float = Field(3600.0, gt=0)
    onprem: bool = False  # also cache on-prem (sensitive) answers; every entry is encrypted anyway
    max_entries: int = Field(10000, ge=1)  # the in-process cache, when no Redis is configured
    redis_timeout_s: float = Field(0.25, gt=0)  # per Redis call; past it, Redis counts as down for a few seconds
    # Identical requests wait this long at most for the first one (never past `timeouts.total_s`).
    flight_wait_s: float = Field(120.0, gt=0)


class RateLimit(_Strict):
    rpm: int | None = Field(None, ge=1)  # requests per minute
    tpm: int | None = Field(None, ge=1)  # tokens (prompt + completion) per minute


class BodyLimits(_Strict):
    """A request body's shape, bounded before any work on it: past a bound the client gets a
    400 at once, so one request cannot hold the gateway (sizes are `max_body_bytes`)."""

    max_depth: int = Field(32, ge=4, le=256)  # nesting of objects and lists
    max_messages: int = Field(2048, ge=1)
    max_parts: int = Field(4096, ge=1)  # content parts, all messages together
    max_keys: int = Field(20000, ge=1)  # object keys, all objects together
    max_values: int = Field(20000, ge=1)  # strings and numbers, all together
    max_number_digits: int = Field(40, ge=20, le=1000)


class ServeSettings(_Strict):
    """`r1gate serve`'s connections: slow or idle clients are cut, their number is bounded."""

    header_timeout_s: float = Field(10.0, gt=0)  # from a request's first byte to its last header
    body_timeout_s: float = Field(60.0, gt=0)  # from the last header to the body's last byte
    keep_alive_s: float = Field(5.0, gt=0)  # an idle connection between two requests
    max_connections: int = Field(1024, ge=1)  # per worker; past it a new connection is closed at once


class MetricsSettings(_Strict):
    """Who may read `/metrics`: its labels name teams, with their tokens and spend."""

    # "HOST:PORT": served there (a private port scraped inside the cluster), not on the API port.
    listen: str | None = None
    token: str | None = Field(None, min_length=16)  # then a scrape needs `Authorization: Bearer <token>`

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is not None:
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9464")
        return v


def _default_models() -> dict[str, ModelSettings]:
    return {
        "deepseek-reasoner": ModelSettings(cloud="deepseek-reasoner", onprem="deepseek-reasoner", reasoner=True),
        "deepseek-chat": ModelSettings(cloud="deepseek-chat", onprem="deepseek-chat"),
    }


class Settings(_Strict):
    cloud: UpstreamSettings = UpstreamSettings(url=DEFAULT_URLS["cloud"])
    onprem: OnpremSettings = OnpremSettings(url=DEFAULT_URLS["onprem"])
    models: dict[str, ModelSettings] = Field(default_factory=_default_models)
    policy: str = "policies/default.yaml"
    # A candidate policy decided beside the active one on every request, never routing it;
    # the audit trail records where it would have sent each request (see the console).
    shadow_policy: str | None = None
    # The console's editor may write the policy file; off where the file is managed by
    # review (Git, a ConfigMap): the editor then shows the YAML to submit instead.
    console_policy_saving: bool = True
    redis_url: str | None = None
    database_url: str = "sqlite:///r1gate.db"
    fallback_to_onprem: bool = True  # cloud failure → on-prem; never the other way round
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    body_limits: BodyLimits = BodyLimits()
    serve: ServeSettings = ServeSettings()
    metrics: MetricsSettings = MetricsSettings()
    inspection_timeout_s: float = Field(5.0, gt=0)  # past it the request counts as sensitive
    # Processes that inspect prompts off the event loop; None: the cores shared among
    # `serve --workers`; 0: a thread of the gateway process (tests, small set-ups).
    inspection_workers: int | None = Field(None, ge=0)
    # Without Redis (or while it is down), how long a revoked key may still work on a replica.
    key_cache_ttl_s: float = Field(2.0, ge=0)
    # Keys cache entries and encrypts them; unset, one is generated and kept in the database.
    secret: str | None = Field(None, min_length=16)
    prices_file: str | None = None  # None: the table shipped with r1gate
    onprem_cost: OnpremCost = OnpremCost()
    reference_price: ReferencePrice = ReferencePrice()
    cache: CacheSettings = CacheSettings()
    global_budget_usd: float | None = Field(None, ge=0)  # per calendar month, all teams together
    rate_limits: dict[str, RateLimit] = {}  # by team; "*" applies to teams not listed
    audit_retention_days: int = Field(400, ge=1)
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///PATH or postgresql://…")
        return v

    @field_validator("models")
    @classmethod
    def _some_model(cls, v: dict[str, ModelSettings]) -> dict[str, ModelSettings]:
        if not v:
            raise ValueError("at least one model is needed")
        return v


def load(path: str | os.PathLike[str] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the YAML file at `path` (if any), overridden by the environment."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(Path(path))
    for var, dotted in ENV.items():
        if environ.get(var):
            _set(data, dotted, environ[var])
    if not _get(data, "cloud.api_key") and environ.get(FALLBACK_CLOUD_KEY_ENV):
        _set(data, "cloud.api_key", environ[FALLBACK_CLOUD_KEY_ENV])
    for name, url in DEFAULT_URLS.items():
        if isinstance(data.get(name), dict):
            data[name].setdefault("url", url)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        source = f"{path}: " if path else ""
        var = next((k for k, v in ENV.items() if v == where and environ.get(k)), None)
        if var:
            source = f"{var}: "
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        raise ConfigError(f"{source}{where}: {msg}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{at}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def _get(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            return  # a malformed file: validation reports it
    data[leaf] = value
