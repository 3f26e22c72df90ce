"""Text in, findings out: the inspection of one text, in the calling process.

Deobfuscate (evasions), pick the language, run every registered detector that knows it over
bounded pieces, drop what the allow list covers, a phone number read inside an account or
card number, dummy numbers ("123456789"), and values published as examples where the text frames them as examples
(`examples.py`), turn public figures and other
public names into PUBLIC_NAME (`public_names.py`), and map spans back to the original text.
`pool.py` runs this off the event loop; the CLI and tests may call it directly.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from .chunks import chunks
from .deobfuscate import deobfuscate
from .examples import dummy_number, published
from .given_names import common_words, first_names, surnames
from .detectors.custom import CustomDetector
from .hit import Detector, Hit
from .lang import detect_language
from .languages import Languages
from .ner import NerModels
from .public_names import PublicNames
from .registry import REGISTRY, Registered, Resources
from .settings import DetectorSettings
from .tagger import NameTagger


class Inspector:
    def __init__(self, settings: DetectorSettings, ner: NerModels | None = None,
                 registry: Sequence[Registered] = REGISTRY) -> None:
        self.settings = settings
        self._languages = [code for code, _ in settings.languages]
        self._ner = ner if ner is not None else NerModels(dict(settings.languages))
        languages = Languages(self._languages)
        self._tagger = NameTagger()
        resources = Resources(settings, languages, self._ner, self._tagger)
        # (languages it knows or None for any, detector)
        self._detectors: list[tuple[frozenset[str] | None, Detector]] = [
            (entry.languages, entry.build(resources)) for entry in registry]
        if settings.custom:
            self._detectors.append((None, CustomDetector(settings.custom)))
        self._allow = _alternation(settings.allow)
        self._public = PublicNames(languages)

    def _example(self, hit: Hit, text: str) -> bool:
        """A value the text frames as an example: a published one wherever the words that say so
        stand (a question, then the test code holding "the sample IBAN"), an address on an
        example street ("123 Test Street"), or an identifier made of a dummy pattern near them."""
        value = text[hit.start:hit.end]
        if published(value) or published(_token(text, hit.start, hit.end)):  # or a part of one: a JWT's header
            return self._public.framed_as_example(text, 0, len(text))
        if hit.entity == "STREET_ADDRESS":
            return self._public.framed_as_example(value, 0, len(value))
        return hit.entity not in _NOT_NUMBERS and dummy_number(value) and self._public.framed_as_example(
            text, hit.start, hit.end)

    def warm_up(self) -> None:
        """Loads the models and the word lists now, not during the first request that needs them."""
        self._ner.warm_up()
        self._tagger.warm_up()
        first_names()
        surnames()
        for code in self._languages:
            common_words(code)

    def inspect(self, text: str) -> list[Hit]:
        """Every finding in `text`, spans in the original text, long texts piece by piece."""
        return merge(self.inspect_piece(piece, offset) for offset, piece in chunks(text))

    def inspect_piece(self, piece: str, offset: int = 0) -> list[Hit]:
        clear = deobfuscate(piece)
        lang = detect_language(clear.text, self._languages)
        allowed = [m.span() for m in self._allow.finditer(clear.text)] if self._allow else []
        found = [hit for languages, detector in self._detectors if languages is None or lang in languages
                 for hit in detector.detect(clear.text, lang)
                 if hit.end > hit.start and not any(a <= hit.start and hit.end <= b for a, b in allowed)]
        found = [hit for hit in _outside_accounts(found) if not (hit.entity in _NEVER_ISSUED and dummy_number(
            clear.text[hit.start:hit.end])) and not self._example(hit, clear.text)]
        hits: list[Hit] = []
        for hit in self._public.judge(clear.text, found, lang):
            start, end = clear.span(hit.start, hit.end)
            hits.append(Hit(hit.entity, start + offset, end + offset, hit.score, hit.detector))
        return hits


_TOKEN = 1000
_NON_SPACE = re.compile(r"\S*")
_ACCOUNTS = frozenset({"IBAN_CODE", "CREDIT_CARD"})
# No network assigns a dummy phone or card number ("600 000 000", "4111 1111 1111 1111"); a
# register may have issued a dummy-looking identifier ("12345678Z"): that one is dropped only
# where the text frames it as an example, and "123456" stays a (weak) password.
_NEVER_ISSUED = frozenset({"PHONE_NUMBER", "CREDIT_CARD"})
_NOT_NUMBERS = frozenset({"SECRET", "EMAIL_ADDRESS", "PERSON", "PUBLIC_NAME", "STREET_ADDRESS"})


def _token(text: str, start: int, end: int) -> str:
    """The run of non-space characters that holds text[start:end], up to `_TOKEN` either side
    (a published token is short; a blob is not one)."""
    space = max(text.rfind(c, max(0, start - _TOKEN), start) for c in " \t\r\n")
    after = _NON_SPACE.match(text, end, end + _TOKEN)
    return text[space + 1 if space >= 0 else max(0, start - _TOKEN):after.end() if after else end]


def _outside_accounts(hits: list[Hit]) -> list[Hit]:
    """Without the phone numbers read inside an IBAN or a card number: pieces of it."""
    accounts = [(h.start, h.end) for h in hits if h.entity in _ACCOUNTS]
    return [h for h in hits if h.entity != "PHONE_NUMBER" or not any(a <= h.start and h.end <= b for a, b in accounts)]


def merge(groups: Iterable[list[Hit]]) -> list[Hit]:
    """One hit per (entity, span), the best score kept; overlapping pieces report some twice."""
    best: dict[tuple[str, int, int], Hit] = {}
    for hits in groups:
        for hit in hits:
            key = (hit.entity, hit.start, hit.end)
            if key not in best or best[key].score < hit.score:
                best[key] = hit
    return sorted(best.values(), key=lambda h: (h.start, h.end, h.entity))


def _alternation(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = sorted((r"\s+".join(map(re.escape, t.split())) for t in terms), key=len, reverse=True)
    return re.compile(rf"(?i)(?<![\w])(?:{'|'.join(parts)})(?![\w])")
