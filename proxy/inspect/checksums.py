"""Check digits that turn a run of digits into a credible identifier (and most random runs away)."""
from __future__ import annotations

from typing import Callable

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
    if not (digits.isascii() and digits.isdigit()):
        return False
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


def mod97_ok(value: str) -> bool:
    """ISO 7064 MOD 97-10 over the whole value, letters counting 10-35 (IBAN, LEI, RF references)."""
    try:
        return int("".join(str(int(c, 36)) for c in value)) % 97 == 1
    except ValueError:
        return False


def es_dni_ok(value: str) -> bool:
    """A Spanish DNI (8 digits and a letter) or NIE (X/Y/Z, 7 digits, a letter): the letter is
    the number modulo 23 in a fixed alphabet."""
    value = value.upper()
    if len(value) != 9:
        return False
    number = {"X": "0", "Y": "1", "Z": "2"}.get(value[0], value[0]) + value[1:8]
    return number.isdigit() and "TRWAGMYFPDXBNJZSQVHLCKE"[int(number) % 23] == value[8]


_CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                   [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20,
                    11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]))
_CF_SHAPE = "LLLLLLDDLDDLDDDL"  # D positions may hold a letter instead (omocodia)


def it_cf_ok(value: str) -> bool:
    """An Italian codice fiscale: 15 characters and a check letter from odd/even position tables."""
    value = value.upper()
    if len(value) != 16 or not (value.isascii() and value.isalnum()) or not all(
            c.isalpha() if k == "L" else c.isdigit() or c in "LMNPQRSTUV" for c, k in zip(value, _CF_SHAPE)):
        return False
    total = sum(_CF_ODD[c] if i % 2 == 0 else int(c) if c.isdigit() else ord(c) - 65
                for i, c in enumerate(value[:15]))
    return chr(65 + total % 26) == value[15]


def de_tax_id_ok(value: str) -> bool:
    """A German Steuer-ID: 11 digits, no leading zero, in the first ten exactly one digit
    repeated (twice, or three times but not in a row), ISO 7064 MOD 11,10 check digit."""
    if len(value) != 11 or not value.isdigit() or value[0] == "0":
        return False
    counts = sorted((value[:10].count(d) for d in set(value[:10])), reverse=True)
    if counts[0] not in (2, 3) or counts[1:2] == [counts[0]] or (counts[0] == 3 and any(
            value[i] == value[i + 1] == value[i + 2] for i in range(8))):
        return False
    product = 10
    for d in value[:10]:
        total = (int(d) + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10 == int(value[10])


def de_id_card_ok(value: str) -> bool:
    """A German identity card (Personalausweis) number: 9 characters of a restricted alphabet
    and a check digit, weights 7-3-1 over the values 0-35 (ICAO 9303)."""
    value = value.upper()
    if len(value) != 10 or not value[-1].isdigit() or any(c not in "0123456789CFGHJKLMNPRTVWXYZ" for c in value[:9]):
        return False
    return sum(int(c, 36) * (7, 3, 1)[i % 3] for i, c in enumerate(value[:9])) % 10 == int(value[9])


def nl_bsn_ok(value: str) -> bool:
    """A Dutch BSN: 9 digits passing the eleven-test (weights 9..2 and -1)."""
    value = value.zfill(9)
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(value, (9, 8, 7, 6, 5, 4, 3, 2, -1))) % 11 == 0


def pt_nif_ok(value: str) -> bool:
    """A Portuguese NIF: 9 digits, a known first digit, mod-11 check digit (10 counts as 0)."""
    if len(value) != 9 or not value.isdigit() or value[0] not in "1235689":
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value, range(9, 1, -1))) % 11
    return (0 if check >= 10 else check) == int(value[8])


def pt_cc_ok(value: str) -> bool:
    """A Portuguese cartão de cidadão number (8 digits, a check digit, 2 characters, a check
    digit): Luhn over the values 0-35 of all twelve."""
    value = value.upper()
    if len(value) != 12 or not value.isascii() or not value[:9].isdigit() or not value[9:11].isalnum() \
            or not value[11].isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(value)):
        d = int(c, 36)
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
    return total % 10 == 0


