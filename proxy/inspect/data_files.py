"""The inspection's data files (`proxy/inspect/data/`), read from the installed package so
that nothing depends on the working directory."""
from __future__ import annotations

import gzip
import unicodedata
from importlib import resources
from typing import Any

import yaml


def text(name: str) -> str:
    """The file's text; a `.gz` file is decompressed."""
    data = resources.files("proxy.inspect").joinpath(f"data/{name}").read_bytes()
    return (gzip.decompress(data) if name.endswith(".gz") else data).decode("utf-8")


def yaml_data(name: str) -> Any:
    """The file's data, NFKC-normalised as `deobfuscate` normalises the text the detectors read:
    a label written "n.º" matches the "n.o" a text's "n.º" becomes."""
    return yaml.safe_load(unicodedata.normalize("NFKC", text(name)))


def word_list(name: str) -> frozenset[str]:
    """A list of one entry a line; blank lines and lines opening with `#` are left out."""
    return frozenset(line.strip() for line in text(name).splitlines() if line.strip() and not line.startswith("#"))
