"""``explain`` tells the truth about the data, whatever the records hold (SPEC R8, issue 16).

Hypothesis builds a hub record and an app record (same or different e-mail, so paired or
not; equal, differing, blank or unreadable values; dates), syncs them once, edits either
side, then checks every claim ``explain`` makes against the records and the index:

* a field is "in sync" only when both records are there, their current values agree
  (after the field's conversion) and both are still the values of the index copy;
* a field whose values differ never reads "in sync" or "same value";
* a paired entry says how it was paired (the identifier, or that syncengine created one
  record from the other) and never that it is not paired; an unpaired one says so;
* values are shown as users read them: dates in ISO 8601, no Python reprs.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from syncengine import (
    Direction,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import MemoryIndexStore

HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("name", "string"),
        PropertySpec("score", "number"),
        PropertySpec("seen", "datetime"),
        PropertySpec("born", "date"),
        PropertySpec("stage", "enum", options=("lead", "customer")),
    ],
)
APP = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string"),
        PropertySpec("nm", "string"),
        PropertySpec("points", "number"),
        PropertySpec("last", "datetime"),
        PropertySpec("birthday", "date"),
        PropertySpec("status", "enum", options=("Lead", "Customer")),
    ],
)
STAGES = {"lead": "Lead", "customer": "Customer"}
FIELDS = (
    ("email", "mail"),
    ("name", "nm"),
    ("score", "points"),
    ("seen", "last"),
    ("born", "birthday"),
    ("stage", "status"),
)
T1 = datetime(2024, 4, 8, 9, 0, tzinfo=UTC)
T2 = datetime(2024, 10, 10, 9, 30, tzinfo=UTC)

emails = st.sampled_from(["ada@example.com", "ADA@example.com", " ada@example.com", None])
hub_values = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["Ada", "ada", "Bob", "", None]),
        "score": st.sampled_from([1, 2, 1.0, "n/a", None]),
        "seen": st.sampled_from([T1, T2, None]),
        "born": st.sampled_from([date(1815, 12, 10), date(1906, 12, 9), None]),
        "stage": st.sampled_from(["lead", "customer", None]),
    }
)
app_values = st.fixed_dictionaries(
    {
        "nm": st.sampled_from(["Ada", "ada", "Bob", "", None]),
        "points": st.sampled_from([1, 2, 1.0, "lots", None]),
        "last": st.sampled_from([T1, T2, None]),
        "birthday": st.sampled_from([date(1815, 12, 10), date(1906, 12, 9), None]),
        "status": st.sampled_from(["Lead", "Customer", None]),
    }
)


def canonical(name: str, value: Any) -> Any:
    """A value as the test compares it: blanks are None, e-mails trimmed, stages mapped."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if name == "status":
        return {v: k for k, v in STAGES.items()}.get(value, value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def agree(hub_name: str, app_name: str, hub: Any, app: Any) -> bool:
    """Whether two current values agree, computed here, independently of the engine."""
    a, b = canonical(hub_name, hub), canonical(app_name, app)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b)
    return bool(a == b)


def build(direction: Direction) -> tuple[InMemoryAdapter, InMemoryAdapter, SyncEngine]:
    hub = InMemoryAdapter([HUB], name="hub", id_prefix="h")
    app = InMemoryAdapter([APP], name="app", id_prefix="a")
    sync = ObjectSync(
        "contacts",
        "people",
        [
            FieldMapping(h, a, options=STAGES) if h == "stage" else FieldMapping(h, a)
            for h, a in FIELDS
        ],
        match=MatchRule.email("email", "mail"),
        direction=direction,
    )
    engine = SyncEngine(hub, app, MemoryIndexStore(), SyncConfig("s", [sync]))
    return hub, app, engine


