import pytest
from recsys.v1 import common_pb2, rank_pb2

from core.errors import InvalidArgument
from services.rank.servicer import validate


def test_validate_names_the_field_of_repeated_candidates():
    ok = rank_pb2.RankRequest(user=common_pb2.UserContext(user_id=1), item_ids=list(range(1, 1001)), top_k=50)
    assert validate(ok, 2000).tolist() == list(range(1, 1001))
    bad = rank_pb2.RankRequest(user=common_pb2.UserContext(user_id=1), item_ids=[*range(1, 1000), 500], top_k=50)
    with pytest.raises(InvalidArgument) as err:
        validate(bad, 2000)
    assert err.value.field == "item_ids" and "distinct" in str(err.value)
