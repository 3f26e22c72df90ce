"""The HTTP protocol `r1gate serve` runs: uvicorn's, with deadlines for slow clients and a
bound on open connections (the `serve:` settings).

uvicorn closes idle keep-alive connections but waits for ever on a client that sends its
headers or body a byte at a time, and accepts any number of connections. Here a request
must have sent its headers within `header_timeout_s` of its first byte (or of the
connection, for the first request), and its body within `body_timeout_s` after that;
past `max_connections` a new connection is closed at once.
"""
from __future__ import annotations

import asyncio
import functools
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import config


@functools.cache
def _settings() -> config.ServeSettings:
    # Loaded in each worker process, from the settings `r1gate serve` validated.
    return config.load(os.environ.get("R1GATE_CONFIG") or None).serve


class GuardedProtocol(HttpToolsProtocol):
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > _settings().max_connections:
            transport.close()
            return
        self._arm(_settings().header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(_settings().header_timeout_s)

    def on_headers_complete(self) -> None:
        self._arm(_settings().body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
