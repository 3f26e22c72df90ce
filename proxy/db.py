"""The database behind keys (and later the ledger and audit trail): SQLite or PostgreSQL.

Queries are written once with `?` placeholders and run on either engine. Calls are
blocking and short; async callers run them in a thread (`asyncio.to_thread`).
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError

# Ordered schema migrations; the database records how many it has applied.
MIGRATIONS: tuple[str, ...] = (
    """CREATE TABLE api_keys (
           id TEXT PRIMARY KEY,
           team TEXT NOT NULL,
           secret_hash TEXT NOT NULL,
           budget_usd DOUBLE PRECISION,
           created_at TEXT NOT NULL,
           revoked_at TEXT
       )""",
)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn: Any = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._placeholder = "?"
        elif url.startswith(("postgresql://", "postgres://")):
            import psycopg  # only needed for PostgreSQL

            try:
                self._conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                raise ConfigError(f"R1GATE_DATABASE_URL: cannot connect: {_first_line(exc)}") from None
            self._placeholder = "%s"
        else:
            raise ConfigError("R1GATE_DATABASE_URL: must be sqlite:///PATH or postgresql://…")
        self._migrate()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            cur = self._conn.execute(self._sql(sql), params)
            return cur.rowcount

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return list(self._conn.execute(self._sql(sql), params).fetchall())

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def ping(self) -> None:
        self.fetchone("SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _sql(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", "%s")

    def _migrate(self) -> None:
        with self._lock:
            if self._placeholder == "%s":  # replicas starting together migrate one at a time
                self._conn.execute("SELECT pg_advisory_lock(7211)")
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            done = row[0] or 0
            for version, statement in enumerate(MIGRATIONS[done:], start=done + 1):
                self._conn.execute(statement)
                self._conn.execute(self._sql("INSERT INTO schema_version (version) VALUES (?)"),
                                   (version,))
            if self._placeholder == "%s":
                self._conn.execute("SELECT pg_advisory_unlock(7211)")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

