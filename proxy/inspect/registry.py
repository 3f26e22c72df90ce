"""Every built-in detector, in one table read by the `Inspector` (what runs) and the policy
schema (`BUILTIN_ENTITIES`: which entity types a policy may name).

Adding a detector is one entry here: its class, how to build it from the policy's settings
(when it needs more than `cls()`), and the languages it knows (None: any language).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .detectors.address import AddressDetector
from .detectors.email import EmailDetector
from .detectors.iban import IbanDetector
from .detectors.identity import IdentityDetector
from .detectors.learned_names import LearnedNameDetector
from .detectors.markings import MarkingDetector
from .detectors.name_shapes import NameShapeDetector
from .detectors.national_ids import NationalIdDetector, PersonNumberDetector
from .detectors.network import IpDetector
from .detectors.numbers import NumberDetector
from .detectors.person import PersonDetector
from .detectors.scripts import ForeignTextDetector, ScriptNameDetector
from .detectors.secrets import SecretDetector
from .detectors.special import SpecialCategoryDetector
from .detectors.tables import TableColumnDetector
from .hit import Detector
from .languages import Languages
from .ner import NerModels
from .public_names import PublicNames
from .settings import DetectorSettings
from .tagger import NameTagger


@dataclass(frozen=True, slots=True)
class Resources:
    """What a detector may be built from: the policy's settings, the configured languages'
    knowledge and the models (loaded on first use)."""

    settings: DetectorSettings
    languages: Languages
    ner: NerModels
    tagger: NameTagger


@dataclass(frozen=True, slots=True)
class Registered:
    cls: type
    make: Callable[[Resources], Detector] | None = None  # None: `cls()`
    languages: frozenset[str] | None = None  # None: every language

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def entities(self) -> frozenset[str]:
        return self.cls.entities

    def build(self, resources: Resources) -> Detector:
        return self.make(resources) if self.make else self.cls()


REGISTRY: tuple[Registered, ...] = (
    Registered(NumberDetector),
    Registered(IbanDetector),
    Registered(EmailDetector),
    Registered(IpDetector),
    Registered(SecretDetector),
    Registered(AddressDetector, lambda r: AddressDetector(r.languages)),
    Registered(IdentityDetector),
    Registered(NationalIdDetector),
    Registered(PersonNumberDetector),
    Registered(SpecialCategoryDetector, lambda r: SpecialCategoryDetector(r.languages)),
    Registered(MarkingDetector, lambda r: MarkingDetector(r.settings.markings, r.languages)),
    Registered(PersonDetector, lambda r: PersonDetector(r.ner, r.languages)),
    Registered(NameShapeDetector, lambda r: NameShapeDetector(r.ner, r.languages)),
    Registered(LearnedNameDetector, lambda r: LearnedNameDetector(r.ner, r.languages, r.tagger)),
    Registered(TableColumnDetector, lambda r: TableColumnDetector(r.languages)),
    Registered(ScriptNameDetector, lambda r: ScriptNameDetector(r.languages)),
    Registered(ForeignTextDetector),
)
# What detectors report, and what the public-name stage turns a person into.
BUILTIN_ENTITIES: frozenset[str] = frozenset().union(*(entry.entities for entry in REGISTRY), PublicNames.entities)
