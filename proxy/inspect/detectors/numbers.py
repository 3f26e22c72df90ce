"""Numbers that identify a person: phone numbers, French NIR, card numbers, SIREN/SIRET, US SSN.

Rather than one regex per format (which separators defeat), every run of digits with
separators is collected once and classified by digit count, prefix and check digit. A run
glued to letters (hashes, UUIDs, `v1.2.3`) is not a number a person would be identified by.
"""
from __future__ import annotations

import re
from typing import Iterator

from ..checksums import luhn_ok, nir_ok
from ..hit import Hit

# Digits joined by up to three separators ("06 12 34 56 78", "+33 (0)4 72…", "4111-1111…").
_RUN = re.compile(r"(?<![\w.,/-])(?:\+|00)?\(?\d(?:(?:[ .\-/\u00a0\u2009]|\(0\)|[()]){0,3}\d)*\)?"
                  r"(?:\s?(?:x|ext\.?|poste)\s?\d{1,5})?(?![\w])")  # extensions: "…-3010x792"
# A long number alone in a CSV or table field ("TX-77120,6011038475629105,64.90"): the run
# above skips numbers after a comma, which "1,234,567" writes inside one.
_FIELD = re.compile(r"(?<=[,;|\t])\d{12,19}(?=[,;|\t\r\n]|$)", re.M)
_EXTENSION = re.compile(r"\s?(?:x|ext\.?|poste)\s?\d{1,5}$")
# Corsican NIRs hold a letter (2A, 2B), so no digit run sees them whole.
_NIR_CORSICA = re.compile(r"(?<![\w])[12]\s?\d{2}\s?\d{2}\s?2[AB]\s?\d{3}\s?\d{3}\s?\d{2}(?![\w])", re.IGNORECASE)
_GROUP = re.compile(r"\d+")
_PHONE_CUES = re.compile(r"(?i)\b(?:t[ée]l(?:[ée]phone)?|phone|mobile|cell|portable|fax|call|appel\w*|"
                         r"num[ée]ro|number|joindre|reach|whatsapp|sms|text|texto|astreinte|hotline|standard|m[óo]vil|cellulare|telemóvel)\b")
_NIR_CUES = re.compile(r"(?i)(?:\bNIR\b|s[ée]curit[ée] sociale|\bs[ée]cu\b|\bINSEE\b|social security|carte vitale)")
# Words that announce a reference number, which a bare run of digits then most likely is.
_REFERENCE_CUES = re.compile(r"(?i)(?:\border|commande|n°|nº|\bno\.|\bnr\b|#|\bref|réf|invoice|facture|ticket|tracking|"
                             r"suivi|\bid\b|\blot\b|batch|serial|isbn|dossier|contrat|contract|"
                             r"rechnung|bestell|auftrag|kunden|sendung|vorgang|aktenzeichen|pedido|factura|albar[aá]n|"
                             r"expediente|encomenda|fatura|fattura|ordine|pratica|bestelling|factuur|klant)\W{0,3}\w{0,12}\W{0,3}$")
_SSN_CUES = re.compile(r"(?i)\b(?:SSN|social security|tax id|TIN|ITIN)\b")
_SIREN_CUES = re.compile(r"(?i)\b(?:SIREN|SIRET|RCS|Kbis)\b")
# Issuer prefixes of payment cards (Visa, Mastercard, Amex, Discover, JCB, Diners, CB/Maestro).
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9]|2)|35|3(?:0[0-5]|[68])|"
                          r"5[06-9]|6|2131|1800)")
# Maestro numbers may be as short as 12 digits; only its own issuer prefixes then.
_MAESTRO_PREFIX = re.compile(r"^(?:5018|5020|5038|5[6-8]\d\d|6304|6759|676[1-3]|0604|6390)")
_CUE_WINDOW = 48
_PT_MOBILE = ("91", "92", "93", "96")


