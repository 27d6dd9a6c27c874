import numpy as np

from core.items import ItemTable
from core.rank.features import CAT_FEATURES, ITEM_COL, UserRows, assemble, clamp_to_vocab
from core.rank.online_items import OnlineItems, extend_items
from core.store.catalog_log import CatalogItem


def base() -> ItemTable:
    return ItemTable.from_columns(item_id=np.array([1, 2, 3]), author_id=np.array([1, 1, 2]),
                                  category=np.array([1, 2, 2]), duration_s=np.array([10, 20, 30], np.float32),
                                  publish_ms=np.array([0, 0, 0]), region=np.array([1, 1, 2]),
                                  log_pop=np.array([1, 2, 3], np.float32))


def test_online_videos_are_appended_with_their_features_and_known_ones_are_left_alone():
    items = [CatalogItem(9, 2, 2, 15.0, 1000, 2), CatalogItem(2, 5, 5, 5.0, 5, 5), CatalogItem(7, 1, 1, 40.0, 900, 1)]
    table = extend_items(base(), items)
    assert table.item_id.tolist() == [1, 2, 3, 7, 9]
    assert table.author_id.tolist() == [1, 1, 2, 1, 2] and table.category.tolist() == [1, 2, 2, 1, 2]
    assert table.publish_ms[3:].tolist() == [900, 1000] and table.log_pop[3:].tolist() == [0, 0]
    assert extend_items(base(), []) is not None


def test_an_online_video_is_assembled_with_its_category_and_author_but_an_unknown_id_code():
    online = OnlineItems()
    b = base()
    assert online.extend(b) is b  # nothing published: the model's own table
    online.publish([CatalogItem(9, 2, 2, 15.0, 1000, 2)])
    table = online.extend(b)
    assert online.extend(b) is table  # cached until the next publish
    idx = table.index_of(np.array([3, 9]))
    users = UserRows(region=np.array([2, 2]), age_bucket=np.array([1, 1]), gender=np.array([1, 1]),
                     device=np.array([1, 1]), hour=np.array([3, 3]), seq_idx=np.full((2, 30), -1),
                     follows_author=np.zeros(2, np.float32), now_ms=np.array([2000, 2000]))
    x = assemble(table, idx, users)
    cols = {f: i for i, f in enumerate(CAT_FEATURES)}
    assert x["cat"][1, cols["author"]] == 2 and x["cat"][1, cols["category"]] == 2
    vocab = {f: 100 for f in CAT_FEATURES} | {"item": len(b) + 1}
    clamped = clamp_to_vocab(x, vocab)
    assert clamped["cat"][:, ITEM_COL].tolist() == [3, 0]  # the new id reads as unknown
    assert clamped["cat"][1, cols["author"]] == 2
    online.publish([CatalogItem(10, 1, 1, 15.0, 1000, 1)])
    assert online.extend(b).item_id.tolist()[-2:] == [9, 10]
