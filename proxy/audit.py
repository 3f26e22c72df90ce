"""The audit trail's hash chain, and the evidence read from it: verify, report, export.

Every audit record carries `seq`, `prev_hash` and `hash`, where `hash` covers the record's
content and the previous record's hash. One chain per database: its head (the last seq and
hash) is a row that the writing transaction locks (`FOR UPDATE` on PostgreSQL, the write
lock on SQLite), so replicas sharing a database append to the same chain one batch at a
time. Pruning old records moves the chain's `anchor` to the last pruned record, so what
remains still verifies. Editing, deleting or inserting a record breaks the chain from that
record on; `verify` names the first one.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from .db import GENESIS, Database, Transaction
from .errors import ConfigError

# The chained columns, in hashing order; `seq`, `prev_hash` and `hash` follow them in a row.
COLUMNS = ("id", "ts", "request_id", "team", "key_id", "model", "policy_version", "route", "rules", "entities",
           "status", "error", "cost_usd", "action", "pseudonymized", "shadow_version", "shadow_route", "shadow_rules")
_INSERT = (f"INSERT INTO audit ({', '.join(COLUMNS)}, seq, prev_hash, hash) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})")
_SELECT = f"SELECT {', '.join(COLUMNS)}, seq, prev_hash, hash FROM audit"
PAGE = 5000


_COST = COLUMNS.index("cost_usd")
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def link(prev_hash: str, seq: int, row: Sequence[Any]) -> str:
    """The hash of one record: the JSON array of the previous hash, its seq and its columns
    (the cost as a float, as either database gives it back), UTF-8, SHA-256."""
    values = [prev_hash, seq, *row]
    values[_COST + 2] = float(values[_COST + 2] or 0.0)
    return hashlib.sha256(_ENCODE(values).encode()).hexdigest()


def append(tx: Transaction, rows: Sequence[Sequence[Any]], postgres: bool, retry: bool = False) -> None:
    """Chains and inserts audit rows (in `COLUMNS` order) inside the caller's transaction.
    On a `retry`, rows already written (the earlier attempt's commit landed but its answer
    was lost) are skipped, not chained twice; otherwise a duplicate id fails the batch."""
    if not rows:
        return
    done: set[str] = set()
    if retry:
        ids = [r[0] for r in rows]
        done = {r[0] for r in tx.fetchall(f"SELECT id FROM audit WHERE id IN ({', '.join('?' * len(ids))})", ids)}
    head = tx.fetchone("SELECT seq, hash FROM audit_chain WHERE name = 'head'" + (" FOR UPDATE" if postgres else ""))
    assert head is not None, "the migrations create the chain's head"
    seq, prev = int(head[0]), head[1]
    chained = []
    for row in rows:
        if row[0] in done:
            continue
        seq += 1
        digest = link(prev, seq, row)
        chained.append((*row, seq, prev, digest))
        prev = digest
    tx.executemany(_INSERT, chained)
    tx.execute("UPDATE audit_chain SET seq = ?, hash = ? WHERE name = 'head'", (seq, prev))


def prune(db: Database, cutoff: str, now: str) -> int:
    """Deletes the records older than `cutoff` from the start of the chain (up to the first
    record to keep), moving the anchor to the last one deleted. Returns how many went."""
    with db.transaction() as tx:
        head = tx.fetchone("SELECT seq FROM audit_chain WHERE name = 'head'" + (" FOR UPDATE" if db.postgres else ""))
        first_kept = tx.fetchone("SELECT MIN(seq) FROM audit WHERE seq IS NOT NULL AND ts >= ?", (cutoff,))
        keep_from = first_kept[0] if first_kept and first_kept[0] is not None else int(head[0]) + 1
        last = tx.fetchone("SELECT seq, hash FROM audit WHERE seq = ?", (keep_from - 1,))
        if last is not None:
            tx.execute("UPDATE audit_chain SET seq = ?, hash = ?, ts = ? WHERE name = 'anchor'", (*last, now))
        gone = tx.execute("DELETE FROM audit WHERE seq < ?", (keep_from,))
        # Records written before the chain existed carry no seq; they age out by date alone.
        return gone + tx.execute("DELETE FROM audit WHERE seq IS NULL AND ts < ?", (cutoff,))


# --- verify ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    intact: bool
    checked: int  # chained records re-hashed
    first_seq: int  # the first record the chain holds (after the anchor)
    head_seq: int
    head_hash: str
    anchor_seq: int
    anchor_ts: str | None  # when records before the anchor were pruned
    unchained: int  # records written before the chain existed
    broken: dict[str, Any] | None = None  # the first broken record: seq, id, request_id, ts, reason

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def summary(self) -> str:
        if self.broken:
            b = self.broken
            where = f"record seq {b['seq']}" + (f" (id {b['id']}, request {b['request_id']}, ts {b['ts']})"
                                                if b.get("id") else "")
            return f"audit chain BROKEN at {where}: {b['reason']}"
        span = f"seq {self.first_seq}..{self.head_seq}" if self.checked else "no chained record yet"
        pruned = f"; records up to seq {self.anchor_seq} pruned at {self.anchor_ts}" if self.anchor_seq else ""
        legacy = f"; {self.unchained} older records predate the chain" if self.unchained else ""
        return f"audit chain intact: {self.checked} records, {span}, head {self.head_hash}{pruned}{legacy}"


def verify(db: Database) -> Verification:
    """Re-computes the chain from the anchor to the head; stops at the first broken record."""
    anchor_seq, anchor_hash, anchor_ts = db.fetchone("SELECT seq, hash, ts FROM audit_chain WHERE name = 'anchor'")
    head_seq, head_hash = db.fetchone("SELECT seq, hash FROM audit_chain WHERE name = 'head'")
    unchained = db.fetchone("SELECT COUNT(*) FROM audit WHERE seq IS NULL")[0]
    seq, prev, checked = int(anchor_seq), anchor_hash, 0
    result = dict(first_seq=int(anchor_seq) + 1, head_seq=int(head_seq), head_hash=head_hash,
                  anchor_seq=int(anchor_seq), anchor_ts=anchor_ts, unchained=int(unchained))

    def broken(reason: str, row: Sequence[Any] | None = None, at: int | None = None) -> Verification:
        where = {"seq": at, "id": None, "request_id": None, "ts": None}
        if row is not None:
            where = {"seq": row[-3], "id": row[0], "request_id": row[2], "ts": row[1]}
        return Verification(False, checked, broken={**where, "reason": reason}, **result)

    # Records a concurrent writer adds after the head was read are left for the next run.
    for row in _pages(db, "seq > ? AND seq <= ?", (int(anchor_seq), int(head_seq)), "seq"):
        record_seq, record_prev, record_hash = row[-3:]
        if record_seq != seq + 1:
            return broken(f"records seq {seq + 1}..{record_seq - 1} are missing (deleted)", at=seq + 1)
        if record_prev != prev:
            return broken("its previous-hash does not match the record before it (inserted or reordered)", row)
        if link(prev, record_seq, row[:len(COLUMNS)]) != record_hash:
            return broken("its content does not match its hash (edited after it was written)", row)
        seq, prev, checked = record_seq, record_hash, checked + 1
    if seq != int(head_seq) or prev != head_hash:
        return broken(f"the chain ends at seq {seq} but its head says seq {head_seq} "
                      "(the last records were deleted, or the head was edited)", at=seq + 1)
    return Verification(True, checked, **result)


def _pages(db: Database, where: str, params: Sequence[Any], order: str) -> Iterator[tuple]:
    """Audit rows matching `where`, in `order` (seq, or ts then id), a page at a time."""
    after: tuple = ()
    keyset = {"seq": ("seq > ?", 1), "ts": ("(ts > ? OR (ts = ? AND id > ?))", 3)}[order]
    while True:
        cond = where + (f" AND {keyset[0]}" if after else "")
        order_by = "seq" if order == "seq" else "ts, id"
        rows = db.fetchall(f"{_SELECT} WHERE {cond} ORDER BY {order_by} LIMIT {PAGE}", (*params, *after))
        yield from rows
        if len(rows) < PAGE:
            return
        last = rows[-1]
        after = (last[-3],) if order == "seq" else (last[1], last[1], last[0])


# --- export and report -------------------------------------------------------------------

def records(db: Database, since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
    """Every audit record in the period, oldest first, as written (hashes included): the
    export a SIEM ingests. Rule ids and entity types and counts only, never a value."""
    where, params = _period(since, until)
    yield from _as_records(_pages(db, where, params, "ts"))


def _as_records(rows: Iterable[tuple]) -> Iterator[dict[str, Any]]:
    for row in rows:
        record = dict(zip((*COLUMNS, "seq", "prev_hash", "hash"), row))
        record["rules"] = [r for r in (record["rules"] or "").split(",") if r]
        record["entities"] = json.loads(record["entities"] or "{}")
        record["pseudonymized"] = json.loads(record["pseudonymized"] or "{}")
        record["shadow_rules"] = [r for r in (record["shadow_rules"] or "").split(",") if r]
        yield record


def _period(since: str | None, until: str | None) -> tuple[str, list[str]]:
    clauses, params = ["1 = 1"], []
    if since:
        clauses.append("ts >= ?")
        params.append(since)
    if until:
        clauses.append("ts < ?")
        params.append(until)
    return " AND ".join(clauses), params


DESTINATIONS = ("onprem", "redacted", "blocked", "not_sent", "cloud_in_clear")


@dataclass
class Report:
    since: str | None
    until: str | None
    protected_types: list[str]  # entity types a rule of the policy keeps from the cloud in clear
    requests: int = 0
    by_route: Counter = field(default_factory=Counter)
    by_action: Counter = field(default_factory=Counter)
    findings: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # type -> destination
    policy_versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy_changes: list[dict[str, Any]] = field(default_factory=list)
    verification: Verification | None = None

    @property
    def protected_in_clear(self) -> int:
        return sum(self.findings[t]["cloud_in_clear"] for t in self.protected_types if t in self.findings)

    def statement(self) -> str:
        assert self.verification is not None
        if not self.verification.intact:
            return "No statement can be made: the audit chain is broken, so the records may have been edited."
        if self.protected_in_clear:
            return (f"{self.protected_in_clear} findings of a protected type reached the cloud in clear "
                    "in this period: see the findings table.")
        return ("No request with a finding of a protected type reached the cloud in clear in this period "
                f"({self.requests} requests recorded; the audit chain is intact).")

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "requests": self.requests,
                "by_route": dict(self.by_route), "by_action": dict(self.by_action),
                "protected_types": self.protected_types,
                "findings": {t: {d: c[d] for d in DESTINATIONS} for t, c in sorted(self.findings.items())},
                "policy_versions": self.policy_versions, "policy_changes": self.policy_changes,
                "verification": self.verification.as_dict() if self.verification else None,
                "statement": self.statement()}


POLICY_CHANGE = "policy_change"  # the action of the record the console writes when a policy is saved


def report(db: Database, protected_types: Sequence[str], since: str | None = None,
           until: str | None = None) -> Report:
    """The compliance summary for a period: where requests and sensitive findings went,
    which policy versions decided, and whether the chain proves the records unedited."""
    rep = Report(since, until, sorted(protected_types))
    for r in records(db, since, until):
        if r["action"] == POLICY_CHANGE:
            rep.policy_changes.append({"ts": r["ts"], "key_id": r["key_id"], "policy_version": r["policy_version"]})
            continue
        rep.requests += 1
        rep.by_route[r["route"] or "none"] += 1
        rep.by_action[r["action"] or "none"] += 1
        version = rep.policy_versions.setdefault(r["policy_version"] or "none",
                                                 {"first": r["ts"], "last": r["ts"], "requests": 0})
        version["last"], version["requests"] = r["ts"], version["requests"] + 1
        for entity, count in r["entities"].items():
            rep.findings[entity][_destination(r, entity)] += count
    rep.verification = verify(db)
    return rep


def protected_types(policy_file: str) -> list[str]:
    """Entity types that a rule of the policy keeps from the cloud in clear (any action but cloud)."""
    from .policy.loader import PolicyError, load_policy  # the policy package loads the detectors: only here

    try:
        policy = load_policy(policy_file).policy
    except PolicyError as exc:
        raise ConfigError(f"{policy_file}: not a valid policy: " + "; ".join(map(str, exc.problems))) from None
    return sorted({t for r in policy.rules if r.action != "cloud" for c in r.when.entities for t in c.types})


def one(db: Database, record_id: str) -> dict[str, Any] | None:
    """One audit record by its id, as `records` gives it."""
    return next(_as_records(db.fetchall(f"{_SELECT} WHERE id = ?", (record_id,))), None)


def _destination(record: dict[str, Any], entity: str) -> str:
    if record["route"] in ("blocked", "onprem"):
        return record["route"]
    if record["route"] is None:  # refused before any upstream (a budget, a bad request)
        return "not_sent"
    return "redacted" if record["pseudonymized"].get(entity) else "cloud_in_clear"