class NumberDetector:
    name = "numbers"
    entities = frozenset({"PHONE_NUMBER", "FR_NIR", "CREDIT_CARD", "FR_SIREN", "FR_SIRET", "US_SSN"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _NIR_CORSICA.finditer(text):
            if nir_ok(re.sub(r"\s", "", m.group())):
                yield Hit("FR_NIR", m.start(), m.end(), 0.95, "numbers.nir")
        for m in _RUN.finditer(text):
            number = m.group()
            extension = _EXTENSION.search(number)
            if extension:
                number = number[:extension.start()]
            groups = [(g.start() + m.start(), g.end() + m.start()) for g in _GROUP.finditer(number)]
            hit = None
            for hit in self._classify_windows(text, groups, number.startswith("+"), m.start()):
                if extension and hit.entity == "PHONE_NUMBER" and hit.end == groups[-1][1]:
                    hit = Hit(hit.entity, hit.start, m.end(), hit.score, hit.detector)
                yield hit
        for m in _FIELD.finditer(text) if any(c in text for c in ",;|\t") else ():
            if _card(m.group()):
                yield Hit("CREDIT_CARD", m.start(), m.end(), 0.9, "numbers.card")

    def _classify_windows(self, text: str, groups: list[tuple[int, int]], plus: bool,
                          run_start: int) -> Iterator[Hit]:
        # The whole run first; only if it means nothing, its sub-runs (two numbers side by side).
        hit = self._classify(text, groups, plus, run_start)
        if hit:
            yield hit
            return
        if len(groups) < 3 or len(groups) > 24 or _REFERENCE_CUES.search(text[max(0, run_start - _CUE_WINDOW):run_start]):
            return  # an ISBN or an order number cut into pieces is no phone number
        i = 0
        while i < len(groups):
            for j in range(len(groups), i, -1):
                if (i, j) == (0, len(groups)):
                    continue
                hit = self._classify(text, groups[i:j], plus and i == 0, groups[i][0])
                if hit:
                    yield hit
                    i = j - 1
                    break
            i += 1

    def _classify(self, text: str, groups: list[tuple[int, int]], plus: bool,
                  start: int) -> Hit | None:
        end = groups[-1][1]
        digits = "".join(text[a:b] for a, b in groups)
        sizes = [b - a for a, b in groups]
        n = len(digits)
        if n < 9:  # no identifier here is shorter: spare the checks below
            return None
        before = text[max(0, start - _CUE_WINDOW):start]
        separators = {text[a:b] for (_, a), (b, _) in zip(groups, groups[1:])}
        if "." in separators and len(set(sizes[:-1])) > 1:
            return None  # "10.0.19045.3693", "4.12.3": a version; dotted numbers come in even groups
        if plus or (digits.startswith("00") and 11 <= n <= 17 and len(groups) > 1):
            if 9 <= n - (2 if digits.startswith("00") else 0) <= 15 and (plus or len(groups) > 1):
                return Hit("PHONE_NUMBER", start, end, 0.85, "numbers.phone-intl")
            return None
        if n == 15 and nir_ok(digits):
            return Hit("FR_NIR", start, end, 0.95, "numbers.nir")
        if n == 13 and digits[0] in "12" and _NIR_CUES.search(before):
            return Hit("FR_NIR", start, end, 0.7, "numbers.nir-no-key")
        if _card(digits):
            return Hit("CREDIT_CARD", start, end, 0.9, "numbers.card")
        if n == 10 and digits[0] == "0" and digits[1] != "0" and (len(groups) == 1 or set(sizes) == {2}):
            return Hit("PHONE_NUMBER", start, end, 0.8, "numbers.phone-national")
        if n in (10, 11) and (sizes in ([3, 3, 4], [1, 3, 3, 4]) or _PHONE_CUES.search(before)):
            if digits[-10] in "23456789" and (n == 10 or digits[0] == "1"):
                return Hit("PHONE_NUMBER", start, end, 0.75, "numbers.phone-nanp")
        if digits[0] == "0" and digits[1] != "0" and 9 <= n <= 12 and sizes[0] >= 2 and (
                len(groups) > 1 or _PHONE_CUES.search(before) or (n == 11 and not _REFERENCE_CUES.search(before))):
            return Hit("PHONE_NUMBER", start, end, 0.6, "numbers.phone-national")
        if n == 10 and len(groups) == 1 and digits[0] in "23456789" and digits[3] in "23456789" \
                and not _REFERENCE_CUES.search(before):
            return Hit("PHONE_NUMBER", start, end, 0.55, "numbers.phone-nanp-bare")
        if n == 9 and sizes == [3, 2, 4] and digits[:3] not in ("000", "666") and digits[0] != "9":
            if _SSN_CUES.search(before) or text[groups[0][1]] == "-":
                return Hit("US_SSN", start, end, 0.8, "numbers.ssn")
        # Spanish and Portuguese mobiles are written without a trunk zero: "612 345 678", "612 34
        # 56 78" (Spain: 6 or 7), "912 345 678" (Portugal: 91, 92, 93, 96).
        mobile = digits[0] in "67" or digits[:2] in _PT_MOBILE
        if n == 9 and sizes in ([3, 3, 3], [3, 2, 2, 2]) and mobile and (_PHONE_CUES.search(before) or not (
                luhn_ok(digits) or _SIREN_CUES.search(before) or _REFERENCE_CUES.search(before))):
            return Hit("PHONE_NUMBER", start, end, 0.6, "numbers.phone-mobile-no-trunk")
        if n == 14 and luhn_ok(digits):
            return Hit("FR_SIRET", start, end, 0.7 if _SIREN_CUES.search(before) else 0.5, "numbers.siret")
        if n == 9 and luhn_ok(digits) and (sizes == [3, 3, 3] or _SIREN_CUES.search(before)):
            return Hit("FR_SIREN", start, end, 0.7 if _SIREN_CUES.search(before) else 0.5, "numbers.siren")
        return None


def _card(digits: str) -> bool:
    """A payment card's number: an issuer's prefix, a card's length and Luhn's check digit."""
    n = len(digits)
    return bool(13 <= n <= 19 and _CARD_PREFIX.match(digits) or 12 <= n <= 19 and _MAESTRO_PREFIX.match(digits)) \
        and luhn_ok(digits)
