"""Typed errors of the gateway, and the one place that turns what went wrong upstream into
the client's error; `app.py` maps them to OpenAI-shaped HTTP answers at one edge."""
from __future__ import annotations

from enum import StrEnum
from typing import Sequence

from .routing import Route


class GatewayError(Exception):
    """An error a client may see. `message` must never hold prompt text or key material."""

    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}


class InternalError(GatewayError):
    """A bug: the client learns nothing internal."""

    code = "internal_error"


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class Rejected(InvalidRequest):
    """A request refused before it reached a handler (an unknown method), or by the upstream
    as the client's own mistake: the status is theirs."""

    code = "invalid_request"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Blocked(GatewayError):
    status = 403
    type = "permission_error"
    code = "blocked_by_policy"


class Forbidden(GatewayError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class PathNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class BodyTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class DatabaseDown(GatewayError):
    """What the request needs from the database (a key not seen lately) cannot be read now."""

    status = 503
    code = "database_unavailable"


class QuotaExceeded(RateLimited):
    code = "insufficient_quota"


class UpstreamError(GatewayError):
    """The upstream answered with an error, or could not be used at all."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class ClientGone(GatewayError):
    """The client went away before the whole answer was sent. Nobody reads it; the ledger
    records it (status 499, as nginx logs a closed request) with the usage so far."""

    status = 499
    type = "client_error"
    code = "interrupted"


class ConfigError(Exception):
    """A bad setting: the CLI prints it on one line and exits with code 2."""


class Failure(StrEnum):
    """Why an upstream could not answer."""

    NOT_CONFIGURED = "not_configured"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    HTTP = "http"  # it answered with an error status
    PROTOCOL = "protocol"  # its answer was not what the API promises


def routing_error(status: int, detail: str) -> GatewayError:
    """Starlette's own refusals (no such path, a method the path does not take)."""
    if status == 404:
        return PathNotFound(f"{detail}. This gateway serves POST /v1/chat/completions and GET /v1/models.")
    return Rejected(f"{detail}.", status)


# The client's own mistakes: another upstream would refuse them too, so no fallback.
CLIENT_ERRORS = frozenset({400, 404, 413, 422})


class UpstreamFailure(Exception):
    """What went wrong with one upstream; never shown as is (see `client_error`)."""

    def __init__(self, upstream: str, reason: Failure, *, status: int | None = None,
                 detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        self.status = status
        self.detail = detail  # the upstream's own error message, when it sent one
        self.retry_after = retry_after

    @property
    def clients_fault(self) -> bool:
        return self.reason == Failure.HTTP and self.status in CLIENT_ERRORS


_WHO = {Route.CLOUD: "the cloud upstream", Route.ONPREM: "the on-prem engine"}
_SETTING = {Route.CLOUD: "R1GATE_CLOUD_URL", Route.ONPREM: "R1GATE_ONPREM_URL"}


def client_error(failures: Sequence[UpstreamFailure], *, mid_stream: bool = False,
                 onprem_only: bool = False) -> GatewayError:
    """The client's error for what went wrong upstream (the last failure decides the kind).

    `mid_stream`: the answer had started. `onprem_only`: the request may not go to the cloud,
    which the message says, so that nobody "fixes" it by configuring a cloud key.
    """
    last = failures[-1]
    if last.clients_fault:
        return Rejected(last.detail or f"The upstream rejected the request (HTTP {last.status}).", last.status or 400)
    what = "; ".join(_describe(f) for f in failures)
    if mid_stream:
        cls = UpstreamTimeout if last.reason == Failure.TIMEOUT else UpstreamError
        return cls(f"The answer was interrupted: {what}.")
    retry = {"x-should-retry": "true"}
    if onprem_only:
        return UpstreamUnavailable(
            f"This request must be answered on-prem and is never sent to the cloud, "
            f"but {what}. Try again later.", headers=retry)
    message = f"No upstream could answer: {what}."
    if last.reason == Failure.TIMEOUT:
        return UpstreamTimeout(message, headers=retry)
    if last.reason == Failure.HTTP and last.status == 429:
        after = {"retry-after": f"{last.retry_after:.0f}"} if last.retry_after is not None else {}
        return RateLimited(message, headers={**retry, **after})
    if last.reason in (Failure.UNREACHABLE, Failure.NOT_CONFIGURED) or last.status == 503:
        return UpstreamUnavailable(message, headers=retry)
    return UpstreamError(message)


def _describe(failure: UpstreamFailure) -> str:
    who = _WHO[failure.upstream]
    if failure.reason == Failure.NOT_CONFIGURED:
        return f"{who} is not configured ({failure.detail})"
    if failure.reason == Failure.UNREACHABLE:
        return f"{who} is unreachable (check {_SETTING[failure.upstream]})"
    if failure.reason == Failure.TIMEOUT:
        return f"{who} timed out"
    if failure.reason == Failure.PROTOCOL:
        return f"{who} sent an invalid answer"
    if failure.status in (401, 403):
        # DeepSeek quotes part of the key in its 401 message: never pass that on.
        return f"{who} rejected the gateway's credentials (HTTP {failure.status})"
    if failure.status == 402:
        return f"{who} refused for insufficient balance (HTTP 402)"
    return f"{who} answered HTTP {failure.status}" + (f": {failure.detail}" if failure.detail else "")