def be_nrn_ok(value: str) -> bool:
    """A Belgian national register number: YYMMDD, 3-digit serial, and 97 - (the nine digits
    mod 97), with a 2 prefixed for people born from 2000."""
    if len(value) != 11 or not value.isdigit() or int(value[2:4]) % 20 > 12:
        return False
    check = int(value[9:])
    return any(97 - int(prefix + value[:9]) % 97 == check for prefix in ("", "2"))


def at_ssn_ok(value: str) -> bool:
    """An Austrian social insurance number: 3-digit serial, a check digit, birth date DDMMYY;
    weighted sum mod 11 (10 is never issued)."""
    if len(value) != 10 or not value.isdigit() or value[0] == "0":
        return False
    total = sum(int(d) * w for d, w in zip(value, (3, 7, 9, 0, 5, 8, 4, 2, 1, 6))) % 11
    # Months above 12 stand for an unknown birth date.
    return total == int(value[3]) and 1 <= int(value[4:6]) <= 31 and 1 <= int(value[6:8]) <= 15


def ie_pps_ok(value: str) -> bool:
    """An Irish PPS number: seven digits, a check letter (weights 8..2, plus 9 times a second
    letter's rank, mod 23; W stands for 0), and an optional second letter."""
    if len(value) not in (8, 9) or not value[:7].isdigit() or not value[7:].isalpha() or not value.isupper():
        return False
    second = value[8:]
    if second and second not in "ABCDEFGHIW":
        return False
    total = sum(int(d) * w for d, w in zip(value[:7], range(8, 1, -1)))
    total += 9 * (0 if second in ("", "W") else ord(second) - 64)
    return value[7] == "WABCDEFGHIJKLMNOPQRSTUV"[total % 23]


def pl_pesel_ok(value: str) -> bool:
    """A Polish PESEL: eleven digits, a date of birth (the month carries the century) and a
    check digit (weights 1, 3, 7, 9 repeated)."""
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        return False
    month, day = int(value[2:4]) % 20, int(value[4:6])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(value[:10], (1, 3, 7, 9) * 3))
    return (10 - total % 10) % 10 == int(value[10])


def uk_nino_ok(value: str) -> bool:
    """A UK National Insurance number: two prefix letters from the issued set, six digits, a
    suffix A–D. No check character: only the shape and the prefixes never issued."""
    return (len(value) == 9 and value[:2].isalpha() and value[2:8].isdigit() and value[8] in "ABCD"
            and value[0] not in "DFIQUV" and value[1] not in "DFIOQUV"
            and value[:2] not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"))


def es_nss_ok(value: str) -> bool:
    """A Spanish social security number (NSS, número de afiliación): a 2-digit province, the
    serial, and two check digits, mod 97 of the province and serial read together."""
    if len(value) != 12 or not value.isdigit():
        return False
    province, serial, check = int(value[:2]), int(value[2:10]), int(value[10:])
    number = serial + province * 10_000_000 if serial < 10_000_000 else int(value[:10])
    return number % 97 == check


def pt_niss_ok(value: str) -> bool:
    """A Portuguese social security number (NISS): 11 digits opening with 1 or 2; the last is
    9 minus the weighted sum (29, 23, 19, 17, 13, 11, 7, 5, 3, 2) mod 10."""
    if len(value) != 11 or not value.isdigit() or value[0] not in "12":
        return False
    total = sum(int(d) * w for d, w in zip(value, (29, 23, 19, 17, 13, 11, 7, 5, 3, 2)))
    return int(value[10]) == 9 - total % 10


# The one table that policies name validators from (`custom: - validator: es_dni`).
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": luhn_ok, "iban": iban_ok, "mod97": mod97_ok, "fr_nir": nir_ok, "es_dni": es_dni_ok,
    "it_cf": it_cf_ok, "de_tax_id": de_tax_id_ok, "de_id_card": de_id_card_ok, "nl_bsn": nl_bsn_ok,
    "pt_nif": pt_nif_ok, "pt_cc": pt_cc_ok, "be_nrn": be_nrn_ok, "at_ssn": at_ssn_ok, "ie_pps": ie_pps_ok,
    "uk_nino": uk_nino_ok, "es_nss": es_nss_ok, "pt_niss": pt_niss_ok, "pl_pesel": pl_pesel_ok,
}
