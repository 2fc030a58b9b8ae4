"""Phase 3 of the initial sync pairs its hub records with the app's records whatever
the order it reads them in (S3, M1).

Phase 3 creates in the app the hub records nothing paired. A record added to the app
meanwhile (a user, another integration) must pair with a hub record holding its
identifier instead of being created next to it. Phase 3 reads the app's changes once
for that: it used to read them before its first create, so an app record added
during phase 3 paired when the hub records phase 3 met before it needed no create
(excluded, failed) and was created twice when one of them did: the same records, read
in another order, made a duplicate. Phase 3 now reads the app's changes when it starts:
what the app holds then pairs, whatever the order; what is added later is the first
incremental pass's, as a change made after the initial sync is.
"""

from __future__ import annotations

import pytest

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
CONFIG = SyncConfig(
    "order",
    [
        ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("name", "nm")],
            match=MatchRule.email("email", "mail"),
        )
    ],
)
#: The hub's records: one the app holds already (paired in phase 2), one without an
#: e-mail (excluded: phase 3 creates nothing for it), one phase 3 creates, and the one
#: whose e-mail the app gains during phase 3.
HUB_RECORDS = {
    "matched": "m@x.io",
    "no e-mail": None,
    "created": "a@x.io",
    "gained": "h@x.io",
}


def _run(
    order: tuple[str, ...], added: str
) -> tuple[InMemoryAdapter, MemoryIndexStore, SyncEngine, str]:
    # One hub record per phase 3 batch (phase 3 reads the unpaired ones by id).
    hub = InMemoryAdapter([HUB], id_prefix="h", max_batch_size=1)
    app = InMemoryAdapter([APP], id_prefix="a")
    app.put("people", mail="m@x.io", nm="M")
    ids = {}
    for name in order:
        ids[name] = hub.put("contacts", email=HUB_RECORDS[name], name=name).id
    index = MemoryIndexStore()
    done = False

    def on_event(event: SyncEvent) -> None:
        nonlocal done
        # A user adds a record to the app once phase 3 has started.
        if event.phase == "sync_hub" and event.kind == added and not done:
            done = True
            app.put("people", mail="h@x.io", nm="Added")

    engine = SyncEngine(hub, app, index, CONFIG, on_event=on_event)
    engine.initial_sync()
    assert done
    return app, index, engine, ids["gained"]


@pytest.mark.parametrize(
    "order",
    [
        ("matched", "no e-mail", "created", "gained"),
        ("matched", "created", "no e-mail", "gained"),
        ("matched", "gained", "created", "no e-mail"),
    ],
)
@pytest.mark.parametrize("added", ["phase_started", "phase_progress"])
def test_pairing_in_phase_3_does_not_depend_on_the_hub_order(
    order: tuple[str, ...], added: str
) -> None:
    """An app record that exists when phase 3 starts pairs with the hub record holding
    its e-mail; one added once phase 3 is under way is the first incremental pass's
    (a duplicate of the record phase 3 created, M3, when that hub record came first
    or not): the same outcome for every order of the hub's records."""
    app, index, engine, gained = _run(order, added)
    mails = sorted(r.properties["mail"] for r in app.records("people"))
    entry = index.by_record_ids("order", "contacts", Side.HUB, [gained])[gained]
    assert entry.state is RecordState.SYNCED
    person = app.get("people", entry.app_id or "")
    assert person is not None
    if added == "phase_started":
        # There before phase 3 read the app: paired, never created a second time.
        assert mails == ["a@x.io", "h@x.io", "m@x.io"]
        assert person.properties["nm"] == "gained"  # the hub wins the conflict (D3)
        assert entry.matched_by is not None
    else:
        # Added after phase 3 read the app: phase 3 created the hub record (whatever
        # came before it); the first incremental pass finds the added record a
        # duplicate, named, and creates nothing more.
        assert mails == ["a@x.io", "h@x.io", "h@x.io", "m@x.io"]
        assert person.properties["nm"] == "gained"
        assert entry.matched_by is None
        report = engine.incremental_sync()
        added_id = next(r.id for r in app.records("people") if r.properties["nm"] == "Added")
        duplicate = index.by_record_ids("order", "contacts", Side.APP, [added_id])[added_id]
        assert (duplicate.state, duplicate.reason) == (
            RecordState.EXCLUDED,
            ExcludeReason.DUPLICATE,
        ), duplicate
        assert report.side("contacts", Side.HUB).created == 0
        assert len(app.records("people")) == 4
