"""Postal addresses (US, UK, French, German and other EU forms). A city or a postcode alone identifies no one:
a street line (number, name, street type) does, and so does a full `City, ST 12345` line."""
from __future__ import annotations

import re
from typing import Iterator

from ..hit import Hit
from ..languages import Languages, alternation

_US_SUFFIX = (
    "Alley|Avenue|Ave|Bend|Boulevard|Blvd|Branch|Bridge|Brook|Brooks|Burg|Bypass|Camp|Canyon|Cape|"
    "Causeway|Center|Circle|Cir|Cliff|Cliffs|Club|Common|Corner|Corners|Course|Court|Ct|Courts|Cove|"
    "Coves|Creek|Crescent|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drive|Dr|Drives|Estate|"
    "Estates|Expressway|Extension|Falls|Ferry|Field|Fields|Flat|Flats|Ford|Fords|Forest|Forge|Forges|"
    "Fork|Forks|Fort|Freeway|Garden|Gardens|Gateway|Glen|Glens|Green|Greens|Grove|Groves|Harbor|"
    "Harbors|Haven|Heights|Highway|Hwy|Hill|Hills|Hollow|Inlet|Island|Islands|Isle|Junction|Junctions|"
    "Key|Keys|Knoll|Knolls|Lake|Lakes|Land|Landing|Lane|Ln|Light|Lights|Loaf|Lock|Locks|Lodge|Loop|"
    "Mall|Manor|Manors|Meadow|Meadows|Mews|Mill|Mills|Mission|Motorway|Mount|Mountain|Mountains|Neck|"
    "Orchard|Oval|Overpass|Park|Parks|Parkway|Pkwy|Pass|Passage|Path|Pike|Pine|Pines|Place|Pl|Plain|"
    "Plains|Plaza|Point|Points|Port|Ports|Prairie|Radial|Ramp|Ranch|Rapid|Rapids|Rest|Ridge|Ridges|"
    "River|Road|Rd|Roads|Route|Row|Rue|Run|Shoal|Shoals|Shore|Shores|Skyway|Spring|Springs|Spur|Spurs|"
    "Square|Sq|Squares|Station|Stravenue|Stream|Street|St|Streets|Summit|Terrace|Ter|Throughway|Trace|"
    "Track|Trafficway|Trail|Trl|Tunnel|Turnpike|Underpass|Union|Unions|Valley|Valleys|Via|Viaduct|"
    "View|Views|Village|Villages|Ville|Vista|Walk|Walks|Wall|Way|Ways|Well|Wells")
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
    "NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|AS|GU|MP|PR|VI|AA|AE|AP|MH|FM|PW")
_CAP = r"[A-Z][A-Za-z'\-]+"
_US_STREET = re.compile(rf"\b\d{{1,6}}(?:\s+{_CAP}){{1,4}}?\s+(?:{_US_SUFFIX})\b\.?"
                        rf"(?:,?\s+(?:Apt\.?|Suite|Unit|#)\s*[\w\-]+)?")
_US_CITY_LINE = re.compile(rf"{_CAP}(?:\s+{_CAP}){{0,3}},?\s+(?:{_STATES})\s+\d{{5}}(?:-\d{{4}})?\b")
_US_MILITARY = re.compile(r"\b(?:(?:Unit|PSC)\s+\d{4},?\s+Box\s+\d{4}|US[NC]?S\s+[A-Z][a-z]+|USCGC\s+[A-Z][a-z]+),?"
                          r"\s+[ADF]PO\s+A[AEP]\s+\d{5}\b")
_FR_STREET = re.compile(
    r"(?i)\b\d{1,4}(?:\s?(?:bis|ter|[a-d]))?,?\s+(?:rue|avenue|av\.|bd|boulevard|chemin|allée|impasse|place|"
    r"quai|route|cours|square|passage|voie|rond-point|lieu-dit|résidence|sentier|cité|hameau|faubourg|"
    r"promenade|esplanade|parvis|villa|montée|clos)\s+(?:(?:de la|de l'|du|des|de|d'|la|le|les|l')\s*)?"
    r"[\wÀ-ÿ'’\-]+(?:\s+(?!\d)[\wÀ-ÿ'’\-]+){0,4}?(?=\s*(?:,|\n|$|\.|\d{5}|;|\)))")
_UK_CITY_LINE = re.compile(rf"{_CAP}(?:\s+{_CAP}){{0,3}},?\s+[A-Z]{{1,2}}\d[A-Z\d]?\s\d[A-Z]{{2}}\b")
_DE_STREET = re.compile(r"\b[A-ZÄÖÜ][\wäöüß\-]*(?i:straße|strasse|str\.|weg|allee|platz|ring|gasse|damm|ufer|"
                        r"chaussee|steig|pfad)\s+\d{1,4}[a-z]?(?:[-/]\d{1,4})?,?\s+\d{5}\s+[A-ZÄÖÜ][\wäöüß\-]+")
