"""Values that documentation publishes as examples (`data/examples.txt`): the SEPA example
IBANs, the card networks' test numbers, the AWS and jwt.io sample keys. They are nobody's
data where the text frames them as examples ("the sample IBAN", "Stripe test card"); the
inspector then drops them. Elsewhere they count: someone may have typed one as theirs."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


@lru_cache(maxsize=1)
def _examples() -> frozenset[str]:
    data = resources.files("proxy.inspect").joinpath("data/examples.txt").read_text("utf-8")
    return frozenset(line.strip() for line in data.splitlines() if line.strip() and not line.startswith("#"))


def published(value: str) -> bool:
    """Whether `value`, compacted to its letters and digits, is a published example."""
    return _NOT_ALNUM.sub("", value).upper() in _examples()
