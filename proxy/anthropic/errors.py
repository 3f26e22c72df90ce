"""Errors in Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`, with the
gateway's status codes, which the Anthropic SDKs map to their exception classes."""
from __future__ import annotations

from typing import Any

from ..errors import GatewayError

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
          403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
          503: "overloaded_error", 529: "overloaded_error"}


def error_body(error: GatewayError) -> dict[str, Any]:
    kind = _TYPES.get(error.status) or ("invalid_request_error" if error.status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}
