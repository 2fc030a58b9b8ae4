"""Phase 2 of the initial sync pairs its app records with the hub's records whatever
the order it reads them in (S3, M1).

Phase 2 syncs the app's records: each pairs with the hub record phase 1 indexed under
its identifier, or is created in the hub. A record added to the hub meanwhile (a user,
another integration) must pair instead of being created next to it. Phase 2 reads the
hub's changes since phase 1 once for that: it used to read them before its first
create into the hub, so a hub record added during phase 2 paired when the app records
phase 2 met before its namesake needed no create (matched, excluded) and was created a
second time when one of them did: the same records, read in another order, made a
duplicate in the hub. Phase 2 now reads the hub's changes when it starts: what the hub
holds then pairs, whatever the order; what is added later is the first incremental
pass's, as a change made after the initial sync is.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import (
    ExcludeReason,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import MemoryIndexStore
from syncengine.report import SyncEvent

HUB = ObjectSchema("contacts", [PropertySpec("email", "string"), PropertySpec("name", "string")])
APP = ObjectSchema("people", [PropertySpec("mail", "string"), PropertySpec("nm", "string")])


def _config(winner: Side) -> SyncConfig:
    return SyncConfig(
        "order",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
                match=MatchRule.email("email", "mail"),
                winner=winner,
            )
        ],
    )


#: The app's records: one the hub holds already (paired in phase 2), one without an
#: e-mail (excluded: phase 2 creates nothing for it), one phase 2 creates in the hub,
#: and the one whose e-mail the hub gains during phase 2.
APP_RECORDS = {
    "matched": "m@x.io",
    "no e-mail": None,
    "created": "a@x.io",
    "gained": "h@x.io",
}


def _run(
    order: tuple[str, ...], added: str, winner: Side, after: int = 1
) -> tuple[InMemoryAdapter, InMemoryAdapter, MemoryIndexStore, SyncEngine, str]:
    hub = InMemoryAdapter([HUB], id_prefix="h")
    # One app record per phase 2 page.
    app = InMemoryAdapter([APP], id_prefix="a", page_size=1)
    hub.put("contacts", email="m@x.io", name="M")
    ids = {}
    for name in order:
        ids[name] = app.put("people", mail=APP_RECORDS[name], nm=name).id
    index = MemoryIndexStore()
    done = False
    pages = 0

    def on_event(event: SyncEvent) -> None:
        nonlocal done, pages
        # A user adds a record to the hub once phase 2 has started (with
        # "phase_progress": after its ``after``-th page).
        if event.phase == "index_app_and_sync" and event.kind == added and not done:
            pages += 1
            if added == "phase_started" or pages >= after:
                done = True
                hub.put("contacts", email="h@x.io", name="Added")

    engine = SyncEngine(hub, app, index, _config(winner), on_event=on_event)
    engine.initial_sync()
    assert done
    return hub, app, index, engine, ids["gained"]


@pytest.mark.parametrize(
    "order",
    [
        ("matched", "no e-mail", "created", "gained"),
        ("matched", "created", "no e-mail", "gained"),
        ("created", "matched", "gained", "no e-mail"),
        ("matched", "gained", "created", "no e-mail"),
    ],
)
@pytest.mark.parametrize("added", ["phase_started", "phase_progress"])
@pytest.mark.parametrize("winner", [Side.HUB, Side.APP], ids=["hub wins", "app wins"])
def test_pairing_in_phase_2_does_not_depend_on_the_app_order(
    order: tuple[str, ...], added: str, winner: Side
) -> None:
    """A hub record that exists when phase 2 starts pairs with the app record holding
    its e-mail; one added once phase 2 is under way is the first incremental pass's (a
    duplicate of the record phase 2 created in the hub, M3, whatever came before): the
    same outcome for every order of the app's records."""
    _check(order, added, winner)


@settings(max_examples=30, deadline=None)
@given(
    order=st.permutations(tuple(APP_RECORDS)),
    after=st.integers(0, len(APP_RECORDS) - 1),
    winner=st.sampled_from((Side.HUB, Side.APP)),
)
def test_any_order_and_moment_of_the_addition_ends_alike(
    order: tuple[str, ...], after: int, winner: Side
) -> None:
    """Every order of the app's records, the hub record added when phase 2 starts or
    after any of its pages but the last: the outcome depends on that moment only."""
    _check(order, "phase_started" if after == 0 else "phase_progress", winner, after)


def _check(order: tuple[str, ...], added: str, winner: Side, after: int = 1) -> None:
    hub, app, index, engine, gained = _run(order, added, winner, after)
    mails = sorted(r.properties["email"] for r in hub.records("contacts"))
    entry = index.by_record_ids("order", "contacts", Side.APP, [gained])[gained]
    assert entry.state is RecordState.SYNCED, entry
    contact = hub.get("contacts", entry.hub_id or "")
    assert contact is not None
    assert app.count("people") == 4  # nothing created in the app
    if added == "phase_started":
        # There before phase 2 read the hub's changes: paired, never created twice.
        assert mails == ["a@x.io", "h@x.io", "m@x.io"], order
        assert entry.matched_by is not None
        assert contact.properties["name"] == ("Added" if winner is Side.HUB else "gained")
    else:
        # Added after phase 2 read the hub's changes: phase 2 created the app record
        # in the hub (whatever came before it); the first incremental pass finds the
        # added record a duplicate, named, and creates nothing more.
        assert mails == ["a@x.io", "h@x.io", "h@x.io", "m@x.io"], order
        assert entry.matched_by is None
        assert contact.properties["name"] == "gained"
        report = engine.incremental_sync()
        added_id = next(r.id for r in hub.records("contacts") if r.properties["name"] == "Added")
        duplicate = index.by_record_ids("order", "contacts", Side.HUB, [added_id])[added_id]
        assert (duplicate.state, duplicate.reason) == (
            RecordState.EXCLUDED,
            ExcludeReason.DUPLICATE,
        ), duplicate
        assert report.side("contacts", Side.APP).created == 0
        assert len(hub.records("contacts")) == 4
