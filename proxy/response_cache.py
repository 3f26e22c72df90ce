"""The response cache: Redis shared by every replica, or an in-process LRU for one machine.

Keys are keyed hashes (HMAC with the deployment secret) of the team, the route, the
upstream model, the policy version and the request without its stream flag: entries of one
team are never served to another (invariant 6), and a key reveals no prompt (invariant 4).
Values are compressed, then encrypted (AES-GCM, bound to their key), so a Redis dump
holds no answer in clear either. Identical requests in flight call the upstream once:
the first leads, the others wait for its answer (through Redis across replicas).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import CacheSettings, ModelSettings
from .redis_link import RedisDown, RedisLink
from .routing import Decision, Route

_MAX_AGE = re.compile(r"max-age=(\d+)")
_UNCACHED_FIELDS = ("stream", "stream_options", "model")
# A leader holds its Redis lock as a lease it renews while its request runs: a lock whose
# leader is gone (crashed, or cut off by a stalled Redis) lapses within this time.
LEASE_S = 3.0


@dataclass(frozen=True, slots=True)
class CachePlan:
    read: bool  # False for `Cache-Control: no-cache`: ask the upstream, then store
    ttl_s: float


def plan(settings: CacheSettings, model: ModelSettings, body: dict[str, Any], decision: Decision,
         headers: Mapping[str, str]) -> CachePlan | None:
    """Whether this request may be answered from, and stored in, the cache; None: bypass."""
    control = headers.get("cache-control", "").lower()
    max_age = _MAX_AGE.search(control)
    opted_in = bool(max_age and int(max_age.group(1)) > 0)
    if settings.mode == "off" or "no-store" in control or body.get("logprobs") or decision.cache_ttl_s == 0:
        return None
    if decision.route == Route.ONPREM and not (settings.onprem or decision.cache_onprem):
        return None  # sensitive answers stay out of the cache unless the deployment or a rule allows it
    if not opted_in and (settings.mode == "opt-in" or body.get("temperature") != 0):
        return None
    ttl = decision.cache_ttl_s or model.cache_ttl_s or settings.ttl_s
    return CachePlan(read="no-cache" not in control, ttl_s=min(int(max_age.group(1)), ttl) if opted_in else ttl)


@dataclass(frozen=True, slots=True)
class Lookup:
    """The cache's part in one request: bypassed (no key), or a miss to store under `key`,
    or a hit."""

    key: str | None = None
    ttl_s: float = 0.0
    hit: dict[str, Any] | None = None
    flight: Flight | None = None  # this request's place among identical ones in flight

    @property
    def status(self) -> str:
        return "bypass" if self.key is None else "hit" if self.hit is not None else "miss"


BYPASS = Lookup()


class Flight:
    """One request's place among identical requests in flight. `value`: the answer another
    request already got (answer from it), or None (this request calls the upstream)."""

    def __init__(self, cache: "ResponseCache", key: str, value: dict[str, Any] | None, leads: bool,
                 renewal: asyncio.Task[None] | None = None) -> None:
        self._cache, self._key, self.value, self._leads, self._renewal = cache, key, value, leads, renewal

    async def done(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
        if self._leads:
            self._leads = False
            await self._cache._land(self._key)


class ResponseCache:
    def __init__(self, settings: CacheSettings, secret: bytes, redis: RedisLink | None,
                 upstream_timeout_s: float = float("inf")) -> None:
        self._settings = settings
        self._wait_s = min(settings.flight_wait_s, upstream_timeout_s)  # no leader answers after that
        self._secret = secret
        self._aead = AESGCM(hmac.new(secret, b"r1gate cache encryption", hashlib.sha256).digest())
        self._redis = redis
        self._local: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._flights: dict[str, asyncio.Event] = {}

    def key(self, *, team: str, route: str, upstream_model: str, policy_version: str, body: dict[str, Any],
            api: str = "chat") -> str:
        """`api`: the request's shape (`chat`, `messages`), whose answers are not interchangeable."""
        request = {k: v for k, v in body.items() if k not in _UNCACHED_FIELDS}
        material = json.dumps([team, route, upstream_model, policy_version, request, api], sort_keys=True,
                              ensure_ascii=False, separators=(",", ":"))
        return "r1gate:cache:" + hmac.new(self._secret, material.encode(), hashlib.sha256).hexdigest()

    async def lookup(self, key: str, plan: CachePlan) -> Lookup:
        """The entry under `key`, when the plan reads; on a miss, joins the identical
        requests in flight (see `Flight`), whose leader's answer counts as a hit."""
        if not plan.read:
            return Lookup(key, plan.ttl_s)
        hit, flight = await self.get(key), None
        if hit is None:
            flight = await self.join(key)
            hit = flight.value
        return Lookup(key, plan.ttl_s, hit, flight)

    async def get(self, key: str) -> dict[str, Any] | None:
        blob = None
        if self._redis is not None:
            try:
                blob = await self._redis.call(lambda r: r.get(key))
            except RedisDown:
                blob = None
        else:
            entry = self._local.get(key)
            if entry and entry[0] > time.monotonic():
                self._local.move_to_end(key)
                blob = entry[1]
        return self._open(key, blob) if blob else None

    async def put(self, key: str, completion: dict[str, Any], ttl_s: float) -> None:
        blob = self._seal(key, completion)
        if self._redis is not None:
            try:
                await self._redis.call(lambda r: r.set(key, blob, px=int(ttl_s * 1000)))
            except RedisDown:
                pass
            return
        self._local[key] = (time.monotonic() + ttl_s, blob)
        self._local.move_to_end(key)
        while len(self._local) > self._settings.max_entries:
            self._local.popitem(last=False)

    async def join(self, key: str) -> Flight:
        """Joins the identical requests in flight for `key` (see `Flight`)."""
        wait = self._wait_s
        local = self._flights.get(key)
        if local is not None:  # another request in this process is on it
            try:
                await asyncio.wait_for(local.wait(), wait)
            except TimeoutError:
                pass
            return Flight(self, key, await self.get(key), leads=False)
        self._flights[key] = asyncio.Event()
        if self._redis is None:
            return Flight(self, key, None, leads=True)
        if not await self._lock(key):
            value = await self._poll(key, time.monotonic() + wait)  # another replica is on it
            await self._land(key, unlock=False)
            return Flight(self, key, value, leads=False)
        return Flight(self, key, None, leads=True, renewal=asyncio.create_task(self._renew(key)))

    async def _lock(self, key: str) -> bool:
        try:
            return bool(await self._redis.call(lambda r: r.set(key + ":lock", b"1", nx=True, px=int(LEASE_S * 1000))))
        except RedisDown:
            return True  # no Redis: lead, as if alone

    async def _renew(self, key: str) -> None:
        """Keeps the lease while the leader runs; stops (and lets it lapse) when Redis fails."""
        while True:
            await asyncio.sleep(LEASE_S / 3)
            try:
                if not await self._redis.call(lambda r: r.pexpire(key + ":lock", int(LEASE_S * 1000))):
                    return
            except RedisDown:
                return

    async def _poll(self, key: str, deadline: float) -> dict[str, Any] | None:
        delay = 0.005
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
            value = await self.get(key)
            if value is not None:
                return value
            try:
                if not await self._redis.call(lambda r: r.exists(key + ":lock")):
                    return await self.get(key)  # the leader finished without an answer to share
            except RedisDown:
                return None
        return None

    async def _land(self, key: str, unlock: bool = True) -> None:
        event = self._flights.pop(key, None)
        if event is not None:
            event.set()
        if unlock and self._redis is not None:
            try:
                await self._redis.call(lambda r: r.delete(key + ":lock"))
            except RedisDown:
                pass

    def _seal(self, key: str, completion: dict[str, Any]) -> bytes:
        nonce = os.urandom(12)
        plain = zlib.compress(json.dumps(completion, ensure_ascii=False, separators=(",", ":")).encode())
        return nonce + self._aead.encrypt(nonce, plain, key.encode())

    def _open(self, key: str, blob: bytes) -> dict[str, Any] | None:
        try:
            return json.loads(zlib.decompress(self._aead.decrypt(blob[:12], blob[12:], key.encode())))
        except Exception:  # another deployment's secret, or a damaged entry: a miss
            return None
