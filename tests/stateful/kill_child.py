"""The child process of ``test_kill.py``: a real sync over two SQLiteAdapter apps.

Run as ``python kill_child.py FOLDER [KILL]``. ``FOLDER`` holds ``hub.db``, ``app.db``,
``index.db`` and ``progress`` (the steps done so far). The child runs, from where the
progress file says:

1. ``initial``: the initial sync;
2. ``changes``: the apps' users change records (``apply_changes``; no adapter call goes
   through the engine, so no kill can land in it);
3. ``incremental``: an incremental pass;
4. ``settle``: reconcile and incremental passes until one writes nothing;

then prints the final state as one JSON line, with the state after each step it ran
(``steps``): the test compares those too, so a record left queued, or an excluded
entry missing, after the resumed step is found without the settling passes' reconcile.
``KILL`` is ``<when>:<method>:<n>``: the
process sends itself SIGKILL before or after (``<when>``) the ``n``-th call of
``<method>`` that the engine makes to either app (``any`` counts every call and every
scan page), so a kill after a ``create`` lands between the remote create and the index
commit, and one after a page lands after that page's index commit.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import SQLiteAdapter
from syncengine.index import SQLiteIndexStore
from syncengine.testing import FaultyAdapter

HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("phone", "string"),
    ],
)
APP = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string"),
        PropertySpec("first_name", "string"),
        PropertySpec("tel", "string"),
    ],
)
CONFIG = SyncConfig(
    "killed",
    [
        ObjectSync(
            "contacts",
            "people",
            [
                FieldMapping("email", "mail"),
                FieldMapping("firstname", "first_name"),
                FieldMapping("phone", "tel"),
            ],
            match=MatchRule.email("email", "mail"),
        )
    ],
)
STEPS = ("initial", "changes", "incremental", "settle")


def open_apps(folder: Path) -> tuple[SQLiteAdapter, SQLiteAdapter]:
    """The two apps: small pages and batches, so a pass makes many calls."""
    hub = SQLiteAdapter(
        folder / "hub.db", [HUB], name="hub", id_prefix="h", page_size=5, max_batch_size=4
    )
    app = SQLiteAdapter(
        folder / "app.db", [APP], name="app", id_prefix="a", page_size=5, max_batch_size=4
    )
    return hub, app


def seed(folder: Path) -> None:
    """The data both runs start from: matches, app-only, hub-only, duplicates, no e-mail."""
    hub, app = open_apps(folder)
    with hub.transaction():
        for i in range(24):
            hub.put("contacts", email=f"p{i}@x.io", firstname=f"Hub{i}", phone=None)
        hub.put("contacts", email="not-an-email", firstname="Nobody")
        hub.put("contacts", email="P3@X.IO ", firstname="Hub3 again")  # a duplicate (M3)
    with app.transaction():
        for i in range(12, 36):
            app.put("people", mail=f"p{i}@x.io", first_name=None, tel=f"+45 {i}")
        app.put("people", mail="p20@x.io", first_name="App20 again")  # a duplicate (M3)
    hub.close()
    app.close()


def apply_changes(hub: SQLiteAdapter, app: SQLiteAdapter) -> None:
    """Users change both apps between the passes: updates, creates, deletions."""
    with hub.transaction():
        for i in (1, 5, 13, 17):
            hub.patch("contacts", f"h{i + 1}", firstname=f"Hub{i} renamed")
        hub.put("contacts", email="new-hub@x.io", firstname="New hub")
        hub.put("contacts", email="both@x.io", firstname="Both (hub)")
        hub.remove("contacts", "h8")
    with app.transaction():
        for i in (14, 20, 30):
            app.patch("people", f"a{i - 11}", tel=f"+46 {i}")
        app.put("people", mail="new-app@x.io", first_name="New app")
        app.put("people", mail="both@x.io", tel="+47 1")
        app.remove("people", "a22")


def state(hub: SQLiteAdapter, app: SQLiteAdapter, index: SQLiteIndexStore) -> dict[str, object]:
    """What a run ends with, independent of the ids it happened to create."""
    rows = {
        "hub": sorted(
            [
                str(r.properties.get("email")),
                r.properties.get("firstname"),
                r.properties.get("phone"),
            ]
            for r in hub.records("contacts")
        ),
        "app": sorted(
            [str(r.properties.get("mail")), r.properties.get("first_name"), r.properties.get("tel")]
            for r in app.records("people")
        ),
        "states": {s.value: n for s, n in index.counts("killed").get("contacts", {}).items() if n},
        "pending": sum(1 for _ in index.entries("killed", pending=True)),
    }
    return rows


def killer(spec: str) -> tuple[Callable[[str, int], None], bool]:
    """A FaultyAdapter hook that SIGKILLs this process at the call ``spec`` names.

    One hook is shared by both apps, so ``n`` counts the calls to either.
    """
    when, method, nth = spec.split(":")
    target = int(nth)
    seen = {"n": 0}

    def hook(called: str, _: int) -> None:
        if method in ("any", called):
            seen["n"] += 1
            if seen["n"] == target:
                os.kill(os.getpid(), signal.SIGKILL)

    return hook, when == "after"


def main(folder: Path, kill: str | None) -> None:
    progress = folder / "progress"
    done = progress.read_text().split() if progress.exists() else []
    hub, app = open_apps(folder)
    index = SQLiteIndexStore(folder / "index.db")
    faulty = {side: FaultyAdapter(inner) for side, inner in ((Side.HUB, hub), (Side.APP, app))}
    calls: Counter[str] = Counter()

    def count(method: str, _: int) -> None:
        calls["any"] += 1
        calls[method] += 1

    hook, after = killer(kill) if kill else (None, False)
    for adapter in faulty.values():
        adapter.on_call(count)
        if hook is not None:
            adapter.on_call(hook, after=after)
    # The default leases (300 s): the run after a kill takes the killed one's leases
    # over at once (S8, S9); queue_wait is short so that a failure to do so is quick.
    engine = SyncEngine(faulty[Side.HUB], faulty[Side.APP], index, CONFIG, queue_wait=1.0)
    counts: dict[str, dict[str, int]] = {}
    steps: dict[str, dict[str, object]] = {}
    for step in STEPS:
        if step in done:
            continue
        before = Counter(calls)
        if step == "initial":
            engine.initial_sync()
        elif step == "changes":
            apply_changes(hub, app)
        elif step == "incremental":
            engine.incremental_sync()
        else:
            for _ in range(6):
                if engine.reconcile().writes == 0 and engine.incremental_sync().writes == 0:
                    break
            else:
                raise SystemExit("no convergence after 6 rounds")
        counts[step] = dict(calls - before)
        steps[step] = state(hub, app, index)
        with progress.open("a") as out:
            out.write(step + "\n")
    report = {"state": state(hub, app, index), "calls": counts, "steps": steps}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--seed":
        seed(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