# A French street without its number is still an address once a postcode and town follow.
_FR_STREET_POSTCODE = re.compile(
    r"(?i)\b(?:rue|avenue|boulevard|chemin|allée|impasse|place|quai|route|cours)\s+[\wÀ-ÿ'’\- ]{2,40}?,?\s+"
    r"\d{5}\s+[A-ZÀ-Ý][\wÀ-ÿ'\-]+")
# Elsewhere in the EU the street comes first and the house number after it, then the postcode
# and town: "Via Ossola, 40, 63815 Corinaldo", "Calle Mayor 5 Piso 2, 28013 Madrid", "Rua
# Augusta, 100, 1100-053 Lisboa", "Sennaweg 32, 1012 TX Baard". The street is named by its type
# (first word, or Dutch/German suffix; in either case: "vive en calle Sagunto 18"), or set off by a
# comma before the number as in Italy.
_EU_STREET_TYPES = (
    r"Via|Viale|Piazza|Piazzale|Corso|Largo|Vicolo|Strada|Borgo|Contrada|Rotonda|Stretto|Canale|Incrocio|"
    r"Lungomare|Calle|C\.|Avenida|Av\.?|Avda\.?|Plaza|Pl\.|Paseo|Camino|Carretera|Ronda|Pasaje|Rambla|"
    r"Glorieta|Cuesta|Alameda|Acceso|Callejón|Cañada|Urbanización|Pasadizo|Travesía|Vial|Rua|R\.|Travessa|"
    r"Praça|Estrada|Rotunda|Beco|Calçada")
_EU_STREET_POSTCODE = re.compile(
    rf"\b(?:(?i:{_EU_STREET_TYPES})\s+[\wÀ-ÿ'’.\-]+(?:\s+[\wÀ-ÿ'’.\-]+){{0,4}}?,?|"
    rf"[A-ZÀ-Ý][\wÀ-ÿ'’\-]*(?i:straat|weg|laan|plein|gracht|kade|singel|dijk|dreef|baan|hof|pad|steeg)|"
    rf"[A-ZÀ-Ý][\wÀ-ÿ'’\-]*(?:\s+[A-ZÀ-Ý][\wÀ-ÿ'’\-]*){{0,3}},)"
    rf"\s+(?:\d{{1,4}}[a-zA-Z]?(?:-\d{{1,4}})?|S/N)(?:\s+[A-Z][a-zà-ÿ]*\.?\s+\d{{1,4}}){{0,2}}"
    # a floor and door, Iberian style: "3º B", "2.º Esq.", "1º 2ª" (read after NFKC: "3o B")
    rf"(?:\s*,?\s*\d{{1,2}}\.?\s?[ºª°oa]\s*(?:[A-Za-z]{{1,4}}\.?|\d{{1,2}}\s?[ºªoa]?)?)?\s*,\s*"
    rf"(?:\d{{5}}|\d{{4}}-\d{{3}}|\d{{4}}\s?[A-Z]{{2}})\s+[A-ZÀ-Ý][\wÀ-ÿ'’\-]+")
_FR_POSTCODE = re.compile(r"\A\s*,?\s*(?:\n\s*)?(?:F-|FR-)?\d{5}\s+[A-ZÀ-Ý][\wÀ-ÿ'\-]+(?:[ \-][A-ZÀ-Ýa-z][\wÀ-ÿ'\-]+){0,3}")


class AddressDetector:
    name = "address"
    entities = frozenset({"STREET_ADDRESS"})

    def __init__(self, languages: Languages) -> None:
        # Words that announce an address ("lives at", « domicilié »), in any configured language.
        self._cues = re.compile(rf"(?i)(?:{alternation(languages.entries('address_cues'))})")

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _US_MILITARY.finditer(text):
            yield Hit("STREET_ADDRESS", m.start(), m.end(), 0.9, "address.us-military")
        for pattern, name, score in ((_US_CITY_LINE, "address.us-city-line", 0.75),
                                     (_UK_CITY_LINE, "address.uk-city-line", 0.75),
                                     (_DE_STREET, "address.de-street", 0.9),
                                     (_FR_STREET_POSTCODE, "address.fr-street-postcode", 0.85),
                                     (_EU_STREET_POSTCODE, "address.eu-street-postcode", 0.8)):
            for m in pattern.finditer(text):
                yield Hit("STREET_ADDRESS", m.start(), m.end(), score, name)
        for pattern, tail, name in ((_US_STREET, _US_CITY_LINE, "address.us-street"),
                                    (_FR_STREET, _FR_POSTCODE, "address.fr-street")):
            for m in pattern.finditer(text):
                following = text[m.end():m.end() + 80]
                cue = self._cues.search(text[max(0, m.start() - 60):m.start()])
                complete = tail.match(following.lstrip(", \n")) if tail is _US_CITY_LINE else tail.match(following)
                score = 0.9 if complete else 0.7 if cue else 0.45
                yield Hit("STREET_ADDRESS", m.start(), m.end(), score, name)
