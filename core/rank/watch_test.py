import numpy as np

from core.rank.watch import FILE, WatchModel
from core.registry.reader import Registry
from training.publish import publish


def test_a_version_ships_the_model_and_scores_the_users_it_knows(tmp_path):
    model = WatchModel.build(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.5, -1.0]),
                             np.array([30, 10]), np.array([[2.0, 0.0], [0.0, 3.0]]))
    assert model.user_ids.tolist() == [10, 30]  # sorted, rows moved with them
    model.save(tmp_path)
    publish(tmp_path / "reg", "ranker", {FILE: tmp_path / FILE}, {"kind": "test"})
    loaded = WatchModel.of(Registry(tmp_path / "reg").open("ranker"))
    np.testing.assert_allclose(loaded.score(30, np.array([0, 1, 2])), [2.0, 0.5, 1.0])
    np.testing.assert_allclose(loaded.score(10, np.array([0, 1, 2, -1, 3])), [0.0, 3.5, 2.0, 0.0, 0.0])
    assert np.all(loaded.score(20, np.array([0, 1, 2])) == 0)  # unknown user: the ranker's order alone


def test_a_version_without_the_file_has_no_watch_model(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    publish(tmp_path / "reg", "ranker", {"x.txt": tmp_path / "x.txt"}, {"kind": "test"})
    assert WatchModel.of(Registry(tmp_path / "reg").open("ranker")) is None
