"""Bounded pieces of a long text, so that no detector ever sees more than CHUNK characters
(spaCy's cost and memory grow with the text) and pieces can be inspected in parallel.
Pieces overlap by OVERLAP characters, so a value cut by one boundary is whole in a neighbour."""
from __future__ import annotations

CHUNK = 2000
OVERLAP = 200


def chunks(text: str, size: int = CHUNK, overlap: int = OVERLAP) -> list[tuple[int, str]]:
    if len(text) <= size:
        return [(0, text)]
    out: list[tuple[int, str]] = []
    start = 0
    while True:
        end = min(len(text), start + size)
        if end < len(text):
            # Cut at whitespace so the boundary does not split a word in both pieces.
            space = text.rfind(" ", start + size - overlap, end)
            end = space if space > start else end
        out.append((start, text[start:end]))
        if end >= len(text):
            return out
        # The next piece also starts on a word boundary: a fragment of a number is a new number.
        space = text.find(" ", end - overlap, end)
        start = space + 1 if space >= 0 else end
