"""Anthropic's Messages API under `/anthropic`, through the same pipeline as chat completions.

The cloud route forwards the client's body to DeepSeek's Anthropic endpoint as it came
(byte for byte unless values were pseudonymized); the on-prem route translates to OpenAI's
chat API and back, event by event when streaming, or, for an engine that serves the
Messages API itself (`onprem.messages_api: native`), sends it the body under its served
model name. `MESSAGES` is the pipeline's `Shape`.
"""
from .errors import error_body
from .request import MessagesRequest, parse_messages
from .shape import CLOUD_PATH, MESSAGES, ONPREM_PATH

__all__ = ["CLOUD_PATH", "MESSAGES", "ONPREM_PATH", "MessagesRequest", "error_body", "parse_messages"]
