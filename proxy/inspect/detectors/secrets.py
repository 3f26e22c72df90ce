"""Credentials: provider tokens with a recognisable shape, private keys, passwords in
connection strings, and high-entropy values assigned to a password/secret/token name."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterator

from ..hit import Hit

# (detector name, pattern): shapes documented by each provider; the prefix makes them precise.
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx)) for name, rx in (
    ("aws-access-key", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("aws-secret-key", r"(?i)aws.{0,20}?(?:secret|private).{0,20}?['\"=:\s]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    ("gitlab-token", r"\bgl(?:pat|dt|rt|ptt|cbt|oas|ft|imt|agent|soat|ffct)-[A-Za-z0-9_\-]{20,64}"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack-webhook", r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    ("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("openai-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}"),
    ("anthropic-key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    ("generic-sk-key", r"\bsk-[A-Za-z0-9]{32,}\b"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("sendgrid-key", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    ("twilio-key", r"\bSK[0-9a-f]{32}\b"),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi-token", r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
    ("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("azure-storage-key", r"(?i)AccountKey=[A-Za-z0-9+/]{80,}={0,2}"),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    ("bearer-token", r"(?i)\bbearer\s+[A-Za-z0-9_\-.=+/]{24,}"),
    ("basic-auth-url", r"\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@'\"]{1,64}:[^\s@/'\"]{3,128}@[\w.\-]+"),
))
# The whole block when it is complete, so that a later redaction removes the key body too.
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,-]*?"
                          r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?|PuTTY-User-Key-File-\d")
# `password = "…"`, `api_key: …`, `"secret": "…"`, `mot de passe : …`, `my password is …`.
_ASSIGNMENT = re.compile(
    r"(?i)(?P<name>\b[\w.\-]*(?:pass(?:word|wd|phrase)?(?!port)|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret|auth|credentials?)[\w.\-]*|mot de passe|mdp|passe)[\"']?"
    r"(?:\s*(?:[:=]{1,2}|=>)|(?:\s+[\w'’-]+){0,4}?\s+(?:is|est|was|était|reste|:)(?!\w))"
    r"\s*(?P<q>[\"'`]?)(?P<value>[^\s\"'`,;)}\]]{4,200})(?P=q)")
# Values that are obviously not a secret: a lookup, a template, a placeholder.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$\{?\w+\}?|\{\{.*\}\}|%\(?\w*\)?s?|<[^>]*>|\*+|x+|\.+|(?:your|my|the|some|example|dummy|fake|"
    r"changeme|change_me|redacted|placeholder|secret|password|token|none|null|true|false|undefined|todo|tbd|"
    r"required|optional|string|str|bytes|int|env|os\.environ|process\.env|getenv|settings|config|self|"
    r"vault|input|prompt|here|xxx|test|admin|default)\b.*|.*(?:environ|getenv|process\.env|\(\)|\]|\[|\().*)$")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.\-]*")
_DIGIT_OR_SYMBOL = re.compile(r"[\d!@#$%^&*+=?~]")


def _entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


class SecretDetector:
    name = "secrets"
    entities = frozenset({"SECRET", "PRIVATE_KEY"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _PRIVATE_KEY.finditer(text):
            yield Hit("PRIVATE_KEY", m.start(), m.end(), 1.0, "secrets.private-key")
        for name, pattern in _TOKENS:
            for m in pattern.finditer(text):
                if "EXAMPLE" in m.group().upper():  # vendors' documented samples (AKIA…EXAMPLE)
                    continue
                yield Hit("SECRET", m.start(), m.end(), 0.95, f"secrets.{name}")
        for m in _ASSIGNMENT.finditer(text):
            if _looks_secret(m.group("value")):
                yield Hit("SECRET", m.start("value"), m.end("value"), 0.85, "secrets.assignment")


def _looks_secret(value: str) -> bool:
    if _PLACEHOLDER.match(value) or (value.isdigit() and len(value) < 10):  # max_tokens = 100000
        return False
    if _IDENTIFIER.fullmatch(value):  # a variable or constant name: a reference, not the secret
        return _entropy(value) >= 3.5 and len(value) >= 16 and not value.isupper()
    # A human password ("hunter2", "Soleil2024!") has digits or symbols; a random one, entropy.
    return (len(value) >= 6 and bool(_DIGIT_OR_SYMBOL.search(value))) or (_entropy(value) >= 3.5 and len(value) >= 12)
