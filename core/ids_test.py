import numpy as np
import pytest

from core.ids import NEW_USER_BASE, IdMap, new_user_id


def test_dense_ids_map_both_ways_and_survive_a_round_trip(tmp_path):
    ids = IdMap(np.array(["alice", "bob"]), np.array([0, 17, 5]))
    assert ids.user_id("bob") == 2 and ids.user_source(2) == "bob"
    assert ids.item_id("17") == 2 and ids.item_source(3) == "5"
    assert ids.item_id("99") is None and ids.item_source(4) == "" and ids.item_source(0) == ""
    ids.save(tmp_path / "ids.npz")
    again = IdMap.load(tmp_path / "ids.npz")
    assert again.items.tolist() == ["0", "17", "5"] and again.user_id("alice") == 1


def test_a_new_user_gets_a_stable_id_above_every_dense_one():
    ids = IdMap(np.array(["alice"]), np.array(["x"]))
    uid = ids.user_id("carol")
    assert uid == new_user_id("carol") == IdMap(np.array(["z"]), np.array(["x"])).user_id("carol")
    assert NEW_USER_BASE < uid < 2 ** 63 and ids.user_source(uid) == ""


def test_duplicate_source_ids_are_refused():
    with pytest.raises(ValueError, match="unique"):
        IdMap(np.array(["a", "a"]), np.array(["x"]))
