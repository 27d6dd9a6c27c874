import pytest
from recsys.v1 import rerank_pb2

from core.errors import InvalidArgument
from services.rerank.servicer import validate


def test_validate_names_the_field_of_repeated_candidates():
    ids = list(range(10, 60))
    ok = rerank_pb2.RerankRequest(item_ids=ids, scores=[1.0] * 50, count=20)
    assert validate(ok)[0].tolist() == ids
    bad = rerank_pb2.RerankRequest(item_ids=ids[:-1] + [10], scores=[1.0] * 50, count=20)
    with pytest.raises(InvalidArgument) as err:
        validate(bad)
    assert err.value.field == "item_ids" and "distinct" in str(err.value)
