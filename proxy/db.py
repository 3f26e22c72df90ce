"""The database behind keys, the ledger and the audit records: SQLite or PostgreSQL.

Queries are written once with `?` placeholders and run on either engine. Calls are
blocking and short; async callers run them in a thread (`asyncio.to_thread`).
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import ConfigError

GENESIS = "0" * 64  # the hash before the first audit record

# Ordered schema migrations; the database records how many it has applied. Times are
# ISO-8601 UTC text, which sorts and compares the same way on both engines.
MIGRATIONS: tuple[str, ...] = (
    """CREATE TABLE api_keys (
           id TEXT PRIMARY KEY,
           team TEXT NOT NULL,
           secret_hash TEXT NOT NULL,
           budget_usd DOUBLE PRECISION,
           created_at TEXT NOT NULL,
           revoked_at TEXT
       )""",
    "ALTER TABLE api_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE ledger (
           id TEXT PRIMARY KEY,
           ts TEXT NOT NULL,
           request_id TEXT NOT NULL,
           team TEXT NOT NULL,
           key_id TEXT NOT NULL,
           model TEXT NOT NULL,
           upstream_model TEXT,
           route TEXT NOT NULL,
           status INTEGER NOT NULL,
           cache TEXT NOT NULL,
           prompt_hit_tokens INTEGER NOT NULL,
           prompt_miss_tokens INTEGER NOT NULL,
           completion_tokens INTEGER NOT NULL,
           reasoning_tokens INTEGER NOT NULL,
           cost_usd DOUBLE PRECISION NOT NULL,
           cloud_cost_usd DOUBLE PRECISION NOT NULL,
           reference_cost_usd DOUBLE PRECISION NOT NULL,
           saved_usd DOUBLE PRECISION NOT NULL
       )""",
    "CREATE INDEX ledger_team_ts ON ledger (team, ts)",
    """CREATE TABLE audit (
           id TEXT PRIMARY KEY,
           ts TEXT NOT NULL,
           request_id TEXT NOT NULL,
           team TEXT,
           key_id TEXT,
           model TEXT,
           policy_version TEXT,
           route TEXT,
           rules TEXT NOT NULL,
           entities TEXT NOT NULL,
           status INTEGER NOT NULL,
           error TEXT,
           cost_usd DOUBLE PRECISION NOT NULL
       )""",
    "CREATE INDEX audit_ts ON audit (ts)",
    "CREATE TABLE team_budgets (team TEXT PRIMARY KEY, budget_usd DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE deployment (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "ALTER TABLE audit ADD COLUMN action TEXT",
    "ALTER TABLE audit ADD COLUMN pseudonymized TEXT",
    # The hash chain (proxy/audit.py): each record's hash covers its content and the previous
    # record's hash. `head` is the last chained record; `anchor` the last one pruned.
    "ALTER TABLE audit ADD COLUMN seq BIGINT",
    "ALTER TABLE audit ADD COLUMN prev_hash TEXT",
    "ALTER TABLE audit ADD COLUMN hash TEXT",
    "CREATE UNIQUE INDEX audit_seq ON audit (seq)",
    "CREATE TABLE audit_chain (name TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, ts TEXT)",
    f"INSERT INTO audit_chain (name, seq, hash) VALUES ('head', 0, '{GENESIS}'), ('anchor', 0, '{GENESIS}')",
    # Where the shadow policy (its version) would have sent the request, and its rules.
    "ALTER TABLE audit ADD COLUMN shadow_version TEXT",
    "ALTER TABLE audit ADD COLUMN shadow_route TEXT",
    "ALTER TABLE audit ADD COLUMN shadow_rules TEXT",
)


class DatabaseUnavailable(Exception):
    """The database could not be reached; the caller may retry later."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn: Any = None
        if url.startswith("sqlite:///"):
            self._placeholder = "?"
        elif url.startswith(("postgresql://", "postgres://")):
            self._placeholder = "%s"
        else:
            raise ConfigError("R1GATE_DATABASE_URL: must be sqlite:///PATH or postgresql://…")
        try:
            with self._lock:
                self._connection()
        except DatabaseUnavailable as exc:
            raise ConfigError(f"R1GATE_DATABASE_URL: cannot connect: {exc}") from None
        self._migrate()

    def _connection(self) -> Any:
        if self._conn is not None:
            return self._conn
        if self._placeholder == "?":
            path = self.url.removeprefix("sqlite:///")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
        else:
            import psycopg  # only needed for PostgreSQL

            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                raise DatabaseUnavailable(_first_line(exc)) from None
        return self._conn

    @contextlib.contextmanager
    def _guard(self) -> Iterator[Any]:
        """The open connection, under the lock. A lost PostgreSQL connection raises
        `DatabaseUnavailable` and is reopened on the next call."""
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error:
                raise
            except Exception as exc:
                import psycopg

                if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
                    with contextlib.suppress(Exception):
                        conn.close()
                    self._conn = None
                    raise DatabaseUnavailable(_first_line(exc)) from None
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """One transaction, committed at the end of the block or rolled back on an error.
        On SQLite it takes the write lock at once, so a read inside it is not stale by the
        time the block writes (workers of one gateway share the file)."""
        with self._guard() as conn:
            if self.postgres:
                with conn.transaction():
                    yield Transaction(conn.cursor(), self._sql)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(conn, self._sql)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @property
    def postgres(self) -> bool:
        return self._placeholder == "%s"

    def _run(self, sql: str, params: Sequence[Any], mode: str) -> Any:
        """Runs one statement: `mode` "rowcount" or "rows"."""
        with self._guard() as conn:
            cur = conn.execute(self._sql(sql), params)
            return list(cur.fetchall()) if mode == "rows" else cur.rowcount

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run(sql, params, "rowcount")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # one transaction per batch: one commit, not one per row
            with self.transaction() as tx:
                tx.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._run(sql, params, "rows")

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def deployment_value(self, name: str, make: Callable[[], str]) -> str:
        """A value every replica sharing this database agrees on, created once by `make`."""
        self.execute("INSERT INTO deployment (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                     (name, make()))
        row = self.fetchone("SELECT value FROM deployment WHERE name = ?", (name,))
        assert row is not None
        return row[0]

    def ping(self) -> None:
        self.fetchone("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _sql(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", "%s")

    def _migrate(self) -> None:
        with self._lock:
            conn = self._connection()
            if self.postgres:  # replicas starting together migrate one at a time
                conn.execute("SELECT pg_advisory_lock(7211)")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                done = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
                for version, statement in enumerate(MIGRATIONS[done:], start=done + 1):
                    conn.execute(statement)
                    conn.execute(self._sql("INSERT INTO schema_version (version) VALUES (?)"), (version,))
            finally:  # a failed migration must not keep the other replicas waiting
                if self.postgres:
                    conn.execute("SELECT pg_advisory_unlock(7211)")


class Transaction:
    """Statements inside `Database.transaction()`, with the same `?` placeholders."""

    def __init__(self, cursor: Any, sql: Callable[[str], str]) -> None:
        self._cur, self._sql = cursor, sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._cur.execute(self._sql(sql), params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cur.executemany(self._sql(sql), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self._cur.execute(self._sql(sql), params).fetchall())

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

