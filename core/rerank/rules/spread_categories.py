"""SpreadCategories: no more than `max_per_window` items of one category in any `window`
consecutive feed positions. Walks the feed in order and places, at each position, the
first item (from the feed, then from the unselected survivors by score) that keeps the
constraint. Strict: an item that fits nowhere is dropped (the feed may come out shorter).
Not strict: when nothing fits a position, the best remaining item takes it anyway (a feed
too concentrated to spread stays full). Unknown categories (0) are not limited."""
from __future__ import annotations

from core.rerank.candidates import Candidates
from core.rerank.rules.base import Arrangement, Arranger


class SpreadCategories(Arranger):
    name = "SpreadCategories"

    def __init__(self, max_per_window: int = 2, window: int = 4, strict: bool = True):
        if max_per_window < 1 or window < 2 or max_per_window >= window:
            raise ValueError("SpreadCategories needs 1 <= max_per_window < window")
        self.max_per_window, self.window, self.strict = max_per_window, window, strict

    def _fits(self, row: int, placed: list[int], candidates: Candidates) -> bool:
        cat = int(candidates.categories[row])
        if cat == 0:
            return True
        recent = placed[-(self.window - 1):]
        return sum(int(candidates.categories[r]) == cat for r in recent) < self.max_per_window

    def arrange(self, feed: list[int], spare: list[int], candidates: Candidates) -> Arrangement:
        queue = list(feed) + list(spare)
        out: list[int] = []
        while len(out) < len(feed):
            pick = next((r for r in queue if self._fits(r, out, candidates)), None)
            if pick is None:
                if self.strict or not queue:
                    break
                pick = queue[0]
            queue.remove(pick)
            out.append(pick)
        placed = {r for pos, r in enumerate(out) if pos >= len(feed) or feed[pos] != r}
        in_out = set(out)
        return Arrangement(out, [r for r in feed if r not in in_out], placed)
