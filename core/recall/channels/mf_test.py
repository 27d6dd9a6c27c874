import asyncio

import numpy as np
import pytest

from core.context import RequestContext
from core.items import ItemTable
from core.recall.channels.base import ChannelRequest
from core.recall.channels.mf import MFChannel, MFModel
from core.store.user_state import UserStateData


def table(n):
    z = np.zeros(n)
    return ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=z + 1, category=z + 1,
                                  duration_s=z + 10, publish_ms=z, region=z + 1, log_pop=z)


def model(n=12, f=4, alpha=10.0, reg=0.1, iw=0.2, seed=0):
    return MFModel.build(np.random.default_rng(seed).normal(size=(n, f)), alpha, reg, iw)


def test_user_vector_is_the_als_user_step_over_every_item():
    # the textbook form: minimise sum_i c_i (p_i - x.y_i)^2 + reg |x|^2 over all items, with
    # c = 1 + alpha r, p = 1 where r > 0 (Hu, Koren, Volinsky 2008): x = (Y'CY + reg I)^-1 Y'Cp
    m = model()
    y = m.factors.astype(np.float64)
    r = np.zeros(len(y))
    r[[1, 4]] = 1.0    # engaged
    r[[2, 7]] = 0.2    # shown only
    c, p = 1 + m.alpha * r, (r > 0).astype(float)
    want = np.linalg.solve(y.T @ (c[:, None] * y) + m.regularization * np.eye(y.shape[1]), y.T @ (c * p))
    got = m.user_vector(np.array([4, 1]), np.array([2, 7, 1]))  # an engaged item also shown counts once
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)  # float32


def test_user_vector_ignores_unknown_items_and_needs_some_history():
    m = model()
    assert m.user_vector(np.array([-1, 99]), np.array([-1])) is None
    np.testing.assert_allclose(m.user_vector(np.array([3, -1, 99]), np.zeros(0, np.int64)),
                               m.user_vector(np.array([3]), np.zeros(0, np.int64)))


def test_without_impression_weight_shown_items_do_not_count():
    m = model(iw=0.0)
    np.testing.assert_allclose(m.user_vector(np.array([3]), np.array([5, 6])),
                               m.user_vector(np.array([3]), np.zeros(0, np.int64)))


def test_channel_returns_the_best_inner_products_as_ids():
    # two item groups on orthogonal axes: a user who engaged with group A gets group A first
    f = np.zeros((6, 2), np.float32)
    f[:3, 0], f[3:, 1] = [1.0, 0.9, 0.8], [1.0, 0.9, 0.8]
    ch = MFChannel(MFModel.build(f, alpha=10.0, regularization=0.1, impression_weight=0.0), table(6))
    state = UserStateData(known=True, recent_items=np.array([1]))  # dense 0, group A
    out = asyncio.run(ch.retrieve(ChannelRequest(RequestContext(1), state, 3, 3, 0, 0)))
    assert out.item_ids.tolist() == [1, 2, 3]
    assert np.all(np.diff(out.scores) <= 0)
    empty = asyncio.run(ch.retrieve(ChannelRequest(RequestContext(2), UserStateData(), 3, 3, 0, 0)))
    assert len(empty) == 0


def test_item_table_grown_past_the_factors_is_served_and_a_smaller_one_refused():
    m = model(n=4)
    ch = MFChannel(m, table(6))  # two videos published since: no factor, never returned
    out = ch.top(np.array([1, 2]), np.zeros(0, np.int64), 10)
    assert set(out.item_ids.tolist()) <= {1, 2, 3, 4}
    with pytest.raises(ValueError, match="factors have 4 rows"):
        MFChannel(m, table(3))


def test_a_version_without_factors_serves_nothing_instead_of_failing(tmp_path):
    from core.registry.reader import Registry
    from training.publish import publish
    table(4).save(tmp_path / "items.npz")
    publish(tmp_path / "models", "item_cf", {"items.npz": tmp_path / "items.npz"}, {"kind": "item_cf"},
            make_live=True)  # trained before the mf channel existed
    ch = MFChannel.load(Registry(tmp_path / "models").open("item_cf"))
    assert ch.model is None and len(ch.top(np.array([1, 2]), np.array([3]), 10)) == 0
    m = model(n=4)
    ch.swap(m, table(4), "v0002")  # a version with factors: served
    assert len(ch.top(np.array([1, 2]), np.zeros(0, np.int64), 10)) > 0
