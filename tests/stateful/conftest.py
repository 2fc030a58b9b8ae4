"""Fixtures of the stateful tests' small, hand-written companions (regressions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import MemoryIndexStore, SQLiteIndexStore
from syncengine.report import SyncEvent
from syncengine.testing import FaultyAdapter


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    """A controllable clock."""
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
def index(request, tmp_path):
    """Each index store in turn."""
    store = MemoryIndexStore() if request.param == "memory" else SQLiteIndexStore(tmp_path / "i.db")
    yield store
    store.close()


@pytest.fixture
def hub(clock):
    """The hub: contacts with an e-mail and a first name."""
    schema = ObjectSchema(
        "contacts", [PropertySpec("email", "string"), PropertySpec("firstname", "string")]
    )
    return InMemoryAdapter([schema], name="hub", clock=clock, id_prefix="h")


@pytest.fixture
def app(clock):
    """The app: people with a mail and a first name."""
    schema = ObjectSchema(
        "people", [PropertySpec("mail", "string"), PropertySpec("first_name", "string")]
    )
    return InMemoryAdapter([schema], name="app", clock=clock, id_prefix="a")


@pytest.fixture
def faulty_app(app):
    """The app behind a FaultyAdapter."""
    return FaultyAdapter(app, seed=0)


@pytest.fixture
def faulty_hub(hub):
    """The hub behind a FaultyAdapter."""
    return FaultyAdapter(hub, seed=0)


@pytest.fixture
def make_engine(faulty_hub, faulty_app, index, clock):
    """Build an engine (a new process, each call) over both faulty apps and the index."""

    def make(on_event: Callable[[SyncEvent], None] | None = None) -> SyncEngine:
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
            match=MatchRule.email("email", "mail"),
        )
        config = SyncConfig("s", [obj])
        return SyncEngine(
            faulty_hub,
            faulty_app,
            index,
            config,
            clock=clock,
            sleep=clock.advance,
            on_event=on_event,
        )

    return make
