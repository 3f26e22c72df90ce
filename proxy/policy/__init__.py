"""Compliance policies: schema, loader with positioned lint messages, rules, the router."""
from .loader import LoadedPolicy, PolicyError, Problem, load_policy, parse_policy
from .router import PolicyRouter
from .rules import CompiledPolicy

__all__ = ["CompiledPolicy", "LoadedPolicy", "PolicyError", "PolicyRouter", "Problem", "load_policy", "parse_policy"]
