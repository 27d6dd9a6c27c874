import asyncio

from core.store import durability


def test_the_durable_configuration_has_no_problems():
    assert durability.problems(dict(durability.DURABLE)) == {}
    assert durability.problems({"appendonly": "YES", "appendfsync": "always", "maxmemory-policy": "noeviction"}) == {}


def test_every_difference_is_named():
    found = durability.problems({"appendonly": "no", "appendfsync": "everysec", "maxmemory-policy": "volatile-lru"})
    assert found == {"appendonly": "no", "appendfsync": "everysec", "maxmemory-policy": "volatile-lru"}
    assert durability.problems({}) == {k: "(unset)" for k in durability.DURABLE}


def test_server_args():
    assert durability.server_args() == ["--appendonly", "yes", "--appendfsync", "always",
                                        "--maxmemory-policy", "noeviction"]


class FakeClient:
    def __init__(self, config=None, error=None):
        self.config, self.error = config or {}, error

    async def config_get(self, name):
        if self.error:
            raise self.error
        return {name.encode(): self.config.get(name, "").encode()}


def test_check_warns_and_counts(caplog):
    client = FakeClient({"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"})
    with caplog.at_level("WARNING"):
        assert asyncio.run(durability.check(client)) == {"appendfsync": "everysec"}
    assert "not configured for durable events" in caplog.text


def test_a_server_that_hides_config_is_unchecked():
    assert asyncio.run(durability.check(FakeClient(error=ConnectionError("CONFIG disabled")))) is None
