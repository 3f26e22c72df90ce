"""Anthropic's Messages API under `/anthropic`, through the same pipeline as chat completions.

The cloud route forwards the client's body to DeepSeek's Anthropic endpoint as it came
(byte for byte unless values were pseudonymized); the on-prem route translates to OpenAI's
chat API and back, event by event when streaming. `MESSAGES` is the pipeline's `Shape`.
"""
from .errors import error_body
from .request import MessagesRequest, parse_messages
from .shape import MESSAGES

__all__ = ["MESSAGES", "MessagesRequest", "error_body", "parse_messages"]
