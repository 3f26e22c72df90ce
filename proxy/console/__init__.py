"""The compliance console (`/console`): the gateway's own web pages for compliance staff."""
from .app import console_app

__all__ = ["console_app"]