@given(
    direction=st.sampled_from(list(Direction)),
    hub_email=emails,
    app_email=st.sampled_from(["ada@example.com", "ada@EXAMPLE.com", "bob@example.com", None]),
    hub_first=hub_values,
    app_first=app_values,
    hub_edit=st.none() | hub_values,
    app_edit=st.none() | app_values,
)
def test_explain_claims_hold_against_the_data(
    direction, hub_email, app_email, hub_first, app_first, hub_edit, app_edit
):
    """Every field line and the pairing line of ``explain`` are true of the records."""
    hub, app, engine = build(direction)
    h = hub.put("contacts", email=hub_email, **hub_first)
    a = app.put("people", mail=app_email, **app_first)
    engine.initial_sync()
    if hub_edit is not None:
        hub.patch("contacts", h.id, **hub_edit)
    if app_edit is not None:
        app.patch("people", a.id, **app_edit)
    for side, object_type, record_id in ((Side.HUB, "contacts", h.id), (Side.APP, "people", a.id)):
        try:
            explanation = engine.explain(side, object_type, record_id)
        except KeyError:
            continue  # a record the index does not know (e.g. the app side of a one-way sync)
        text = str(explanation)
        note(text)
        entry = explanation.entry
        hub_now = hub.get("contacts", entry.hub_id) if entry.hub_id else None
        app_now = app.get("people", entry.app_id) if entry.app_id else None
        (stored,) = engine.index.get("s", "contacts", [entry.entry_id]).values()
        paired = entry.hub_id is not None and entry.app_id is not None
        event(f"{entry.state.value}, {'paired' if paired else 'alone'}")

        # No Python reprs; dates and times in ISO 8601.
        for marker in ("datetime.", "Decimal(", "frozenset(", "=None", "tzinfo"):
            assert marker not in text
        for record in (hub_now, app_now):
            for value in record.properties.values() if record is not None else ():
                if isinstance(value, date):
                    assert value.isoformat() in text

        # Pairing: said when paired, and how; never "not paired" for a pair.
        if paired:
            assert "not paired" not in text
            assert "(not matched)" not in text
            assert ("matched by: email" in text) or ("syncengine created the" in text), text
        else:
            assert "not paired" in text

        lines = text.splitlines()
        for field in explanation.fields:
            (line,) = [x for x in lines if x.startswith(f"    {field.hub} ↔ {field.app}:")]
            both = hub_now is not None and app_now is not None
            same = both and agree(
                field.hub,
                field.app,
                hub_now.properties.get(field.hub),
                app_now.properties.get(field.app),
            )
            copies = (
                stored.hub_values is not None
                and stored.app_values is not None
                and hub_now is not None
                and app_now is not None
                and agree(
                    field.hub,
                    field.hub,
                    hub_now.properties.get(field.hub),
                    stored.hub_values.get(field.hub),
                )
                and agree(
                    field.app,
                    field.app,
                    app_now.properties.get(field.app),
                    stored.app_values.get(field.app),
                )
            )
            event(f"field: {'same' if same else 'differ'}, {'in sync' if field.in_sync else '-'}")
            assert field.agree == same, line
            assert field.in_sync == (same and copies), line
            assert line.endswith(": in sync") == field.in_sync, line
            if not same:
                assert "in sync" not in line, line
                assert "same value" not in line, line
            # The values shown are the records' current values, as users read them.
            values = lines[lines.index(line) + 1]
            assert values.lstrip().startswith("values:"), values
            if not both:
                assert "(no record)" in values


def test_a_pair_that_fails_its_first_sync_still_says_how_it_matched():
    """A matched pair whose first sync fails is paired: explain names the identifier."""
    hub, app, engine = build(Direction.TWO_WAY)
    h = hub.put("contacts", email="ada@example.com", name="Ada", score="n/a", seen=T1)
    a = app.put("people", mail="ADA@example.com", nm="Augusta", points=3, last=T2)
    engine.initial_sync()
    explanation = engine.explain(Side.APP, "contacts", a.id)
    assert (h.id, a.id) == (explanation.entry.hub_id, explanation.entry.app_id)
    assert "failed" == explanation.entry.state.value
    assert "email/mail" == explanation.matched_by
    assert any(item.action == "matched" for item in explanation.history)
    text = str(explanation)
    assert "matched by: email/mail" in text
    assert "(not matched)" not in text
    name = next(f for f in explanation.fields if f.hub == "name")
    assert not name.agree
    assert not name.in_sync
    assert "not yet: nothing is written while the record fails" in name.text
    score = next(f for f in explanation.fields if f.hub == "score")
    assert "expected a number" in score.text
    seen = next(line for line in text.splitlines() if "values:" in line and "2024-" in line)
    assert "hub 2024-04-08T09:00:00+00:00 · app 2024-10-10T09:30:00+00:00" in seen


def test_same_values_with_an_older_index_copy_are_not_called_in_sync():
    """Both sides changed to the same value since the last sync: equal, but not "in sync"."""
    hub, app, engine = build(Direction.TWO_WAY)
    h = hub.put("contacts", email="ada@example.com", name="Ada")
    a = app.put("people", mail="ada@example.com", nm="Ada")
    engine.initial_sync()
    assert "in sync" == engine.explain(Side.HUB, "contacts", h.id).fields[1].text
    hub.patch("contacts", h.id, name="Augusta")
    app.patch("people", a.id, nm="Augusta")
    name = engine.explain(Side.HUB, "contacts", h.id).fields[1]
    assert ("Augusta", "Augusta", "Ada", "Ada") == (
        name.hub_value,
        name.app_value,
        name.hub_copy,
        name.app_copy,
    )
    assert name.agree
    assert not name.in_sync
    assert name.text.startswith("same value on both sides, but the index copy differs")
    text = str(engine.explain(Side.HUB, "contacts", h.id))
    assert 'last synced: hub "Ada" · app "Ada"' in text


def test_an_object_type_is_named_by_its_hub_type_or_its_name_on_the_side():
    """explain(Side.APP, ...) takes "people" or "contacts"; an unknown name lists both."""
    _hub, app, engine = build(Direction.TWO_WAY)
    a = app.put("people", mail="ada@example.com", nm="Ada")
    engine.initial_sync()
    by_app_name = engine.explain(Side.APP, "people", a.id)
    assert by_app_name == engine.explain(Side.APP, "contacts", a.id)
    with pytest.raises(KeyError, match=r"known: contacts \(in the app: people\)"):
        engine.explain(Side.APP, "widgets", a.id)
