"""Public IP addresses. Private, loopback, link-local and documentation ranges identify no one."""
from __future__ import annotations

import ipaddress
import re
from typing import Iterator

from ..hit import Hit

_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                   r"(?:/\d{1,2})?(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?:[0-9A-Fa-f:]*)(?![\w:])")
# "version 10.2.0.1" is a build number, not a host.
_VERSION_CUE = re.compile(r"(?i)(?:version|release|build|\bv|\bver)\.?\s*$")


class IpDetector:
    name = "ip"
    entities = frozenset({"IP_ADDRESS"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for pattern in (_IPV4, _IPV6):
            for m in pattern.finditer(text):
                try:
                    addr = ipaddress.ip_interface(m.group()).ip
                except ValueError:
                    continue
                if not addr.is_global or _VERSION_CUE.search(text[max(0, m.start() - 12):m.start()]):
                    continue
                yield Hit("IP_ADDRESS", m.start(), m.end(), 0.7, "ip")
