"""The `hubspot` adapter kind is usable from a config file (plug-ins, SPEC X4)."""

from __future__ import annotations

import pytest

from syncengine import ConfigError
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.plugins import adapter_kinds, load_adapter


def test_hubspot_is_a_registered_kind():
    """The built-in kinds include hubspot, registered by entry point like any plug-in."""
    assert "hubspot" in adapter_kinds()


def test_the_token_comes_from_the_environment_and_never_shows(monkeypatch, tmp_path):
    """X4: the token is read from an environment variable and not echoed in the repr."""
    monkeypatch.setenv("MY_HS_TOKEN", "pat-secret-123")
    adapter = load_adapter(
        "hubspot", {"token_env": "MY_HS_TOKEN", "requests_per_10s": 50}, base_dir=tmp_path
    )
    assert isinstance(adapter, HubSpotAdapter)
    assert "pat-secret-123" not in repr(adapter)


def test_a_missing_token_is_a_config_error_naming_the_key(monkeypatch, tmp_path):
    """X2: no token → ConfigError naming token_env."""
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="token_env"):
        load_adapter("hubspot", {}, base_dir=tmp_path)


def test_idempotency_properties_reach_the_adapter(monkeypatch, tmp_path):
    """S8: the option makes the adapter upsert companies by the named unique property."""
    import httpx

    from syncengine.records import NewRecord
    from syncengine.testing.hubspot import FakeHubSpot, property_definition

    fake = FakeHubSpot()
    fake.add_property("companies", property_definition("syncengine_key", unique=True))
    monkeypatch.setenv("HUBSPOT_TOKEN", fake.token)
    monkeypatch.setattr(httpx, "Client", _client_on(fake, httpx.Client), raising=True)
    adapter = load_adapter(
        "hubspot",
        {"idempotency_properties": {"companies": "syncengine_key"}},
        base_dir=tmp_path,
    )
    item = NewRecord({"name": "Initech"}, "key-1")
    (first,) = adapter.create("companies", [item])
    (again,) = adapter.create("companies", [item])
    assert first.record_id == again.record_id
    assert 1 == fake.count("companies")
    assert {"key-1": first.record_id} == adapter.lookup_idempotency_keys("companies", [item])


def _client_on(fake, client_class):
    """httpx.Client, answering every request from ``fake``."""
    import httpx

    def make(*args, **kwargs):
        kwargs["transport"] = httpx.MockTransport(fake.handle)
        return client_class(*args, **kwargs)

    return make


@pytest.mark.parametrize("value", ["syncengine_key", {"companies": ""}, {"companies": 3}])
def test_a_malformed_idempotency_properties_option_is_refused_naming_it(
    monkeypatch, tmp_path, value
):
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-x")
    with pytest.raises(ConfigError, match="idempotency_properties"):
        load_adapter("hubspot", {"idempotency_properties": value}, base_dir=tmp_path)
