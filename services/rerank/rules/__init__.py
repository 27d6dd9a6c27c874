"""Business rules, one file each, verb-first names, registered by name for policy config."""
from services.rerank.rules.base import Arrangement, Arranger, Booster, Filter, Inserter
from services.rerank.rules.boost_items import BoostItems
from services.rerank.rules.boost_session_categories import BoostSessionCategories
from services.rerank.rules.cap_per_author import CapPerAuthor
from services.rerank.rules.drop_blocked import DropBlocked
from services.rerank.rules.drop_near_duplicates import DropNearDuplicates
from services.rerank.rules.insert_slots import InsertFreshSlots, InsertOperationSlots
from services.rerank.rules.spread_categories import SpreadCategories

RULES = {cls.name: cls for cls in (BoostItems, BoostSessionCategories, CapPerAuthor, DropBlocked, DropNearDuplicates,
                                   InsertFreshSlots, InsertOperationSlots, SpreadCategories)}

__all__ = ["RULES", "Arrangement", "Arranger", "Booster", "Filter", "Inserter", "BoostItems",
           "BoostSessionCategories",
           "CapPerAuthor", "DropBlocked", "DropNearDuplicates", "InsertFreshSlots",
           "InsertOperationSlots", "SpreadCategories"]
