"""The local HubSpot and HubSpotAdapters on injected time, shared by the HubSpot adapter
tests of this folder (each test module names its token, ``TOKEN``, and may set
``ADAPTER_DEFAULTS``: a function returning more default options for its adapters).

Time is a :class:`~syncengine.testing.hubspot.ManualClock` given to the fake and to every
adapter as clock and sleep, so pacing and back-off never really wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.testing.hubspot import FakeHubSpot, ManualClock

#: No pacing: the rate limits are the fake's to enforce where a test sets them.
FAST = (100_000, 1.0)


@pytest.fixture
def clock() -> ManualClock:
    """Injected time, shared by the local HubSpot and the adapters."""
    return ManualClock()


@pytest.fixture
def token(request: pytest.FixtureRequest) -> str:
    """The test module's ``TOKEN``: what the local HubSpot accepts."""
    return str(request.module.TOKEN)


@pytest.fixture
def fake(clock: ManualClock, token: str) -> FakeHubSpot:
    """A local HubSpot on injected time."""
    return FakeHubSpot(token=token, clock=clock, sleep=clock.sleep)


@pytest.fixture
def make_adapter(
    request: pytest.FixtureRequest, fake: FakeHubSpot, clock: ManualClock, token: str
) -> Iterator[Callable[..., HubSpotAdapter]]:
    """Adapters on the local HubSpot through MockTransport, on injected time, closed
    after the test. Options override the defaults (``token`` the module's token)."""
    made: list[HubSpotAdapter] = []
    extra = getattr(request.module, "ADAPTER_DEFAULTS", dict)

    def make(**options: Any) -> HubSpotAdapter:
        for key, value in {
            "transport": httpx.MockTransport(fake.handle),
            "rate_limit": FAST,
            "search_rate": FAST,
            **extra(),
        }.items():
            options.setdefault(key, value)
        adapter = HubSpotAdapter(
            options.pop("token", token), clock=clock, sleep=clock.sleep, **options
        )
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()
