"""Business rules, one file each, verb-first names."""
from services.rerank.rules.base import Rule, RuleResult
from services.rerank.rules.cap_per_author import CapPerAuthor

__all__ = ["CapPerAuthor", "Rule", "RuleResult"]
