"""Findings per text, keyed by a keyed hash of the text (invariant 4: the cache never holds a
text, and without the key nobody can test whether a given text was seen)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict

from .hit import Hit


class FindingsCache:
    def __init__(self, max_entries: int = 50_000, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[Hit, ...]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def key(self, namespace: str, text: str) -> bytes:
        return hmac.new(self._key, f"{namespace}\0{text}".encode("utf-8", "surrogatepass"),
                        hashlib.sha256).digest()

    def get(self, key: bytes) -> tuple[Hit, ...] | None:
        hits = self._entries.get(key)
        if hits is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        return hits

    def put(self, key: bytes, hits: tuple[Hit, ...]) -> None:
        if self._max <= 0:
            return
        self._entries[key] = hits
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
