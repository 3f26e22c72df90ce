"""Console sessions and CSRF tokens, signed with a key every replica shares.

The session cookie holds the admin key's id, an expiry and a nonce, signed; never the key.
Each request re-reads the key's row, so a revoked key or one that lost admin rights ends
its sessions at once. A form's CSRF token is an HMAC of the session cookie (or, before
sign-in, of a random pre-session cookie): a page on another site can neither read it nor
make it.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from ..db import Database
from ..keys import Principal

SESSION = "r1gate_console"
PRESESSION = "r1gate_console_pre"  # what the sign-in form's CSRF token is bound to
TTL_S = 8 * 3600


class Sessions:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._key = db.deployment_value("console_secret", lambda: secrets.token_hex(32)).encode()

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, key_id: str) -> str:
        """A new session's cookie; the nonce makes each session's CSRF token its own."""
        payload = f"{key_id}.{int(time.time()) + TTL_S}.{secrets.token_hex(8)}"
        return f"{payload}.{self._sign('session|' + payload)}"

    def admin_of(self, cookie: str | None) -> Principal | None:
        """The admin key a valid, unexpired session cookie names, if it is still an active
        admin key; else None. Blocking (one database read)."""
        if not cookie or cookie.count(".") != 3:
            return None
        payload, _, signature = cookie.rpartition(".")
        key_id, expiry, _ = payload.split(".")
        if not hmac.compare_digest(signature, self._sign(f"session|{payload}")):
            return None
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        row = self._db.fetchone("SELECT team, budget_usd, admin, revoked_at FROM api_keys WHERE id = ?", (key_id,))
        if row is None or not row[2] or row[3] is not None:
            return None
        return Principal(key_id, row[0], row[1], admin=True)

    def csrf(self, bound_to: str) -> str:
        return self._sign("csrf|" + bound_to)

    def csrf_ok(self, bound_to: str | None, token: str | None) -> bool:
        return bool(bound_to and token) and hmac.compare_digest(self.csrf(bound_to or ""), token or "")
