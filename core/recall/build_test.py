import pytest

from core.recall.build import build_channels


def test_unknown_channel_names_fail_with_the_name():
    with pytest.raises(ValueError, match="'telepathy'"):
        build_channels(["hot", "telepathy"], res=None)
