"""Structured logs: one JSON object per line, one line per request, never prompt text.

Only fields the gateway itself produced go in a line (ids, route, rule ids, counts,
timings): nothing from a prompt or an answer, and no key material (invariants 4, 8).
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

logger = logging.getLogger("r1gate")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "event": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        return json.dumps(line, separators=(",", ":"), default=str)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields})


def request(exchange: Any) -> None:
    """The request's line, from its `chat.Exchange`."""
    req, decision, answer, failure = exchange.request, exchange.decision, exchange.answer, exchange.failure
    usage = (answer.usage if answer else None) or {}
    event("request",
          request_id=exchange.request_id,
          team=exchange.principal.team if exchange.principal else None,
          key_id=exchange.principal.key_id if exchange.principal else None,
          model=req.model if req else None, stream=req.stream if req else False, route=exchange.route,
          action=decision.action if decision else None,
          rules=list(decision.rules) if decision else [],
          entities=dict(decision.entity_counts) if decision else {},
          policy_version=decision.policy_version if decision else None,
          upstream_model=answer.upstream_model if answer else None, status=exchange.status,
          error=failure.code if failure else None, cache=exchange.cache,
          latency_ms=round((time.monotonic() - exchange.started) * 1000, 2),
          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
          reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
