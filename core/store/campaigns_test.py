from core.store.campaigns import BOOST, SLOT, Campaign


def test_a_campaign_round_trips_without_its_delivered_count():
    c = Campaign("summer", (1, 2), BOOST, 100, 200, (3,), 1.5, 10, delivered=4)
    back = Campaign.decode(c.encode(), delivered=7)
    assert back == c and back.delivered == 7


def test_active_only_in_its_window_and_under_its_cap():
    c = Campaign("x", (1,), SLOT, 100, 200, impression_cap=2)
    assert not c.is_active(99) and c.is_active(100) and not c.is_active(200)
    assert not Campaign("x", (1,), SLOT, 100, 200, impression_cap=2, delivered=2).is_active(150)
    assert Campaign("x", (1,), SLOT, 100, 200, delivered=10**6).is_active(150)  # no cap


def test_no_regions_means_every_region():
    assert Campaign("x", (1,), SLOT, 0, 1).serves_region(4)
    assert not Campaign("x", (1,), SLOT, 0, 1, regions=(2,)).serves_region(4)
