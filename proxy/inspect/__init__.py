"""Prompt inspection: text in, findings out (typed spans and scores, never the values)."""
from .hit import Hit
from .inspector import Inspector
from .languages import AVAILABLE as LANGUAGES
from .pool import InspectionService
from .registry import BUILTIN_ENTITIES, REGISTRY
from .settings import CustomSpec, DetectorSettings

__all__ = ["BUILTIN_ENTITIES", "CustomSpec", "DetectorSettings", "Hit", "InspectionService", "Inspector", "LANGUAGES", "REGISTRY"]
