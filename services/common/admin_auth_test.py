import pytest

from core.errors import Unauthenticated
from services.common.admin_auth import check_bearer


def test_the_token_is_required_and_checked():
    check_bearer([("authorization", "Bearer s3cret")], "s3cret")
    check_bearer([("Authorization", b"bearer s3cret")], "s3cret")
    for metadata in ([], [("authorization", "s3cret")], [("authorization", "Bearer wrong")],
                     [("x-api-key", "s3cret")]):
        with pytest.raises(Unauthenticated):
            check_bearer(metadata, "s3cret")


def test_no_configured_token_lets_nobody_in():
    with pytest.raises(Unauthenticated):
        check_bearer([("authorization", "Bearer ")], "")
