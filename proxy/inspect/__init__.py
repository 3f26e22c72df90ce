"""Prompt inspection: text in, findings out (typed spans and scores, never the values)."""
from .engine import BUILTIN_ENTITIES, Inspector
from .hit import Hit
from .pool import InspectionService
from .settings import CustomSpec, DetectorSettings

__all__ = ["BUILTIN_ENTITIES", "CustomSpec", "DetectorSettings", "Hit", "InspectionService", "Inspector"]
