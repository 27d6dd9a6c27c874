import numpy as np

from core.items import ItemTable
from core.recall.filters import DropUnavailable, apply_filter
from core.recall.live_catalog import LiveCatalog
from core.recall.merge import merge
from core.store.catalog_log import CatalogItem
from core.store.user_state import UserStateData

H = 3_600_000


def table(ids, authors, publish_h, region=None) -> ItemTable:
    n = len(ids)
    return ItemTable.from_columns(
        item_id=np.array(ids), author_id=np.array(authors), category=np.ones(n, np.int64),
        duration_s=np.full(n, 20.0), publish_ms=np.array(publish_h, np.int64) * H,
        region=np.array(region if region is not None else [1] * n), log_pop=np.zeros(n))


def item(item_id, author, publish_h, region=1) -> CatalogItem:
    return CatalogItem(item_id, author, 2, 15.0, publish_h * H, region)


def test_uploads_are_per_author_newest_first_and_windowed():
    cat = LiveCatalog(table([1, 2, 3, 4, 5], [7, 7, 8, 7, 9], [1, 5, 6, 3, 9]))
    ids, times = cat.uploads(np.array([7, 8, 42]), since_ms=2 * H, per_author=10)
    assert ids.tolist() == [3, 2, 4]  # 1 is older than the window; author 42 has nothing
    assert np.all(np.diff(times) <= 0)
    ids, _ = cat.uploads(np.array([7]), since_ms=0, per_author=2)
    assert ids.tolist() == [2, 4]


def test_published_items_join_uploads_and_fresh_and_notify_listeners():
    cat = LiveCatalog(table([1, 2], [7, 8], [1, 2]))
    heard = []
    cat.on_publish(heard.extend)
    cat.publish([item(100, 7, 10), item(1, 7, 10)])  # id 1 is in the base table: ignored
    cat.publish([item(100, 7, 10)])  # replayed: ignored
    assert [i.item_id for i in heard] == [100]
    assert cat.uploads(np.array([7]), 0, 10)[0].tolist() == [100, 1]
    assert cat.published_since(2 * H)[0].tolist() == [100, 2]
    assert cat.available(np.array([1, 2, 100, 101])).tolist() == [True, True, True, False]


def test_removed_items_are_unavailable_at_once_and_dropped_by_the_filter():
    cat = LiveCatalog(table([1, 2, 3], [7, 7, 7], [1, 2, 3]))
    cat.publish([item(50, 7, 4)])
    cat.remove([2, 50])
    assert cat.available(np.array([1, 2, 3, 50])).tolist() == [True, False, True, False]
    out = apply_filter(DropUnavailable(cat), merge([(0, np.array([3, 2, 50, 1, 999]))]), UserStateData())
    assert out.kept.item_ids.tolist() == [3, 1]
    assert sorted(out.removed.tolist()) == [2, 50, 999]


def test_a_new_base_version_keeps_online_items_known():
    cat = LiveCatalog(table([1], [7], [1]))
    cat.publish([item(9, 7, 2)])
    cat.set_base(table([1, 2], [7, 7], [1, 2]))
    assert cat.available(np.array([1, 2, 9])).all()


def test_blocked_authors_videos_are_dropped_including_online_ones():
    from core.recall.filters import DropBlockedAuthors
    cat = LiveCatalog(table([1, 2, 3], [7, 8, 7], [1, 2, 3]))
    cat.publish([item(60, 8, 4)])
    assert cat.authors_of(np.array([1, 2, 60, 999])).tolist() == [7, 8, 8, 0]
    c = merge([(0, np.array([1, 2, 3, 60]))])
    out = apply_filter(DropBlockedAuthors(cat), c, UserStateData(blocked_authors=np.array([8])))
    assert out.kept.item_ids.tolist() == [1, 3] and sorted(out.removed.tolist()) == [2, 60]
    assert len(apply_filter(DropBlockedAuthors(cat), c, UserStateData()).kept) == 4


def test_published_since_merges_the_sources_newest_first_and_keeps_the_newest_limit():
    rng = np.random.default_rng(0)
    base_hours = rng.integers(0, 50, 300)
    cat = LiveCatalog(table(list(range(1, 301)), [7] * 300, base_hours.tolist()))
    cat.publish([item(1000 + k, 8, int(t)) for k, t in enumerate(rng.integers(0, 50, 40))])
    all_ids, all_times = cat.published_since(0)
    assert np.all(np.diff(all_times) <= 0) and all_ids.size == 340 and np.unique(all_ids).size == 340
    ids, times = cat.published_since(20 * H, limit=25)
    assert ids.size == 25 and np.all(times >= 20 * H)
    assert times.tolist() == all_times[:25].tolist()      # the 25 newest, whatever their source
