import numpy as np
import pytest

from training import ratings_view
from training.importers.movielens import load
from training.world import WorldConfig, generate


@pytest.fixture(scope="module")
def world():
    return generate(WorldConfig(n_users=60, n_authors=10, n_videos=200, days=4), progress=False)


def test_the_view_keeps_engaged_rows_once_and_the_movielens_importer_reads_it(world, tmp_path):
    r = ratings_view.ratings(world)
    pairs = r["user_id"] * 10**6 + r["item_id"]
    assert np.unique(pairs).size == pairs.size and set(np.unique(r["rating"])) <= {1, 2, 3, 4, 5}
    liked = world.impressions["like"] > 0
    assert np.isin(world.impressions["user_id"][liked] * 10**6 + world.impressions["item_id"][liked], pairs).all()
    counts = ratings_view.write(world, tmp_path)
    imported = load(tmp_path)
    assert counts["ratings"] == imported.impressions["user_id"].size
    assert (imported.impressions["like"] > 0).sum() == (r["rating"] >= 4).sum()  # >= 4 is a like there
    assert sorted(np.unique(imported.users["region"])) == sorted(np.unique(world.users["region"]))


def test_the_cli_names_a_missing_world(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ratings_view.main(["--world", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert "--world" in capsys.readouterr().err
