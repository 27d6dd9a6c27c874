import asyncio

import numpy as np

from core.context import RequestContext
from core.items import ItemTable
from core.recall.channels.base import ChannelRequest
from core.recall.channels.item_cf import ItemCFChannel
from core.recall.neighbor_table import NeighborTable
from core.store.user_state import UserStateData
from training.item_cf import build


def table(n):
    z = np.zeros(n)
    return ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=z + 1, category=z + 1,
                                  duration_s=z + 10, publish_ms=z, region=z + 1, log_pop=z)


def test_build_links_items_engaged_together():
    # users 0..9 engage 0 then 1; users 10..19 engage 2 then 3
    user = np.repeat(np.arange(20), 2)
    item = np.array([0, 1] * 10 + [2, 3] * 10)
    ts = np.tile([1, 2], 20)
    t = build(user, item, ts, n_items=4, window=1, k=2)
    assert t.row(0)[0].tolist() == [1] and t.row(1)[0][0] == 0
    assert t.row(2)[0][0] == 3
    assert t.row(0)[1][0] > 0


def test_channel_votes_recent_items_neighbours_and_excludes_seeds():
    nb = NeighborTable.from_dense(np.array([[1, 2], [0, 3], [-1, -1], [-1, -1]]),
                                  np.array([[0.9, 0.1], [0.5, 0.4], [0, 0], [0, 0]], np.float32))
    ch = ItemCFChannel(nb, table(4))
    state = UserStateData(known=True, recent_items=np.array([1, 2]))  # dense 0 then 1
    out = asyncio.run(ch.retrieve(ChannelRequest(RequestContext(1), state, 5, 5, 0, 0)))
    # seeds 0 and 1 are excluded; 3 (dense 3, id 4) gets 0.9*0.4, 2 (id 3) gets 0.1
    assert out.item_ids.tolist() == [4, 3]
    assert len(set(out.item_ids.tolist())) == len(out)


def test_sparse_table_round_trips_and_pads():
    dense = np.array([[2, -1], [-1, -1], [0, 1]])
    t = NeighborTable.from_dense(dense, np.array([[0.5, 0], [0, 0], [0.7, 0.2]], np.float32))
    nbrs, sims, owner = t.gather(np.array([2, 1, 0]))
    assert nbrs.tolist() == [0, 1, 2] and owner.tolist() == [0, 0, 2]
    assert np.allclose(sims, [0.7, 0.2, 0.5])
    big = t.padded(10)
    assert big.n_items == 10 and big.row(9)[0].size == 0 and big.row(2)[0].tolist() == [0, 1]
