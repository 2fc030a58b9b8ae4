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
