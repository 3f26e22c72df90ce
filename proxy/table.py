"""Tables for the terminal, as every `r1gate` command prints them."""
from __future__ import annotations

import re
from typing import Sequence

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns as wide as their widest cell; numbers right-aligned, so digits line up."""
    cells = [[str(x) for x in row] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cells)]
    lines = [list(header), ["-" * w for w in widths], *cells]
    for line in lines:
        print("  ".join(x.rjust(w) if _NUMBER.fullmatch(x) else x.ljust(w)
                        for x, w in zip(line, widths)).rstrip())
