from services.common.shedding import LoadShedder


def test_sheds_beyond_the_in_flight_limit():
    s = LoadShedder("t", max_in_flight=1)
    assert s.refusal("M", None) is None
    s.in_flight = 1
    assert "overloaded" in s.refusal("M", None)


def test_sheds_a_call_whose_deadline_is_shorter_than_twice_the_service_time():
    s = LoadShedder("t")
    s.served("M", 0.1)
    assert s.refusal("M", 1.0) is None
    assert "deadline" in s.refusal("M", 0.15)
    assert s.service_s["M"] < 0.1  # decays while it sheds
