import pytest

from dev.net import check_loopback


@pytest.mark.parametrize("address", ["127.0.0.1:50050", "localhost:1", "[::1]:8080", "127.3.2.1:9"])
def test_loopback_addresses_pass(address):
    assert check_loopback(address) == address


@pytest.mark.parametrize("address", ["10.0.0.8:50050", "example.com:80", "0.0.0.0:1"])
def test_other_addresses_are_refused(address):
    with pytest.raises(ValueError, match="loopback"):
        check_loopback(address)
