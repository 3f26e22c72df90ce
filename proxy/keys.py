"""Client API keys: created for a team, stored hashed, checked in constant time.

A key reads `sk-r1g-<id>-<secret>`. The id finds the row; only a hash of the secret is
stored, so a copy of the database gives no working key (invariant 8). Secrets are 192
random bits, which makes a plain SHA-256 as safe as a slow password hash would be.

Verified keys are cached per process. A revocation (`r1gate keys revoke`, a process of its
own) bumps a counter in Redis that every replica reads on each request: a changed counter
empties the cache, so the revoked key fails on its next request everywhere. Without Redis,
or while it is down, a cached key is read from the database again after `key_cache_ttl_s`.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from .db import Database
from .errors import Unauthorized
from .redis_link import RedisDown, RedisLink

PREFIX = "sk-r1g-"
REVOCATIONS = "r1gate:keys:revocations"  # bumped by each revocation
_UNKNOWN = object()  # Redis is down: the counter is unknown and the cache's TTL applies


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id (never its secret) and its team."""

    key_id: str
    team: str
    budget_usd: float | None
    admin: bool = False  # may read every team's spend (`GET /v1/spend`)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    team: str
    budget_usd: float | None
    created_at: str
    revoked_at: str | None
    admin: bool


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class KeyStore:
    def __init__(self, db: Database, cache_ttl_s: float = 2.0, redis: RedisLink | None = None) -> None:
        self._db = db
        self._ttl = cache_ttl_s
        self._redis = redis
        # Verified keys, by a hash of the whole key: (principal, expiry, revocation counter then).
        self._cache: dict[str, tuple[Principal, float, object]] = {}

    def create(self, team: str, budget_usd: float | None = None, admin: bool = False) -> str:
        key_id, secret = secrets.token_hex(6), secrets.token_hex(24)
        self._db.execute(
            "INSERT INTO api_keys (id, team, secret_hash, budget_usd, created_at, admin) VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, team, _hash(secret), budget_usd, _now(), int(admin)))
        return f"{PREFIX}{key_id}-{secret}"

    def list(self) -> list[KeyRecord]:
        rows = self._db.fetchall(
            "SELECT id, team, budget_usd, created_at, revoked_at, admin FROM api_keys ORDER BY created_at, id")
        return [KeyRecord(*row[:5], bool(row[5])) for row in rows]

    def revoke(self, key_id: str) -> bool:
        done = self._db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                (_now(), key_id)) > 0
        self._cache.clear()
        return done

    async def verify(self, key: str) -> Principal:
        """The key's principal, or `Unauthorized`."""
        cache_key, revocations = _hash(key), await self._revocations()
        hit = self._cache.get(cache_key)
        if hit and hit[1] > time.monotonic() and (hit[2] == revocations or revocations is _UNKNOWN):
            return hit[0]  # the common case needs no database read
        principal = await asyncio.to_thread(self._read, key)
        if self._ttl > 0:
            self._cache[cache_key] = (principal, time.monotonic() + self._ttl, revocations)
        return principal

    async def _revocations(self) -> object:
        if self._redis is None:
            return None
        try:
            return await self._redis.call(lambda r: r.get(REVOCATIONS))
        except RedisDown:
            return _UNKNOWN

    def _read(self, key: str) -> Principal:
        key_id, secret = _split(key)
        row = self._db.fetchone(
            "SELECT team, secret_hash, budget_usd, revoked_at, admin FROM api_keys WHERE id = ?", (key_id,))
        # Compare even when the id is unknown, so timing tells nothing about which ids exist.
        stored = row[1] if row else _hash("")
        if not hmac.compare_digest(stored, _hash(secret)) or row is None:
            raise Unauthorized("Incorrect API key provided.")
        if row[3] is not None:
            raise Unauthorized("This API key has been revoked.")
        return Principal(key_id, row[0], row[2], bool(row[4]))


async def announce_revocation(redis: RedisLink) -> None:
    """Tells every replica sharing `redis` that a key was revoked; `RedisDown` if it cannot."""
    await redis.call(lambda r: r.incr(REVOCATIONS))


def _split(key: str) -> tuple[str, str]:
    if not key.startswith(PREFIX):
        raise Unauthorized("Incorrect API key provided: r1gate keys start with 'sk-r1g-'.")
    key_id, _, secret = key.removeprefix(PREFIX).partition("-")
    if not key_id or not secret:
        raise Unauthorized("Incorrect API key provided.")
    return key_id, secret
