"""Inspection takes any text a client may send and answers with findings inside it.

An exception here does not reach the client (the router fails closed: on-prem, with
`inspection_failed` logged), so the gateway's own fuzzing cannot see it; it sends a harmless
request on-prem all the same. Texts are built from the pieces the detectors and the
deobfuscation read specially: escapes, Windows paths, invisible and combining characters,
scripts, obfuscated addresses, identifiers and their separators."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

_PIECES = st.sampled_from([
    "\\", "\\u", "\\u00", "\\u00e9", "\\ud83d", "\\ude00", "\\ud83d\\ude00", "\\U0001", "\\n", "\\N", "\\t", "\\T",
    "\\R", "\\\"", "\\/", "C:\\Users\\", "C:\\Temp\\", "/home/", "~/", "../", "\u200b", "\u00ad", "\u202e", "\ufeff",
    "e\u0301", "\u0301", "ﬁ", "１２３", "\U0001f600", "[at]", " (dot) ", " arobase ", "@", ".", ",", ":", ";", "-",
    " ", "\n", "\t", "(", ")", "[", "]", "{", "}", "\"", "'", "=", "FR76", "DE89", "4970", "1234", "0", "+33",
    "06", "12345678Z", "n°", "IBAN", "BSN", "Mr", "Mme", "Dr.", "von", "de", "Anna", "Müller", "anna", "MÜLLER",
    "王小明", "محمد", "Иван", "김민준", "Νίκος", "CONFIDENTIAL", "Classification:", "password=", "sk-", "AKIA",
    "-----BEGIN", "user:", "Bearer ", "https://", "a" * 40, "9" * 30, "Who was", "our colleague", "e-mail",
])


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(pieces=st.lists(_PIECES | st.text(max_size=6), max_size=30))
def test_any_text_is_inspected_without_an_exception(inspector, pieces):
    text = "".join(pieces)
    for hit in inspector.inspect(text):
        assert 0 <= hit.start < hit.end <= len(text), hit
        assert 0 <= hit.score <= 1, hit
