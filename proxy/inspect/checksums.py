"""Check digits that turn a run of digits into a credible identifier (and most random runs away)."""
from __future__ import annotations

# IBAN length per country (ISO 13616 registry, EU/EEA and neighbours).
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23, "GL": 18, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "VA": 22, "MA": 28, "TN": 24, "TR": 26, "UA": 29, "RS": 22, "BA": 20,
    "ME": 22, "MK": 19, "AL": 28, "XK": 20, "MD": 24, "GE": 22, "IL": 23, "AE": 23, "SA": 24,
    "BR": 29, "LB": 28, "QA": 29, "KW": 30, "JO": 30, "PK": 24, "EG": 29, "MU": 30,
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """`iban` without separators, upper case."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    s = iban[4:] + iban[:4]
    try:
        return int("".join(str(int(c, 36)) for c in s)) % 97 == 1
    except ValueError:
        return False


def nir_ok(nir: str) -> bool:
    """A French social security number (NIR): 13 characters and a mod-97 key.

    Corsica's departments 2A/2B count as 19/18 for the key, as INSEE specifies.
    """
    if len(nir) != 15 or nir[0] not in "12378" or not nir[13:].isdigit():
        return False
    body = nir[:5] + {"2A": "19", "2B": "18"}.get(nir[5:7].upper(), nir[5:7]) + nir[7:13]
    if not body.isdigit():
        return False
    month = int(nir[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return 97 - int(body) % 97 == int(nir[13:])
