"""Client API keys: created for a team, stored hashed, checked in constant time.

A key reads `sk-r1g-<id>-<secret>`. The id finds the row; only a hash of the secret is
stored, so a copy of the database gives no working key (invariant 8). Secrets are 192
random bits, which makes a plain SHA-256 as safe as a slow password hash would be.
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

PREFIX = "sk-r1g-"


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
    def __init__(self, db: Database, cache_ttl_s: float = 10.0) -> None:
        self._db = db
        self._ttl = cache_ttl_s
        # Verified keys, by a hash of the whole key: revocation applies within the TTL.
        self._cache: dict[str, tuple[Principal, float]] = {}

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

    def verify(self, key: str) -> Principal:
        """The key's principal, or `Unauthorized`; blocking (a database read on a cache miss)."""
        cache_key = _hash(key)
        hit = self._cache.get(cache_key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        key_id, secret = _split(key)
        row = self._db.fetchone(
            "SELECT team, secret_hash, budget_usd, revoked_at, admin FROM api_keys WHERE id = ?", (key_id,))
        # Compare even when the id is unknown, so timing tells nothing about which ids exist.
        stored = row[1] if row else _hash("")
        if not hmac.compare_digest(stored, _hash(secret)) or row is None:
            raise Unauthorized("Incorrect API key provided.")
        if row[3] is not None:
            raise Unauthorized("This API key has been revoked.")
        principal = Principal(key_id, row[0], row[2], bool(row[4]))
        if self._ttl > 0:
            self._cache[cache_key] = (principal, time.monotonic() + self._ttl)
        return principal

    async def verify_async(self, key: str) -> Principal:
        hit = self._cache.get(_hash(key))
        if hit and hit[1] > time.monotonic():
            return hit[0]  # the common case needs no thread hop
        return await asyncio.to_thread(self.verify, key)


def _split(key: str) -> tuple[str, str]:
    if not key.startswith(PREFIX):
        raise Unauthorized("Incorrect API key provided: r1gate keys start with 'sk-r1g-'.")
    key_id, _, secret = key.removeprefix(PREFIX).partition("-")
    if not key_id or not secret:
        raise Unauthorized("Incorrect API key provided.")
    return key_id, secret
