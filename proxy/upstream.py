"""An OpenAI-compatible upstream: pooled connections, explicit timeouts, retries.

`open()` returns a streaming response once the upstream has answered 200, after retrying
connect errors, 429 and 5xx with backoff (honouring `retry-after`). Anything else is an
`UpstreamFailure` that says whether falling back to another upstream makes sense.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from typing import AsyncIterator

import httpx
from httpx_aiohttp import AiohttpTransport

from .config import Retries, Timeouts, UpstreamSettings
from .errors import Failure, UpstreamFailure

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class Upstream:
    def __init__(self, name: str, settings: UpstreamSettings, timeouts: Timeouts,
                 retries: Retries, *, required_key_setting: str | None = None,
                 messages_path: str | None = None) -> None:
        self.name = name
        self.url = settings.url
        self.think_tags = settings.think_tags
        # Where it serves Anthropic's Messages API under its base URL; None: only the chat API.
        self.messages_path = messages_path
        self._timeouts = timeouts
        self._retries = retries
        # Set when the upstream cannot work without a key; names the setting to fix.
        self.missing_setting = required_key_setting if not settings.api_key else None
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        limits = httpx.Limits(max_connections=settings.max_connections,
                              max_keepalive_connections=settings.max_connections)
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, trust_env=False,
            # read covers waiting for the first byte too; both are also enforced per phase below
            timeout=httpx.Timeout(connect=timeouts.connect_s, read=max(timeouts.first_byte_s, timeouts.idle_s),
                                  write=timeouts.idle_s, pool=timeouts.connect_s),
            # httpx's API over aiohttp's connection pool: measured 4× the requests per second
            # of httpcore's pool at concurrency 16 on loopback (bench/README.md).
            transport=AiohttpTransport(limits=limits, trust_env=False))

    async def open(self, body: bytes, headers: dict[str, str], deadline: float,
                   path: str = "chat/completions") -> httpx.Response:
        """POST `{base}/{path}`; the 200 response, unread, for the caller to close."""
        if self.missing_setting:
            raise UpstreamFailure(self.name, Failure.NOT_CONFIGURED, detail=f"set {self.missing_setting}")
        attempt = 0
        while True:
            attempt += 1
            failure = await self._try(path, body, headers, deadline)
            if isinstance(failure, httpx.Response):
                return failure
            retryable = failure.reason == Failure.UNREACHABLE or (
                failure.reason == Failure.HTTP and failure.status in RETRYABLE)
            if not retryable or attempt >= self._retries.attempts:
                raise failure
            wait = failure.retry_after if failure.retry_after is not None else (
                self._retries.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0))
            wait = min(wait, self._retries.max_backoff_s)
            if time.monotonic() + wait >= deadline:
                raise failure
            await asyncio.sleep(wait)

    async def _try(self, path: str, body: bytes, headers: dict[str, str],
                   deadline: float) -> httpx.Response | UpstreamFailure:
        request = self._client.build_request("POST", path, content=body, headers=headers)
        try:
            async with asyncio.timeout(min(self._timeouts.first_byte_s, max(deadline - time.monotonic(), 0))):
                response = await self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.RemoteProtocolError) as exc:
            return UpstreamFailure(self.name, Failure.UNREACHABLE, detail=type(exc).__name__)
        except (TimeoutError, httpx.TimeoutException):
            return UpstreamFailure(self.name, Failure.TIMEOUT)
        except httpx.HTTPError as exc:
            return UpstreamFailure(self.name, Failure.UNREACHABLE, detail=type(exc).__name__)
        if response.status_code == 200:
            return response
        try:
            async with asyncio.timeout(self._timeouts.idle_s):
                raw = await response.aread()
        except (TimeoutError, httpx.HTTPError):
            raw = b""
        finally:
            await response.aclose()
        return UpstreamFailure(self.name, Failure.HTTP, status=response.status_code, detail=_error_message(raw),
                               retry_after=_retry_after(response.headers.get("retry-after")))

    async def lines(self, response: httpx.Response, deadline: float) -> AsyncIterator[str]:
        """The response's lines, each within the idle timeout and all before the deadline."""
        iterator = response.aiter_lines().__aiter__()
        while True:
            try:
                async with asyncio.timeout(min(self._timeouts.idle_s, max(deadline - time.monotonic(), 0))):
                    line = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UpstreamFailure(self.name, Failure.TIMEOUT) from None
            except httpx.HTTPError as exc:
                raise UpstreamFailure(self.name, Failure.PROTOCOL, detail=type(exc).__name__) from None
            yield line

    async def read(self, response: httpx.Response, deadline: float) -> bytes:
        parts = [line async for line in self.lines(response, deadline)]
        return "\n".join(parts).encode()

    async def reachable(self) -> bool:
        """`GET {base}/models` answers at all (any status below 500 means it is there)."""
        try:
            response = await self._client.get("models", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    async def aclose(self) -> None:
        await self._client.aclose()


def _error_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("error")
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return str(message)[:300] if message else ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
