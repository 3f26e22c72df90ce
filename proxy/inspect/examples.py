"""Values that documentation publishes as examples (`data/examples.txt`): the SEPA example
IBANs, the card networks' test numbers, the AWS and jwt.io sample keys, the phone ranges kept
for fiction. They are nobody's data where the text frames them as examples ("the sample IBAN",
"Stripe test card"), wherever in the text it does; the inspector then drops them. Elsewhere they
count: someone may have typed one as theirs.

Numbers made of a pattern anyone types as a dummy (`600 000 000`, `+351 900 000 000`, `123456789`,
`01 02 03 04 05`, `4242 4242 4242 4242`) are no one's wherever they stand: no register issues them."""
from __future__ import annotations

import re
from functools import lru_cache

from .data_files import word_list

# Documentation domains, where no one receives mail: the names RFC 2606/6761 reserve, and by
# convention "example" in the seven languages before any top-level domain.
EXAMPLE_DOMAIN = re.compile(
    r"(?i)(?:^|\.)(?:(?:example|exemple|beispiel|ejemplo|esempio|voorbeeld|exemplo)(?:\.[a-z]{2,6}){1,2}|example|test|invalid|localhost)$")
_EXAMPLE_ADDRESS = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_COUNTRY_CODE = re.compile(r"^\s*(?:\+|00)\d{1,3}[\s.\-]+")
# The ranges kept for fiction: North America's 555-0100 to 0199, Ofcom's drama numbers,
# ARCEP's numbers for audiovisual works (01 99 00 xx xx, 02 61 91, 03 53 01, 04 65 71,
# 05 36 49, 06 39 98).
_FICTIONAL = re.compile(r"(?:(?:\+|00)?1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?555[\s.\-]?01\d\d"
                        r"|(?:(?:\+|00)44\s?|0)(?:7700\s?900\d{3}|20\s?7946\s?0\d{3}|113\s?496\s?0\d{3})"
                        r"|(?:(?:\+|00)33\s?|0)(?:1[\s.]?99[\s.]?00|2[\s.]?61[\s.]?91|3[\s.]?53[\s.]?01|4[\s.]?65[\s.]?71"
                        r"|5[\s.]?36[\s.]?49|6[\s.]?39[\s.]?98)(?:[\s.]?\d\d){2}")


@lru_cache(maxsize=1)
def _examples() -> frozenset[str]:
    return word_list("examples.txt")


def published(value: str) -> bool:
    """Whether `value`, compacted to its letters and digits, is a published example, or a phone
    number of a range kept for fiction (`555-0142`; generators of test data use them too)."""
    return _NOT_ALNUM.sub("", value).upper() in _examples() or bool(_FICTIONAL.fullmatch(value.strip()))


def dummy_number(value: str) -> bool:
    """Whether `value` is a number of at least six digits (and at most two letters, a check
    letter) whose digits are one repeated after a prefix of up to two (and, eight times or
    more, before a suffix of up to two: `4000 0000 0000 0002`), a repeated pair, or a count up
    or down in steps of one, digit by digit or pair by pair."""
    national = _COUNTRY_CODE.sub("", value, count=1)  # "+34 600 000 000": the number after the country's code
    if national != value and dummy_number(national):
        return True
    compact = _NOT_ALNUM.sub("", value)
    digits = "".join(c for c in compact if c.isdigit())
    if len(digits) < 6 or len(compact) - len(digits) > 2:
        return False
    if any(_one_digit(digits[k:len(digits) - j], suffix=j > 0) for k in (0, 1, 2) for j in (0, 1, 2)) \
            or digits == (digits[:2] * len(digits))[:len(digits)]:
        return True
    return any(_counts(digits, width) for width in (1, 2))


def _one_digit(run: str, suffix: bool) -> bool:
    """One digit over and over; eight times at least where a suffix follows it."""
    return len(set(run)) == 1 and (not suffix or len(run) >= 8)


def _counts(digits: str, width: int) -> bool:
    """Whether `digits`, cut in groups of `width`, count up or down by one (mod 10 ** width)."""
    groups = [int(digits[i:i + width]) for i in range(0, len(digits), width)]
    steps = {(b - a) % 10 ** width for a, b in zip(groups, groups[1:])}
    return len(digits) % width == 0 and steps in ({1}, {10 ** width - 1})


def example_address(text: str) -> bool:
    """Whether `text` holds an e-mail address at a documentation domain."""
    return any(EXAMPLE_DOMAIN.search(m.group(1)) for m in _EXAMPLE_ADDRESS.finditer(text))
