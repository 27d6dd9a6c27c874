"""Business rules, one file each, verb-first names, registered by name for policy config."""
from core.rerank.rules.base import Arrangement, Arranger, Booster, Filter, Inserter
from core.rerank.rules.boost_items import BoostItems
from core.rerank.rules.boost_session_categories import BoostSessionCategories
from core.rerank.rules.cap_per_author import CapPerAuthor
from core.rerank.rules.drop_blocked_items import DropBlockedItems
from core.rerank.rules.drop_near_duplicates import DropNearDuplicates
from core.rerank.rules.insert_slots import InsertFreshSlots, InsertOperationSlots
from core.rerank.rules.spread_categories import SpreadCategories

RULES = {cls.name: cls for cls in (BoostItems, BoostSessionCategories, CapPerAuthor, DropBlockedItems,
                                   DropNearDuplicates, InsertFreshSlots, InsertOperationSlots, SpreadCategories)}

__all__ = ["RULES", "Arrangement", "Arranger", "Booster", "Filter", "Inserter", "BoostItems",
           "BoostSessionCategories",
           "CapPerAuthor", "DropBlockedItems", "DropNearDuplicates", "InsertFreshSlots",
           "InsertOperationSlots", "SpreadCategories"]
