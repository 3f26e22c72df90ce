"""Values in a table's column whose header says what they are: the names under `name` /
`Nachname` / `nome`, the numbers under `employee_id` / `n_func` / `patient` (CSV, TSV, a
Markdown or psql table, a query result piped back by a tool). A form field says it on each
line (`name_shapes.py`); a table says it once, in its header."""
from __future__ import annotations

import re
from typing import Iterator

import regex

from ..hit import Hit
from ..languages import Languages
from .national_ids import person_number_labels

_SEPARATORS = ("|", "\t", ";", ",")
_NAME_CELL = regex.compile(r"\p{Lu}[\p{L}'’.-]+(?:\s+\p{Lu}?[\p{L}'’.-]+){1,3}")  # two to four words
_NUMBER_CELL = re.compile(r"[A-Za-z]{0,4}[-/ ]?\d[\d.\-/]*")  # "EMP 3318", "P-2231"
_MIN_DIGITS = 4


class TableColumnDetector:
    name = "table"
    entities = frozenset({"PERSON", "PATIENT_ID", "EMPLOYEE_ID"})

    def __init__(self, languages: Languages) -> None:
        self._name_labels = frozenset(label.lower() for label in languages.entries("form_labels"))
        self._numbers = person_number_labels()

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        if text.count("\n") < 1:
            return
        lines = _lines(text)
        for i, (start, line) in enumerate(lines[:-1]):
            sep = next((s for s in _SEPARATORS if line.count(s) >= 1), None)
            if sep is None:
                continue
            header = [_label(cell) for cell in line.split(sep)]
            kinds = {k: self._kind(label) for k, label in enumerate(header)}
            if not any(kinds.values()):
                continue
            for row_start, row in lines[i + 1:]:
                cells = row.split(sep)
                if len(cells) != len(header):
                    break  # the table ended (or this was no header)
                offset = row_start
                for k, cell in enumerate(cells):
                    value = cell.strip()
                    kind, at = kinds.get(k), offset + cell.find(value) if value else offset
                    offset += len(cell) + len(sep)
                    if kind == "PERSON" and _NAME_CELL.fullmatch(value):
                        yield Hit("PERSON", at, at + len(value), 0.8, "table.name-column")
                    elif kind and kind != "PERSON" and _NUMBER_CELL.fullmatch(value) \
                            and sum(c.isdigit() for c in value) >= _MIN_DIGITS:
                        yield Hit(kind, at, at + len(value), 0.85, "table.number-column")
            return  # one header per text is enough to read its table

    def _kind(self, label: str) -> str | None:
        if label in self._name_labels:
            return "PERSON"
        return next((entity for entity, labels in self._numbers if label in labels), None)


def _label(cell: str) -> str:
    """A header cell as a label: `"Employee_ID"` → `employee id`."""
    return " ".join(cell.strip().strip("\"'`*").lower().replace("_", " ").split())


def _lines(text: str) -> list[tuple[int, str]]:
    """Each line with where it starts; Markdown rules (`|---|---|`) left out."""
    out, start = [], 0
    for line in text.split("\n"):
        if line.strip() and not re.fullmatch(r"[\s|:+-]+", line):
            out.append((start, line))
        start += len(line) + 1
    return out
