"""The lean path's merge (``lean_changes.merge``) against the implementation it replaced.

``merge`` gives its update as a plain tuple (side, record id, values) instead of an
``UpdateIn`` (an attrs class, ~4,500 instructions to make per changed pair). The merge
as it was is kept here as the oracle; on generated tables, values and copies (blanks,
values that are not text or too long, equal values, one side changed, both, neither)
the two must give the same answer, the copies' items in the same order included. Any
faster way through ``merge`` later is held to the same oracle.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from syncengine.engine.lean_changes import _MAX_TEXT, Table, merge
from syncengine.plan import UpdateIn
from syncengine.records import Record, Side
from syncengine.states import RecordState


def _oracle(tab: Table, entry: Any, hub: Record, app: Record) -> Any:
    """``merge`` as it was (syncengine f4f6ac1), its update an ``UpdateIn``."""
    hub_old = entry.hub_values
    app_old = entry.app_values
    if hub_old is None or app_old is None:
        return False
    fields, _, _, winner = tab
    hub_props, app_props = hub.properties, app.properties
    hub_values: dict[str, Any] = {}
    app_values: dict[str, Any] = {}
    to_hub: dict[str, Any] = {}
    to_app: dict[str, Any] = {}
    for hub_name, app_name in fields:
        h = hub_props.get(hub_name)
        a = app_props.get(app_name)
        if h == a and type(h) is str and type(a) is str and len(h) <= _MAX_TEXT and h.strip():
            hub_values[hub_name] = app_values[app_name] = h
            continue
        if h is not None:
            if type(h) is not str or len(h) > _MAX_TEXT:
                return False
            if not h.strip():
                h = None
        if a is not None:
            if type(a) is not str or len(a) > _MAX_TEXT:
                return False
            if not a.strip():
                a = None
        if h == a:
            hub_values[hub_name] = h
            app_values[app_name] = a
            continue
        hub_changed = h != hub_old.get(hub_name)
        app_changed = a != app_old.get(app_name)
        if hub_changed != app_changed:
            if hub_changed:
                source = Side.HUB if h is not None else Side.APP
            else:
                source = Side.APP if a is not None else Side.HUB
        elif h is None:
            source = Side.APP
        elif a is None:
            source = Side.HUB
        else:
            source = winner
        if source is Side.HUB:
            to_app[app_name] = h
            hub_values[hub_name] = app_values[app_name] = h
        else:
            to_hub[hub_name] = a
            hub_values[hub_name] = app_values[app_name] = a
    if to_hub:
        if to_app:
            return False
        return hub_values, app_values, UpdateIn(Side.HUB, hub.id, to_hub)
    if to_app:
        return hub_values, app_values, UpdateIn(Side.APP, app.id, to_app)
    if (
        entry.state is RecordState.SYNCED
        and entry.hub_id == hub.id
        and entry.app_id == app.id
        and len(hub_old) == len(hub_values)
        and len(app_old) == len(app_values)
        and all(v == hub_old.get(k, None) for k, v in hub_values.items())
        and all(v == app_old.get(k, None) for k, v in app_values.items())
    ):
        return True
    return hub_values, app_values, None


#: Few texts, so that values are often equal (one longer than plain text, which the
#: general path decides); blanks; values that are not plain text.
TEXT = st.sampled_from(["Ada", "ada", "Bob", "Ada ", "x" * 20, "ß", "y" * (_MAX_TEXT + 1)])
VALUE = st.one_of(
    TEXT,
    TEXT,
    TEXT,
    st.sampled_from([None, "", "  ", "\u2003", "\t\n"]),
    st.sampled_from([1, 2.5, True, ["Ada"], "y" * (_MAX_TEXT + 1), "z" * _MAX_TEXT]),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Table, Any, Record, Record]:
    size = draw(st.integers(0, 6))
    fields = tuple((f"h{i}", f"A{i}") for i in range(size))
    winner = draw(st.sampled_from([Side.HUB, Side.APP]))
    tab: Table = (fields, frozenset(), frozenset(), winner)
    # Each field: the hub's and app's copies, then each side's value, often the copy or
    # the other side's.
    hub_old: dict[str, Any] = {}
    app_old: dict[str, Any] = {}
    hub_props: dict[str, Any] = {}
    app_props: dict[str, Any] = {}
    for hub_name, app_name in fields:
        copy = draw(st.one_of(TEXT, st.none()))
        if copy is not None or draw(st.booleans()):
            hub_old[hub_name] = copy
        if copy is not None or draw(st.booleans()):
            app_old[app_name] = copy if draw(st.integers(0, 4)) else draw(TEXT)
        for props, name in ((hub_props, hub_name), (app_props, app_name)):
            how = draw(st.integers(0, 5))
            if how <= 2 and copy is not None:
                props[name] = copy
            elif how == 3 and draw(st.booleans()):
                continue  # absent
            else:
                props[name] = draw(VALUE)
        if draw(st.integers(0, 3)) == 0 and app_name in app_props:
            hub_props[hub_name] = app_props[app_name]  # in sync
    if draw(st.integers(0, 9)) == 0:
        hub_props["unmapped"] = "x"
    if draw(st.integers(0, 9)) == 0:
        hub_old["gone"] = "x"  # a copy with a field the table no longer maps
    entry = SimpleNamespace(
        hub_values=hub_old if draw(st.integers(0, 20)) else None,
        app_values=app_old,
        state=draw(st.sampled_from([RecordState.SYNCED, RecordState.SYNCED, RecordState.FAILED])),
        hub_id=draw(st.sampled_from(["h", "h", "other"])),
        app_id="a",
    )
    return tab, entry, Record("h", hub_props), Record("a", app_props)


def _shape(result: Any) -> Any:
    """A merge's result with its dicts' items in order (dict equality ignores order)."""
    if isinstance(result, bool):
        return result
    hub_values, app_values, update = result
    if isinstance(update, UpdateIn):
        update = (update.side, update.record_id, update.properties)
    return (
        list(hub_values.items()),
        list(app_values.items()),
        None if update is None else (update[0], update[1], list(update[2].items())),
    )


@given(case=cases())
def test_merge_is_the_field_by_field_merge(case: tuple[Table, Any, Record, Record]) -> None:
    """Same copies (in the same order), same update, same refusal, on any values."""
    assert _shape(merge(*case)) == _shape(_oracle(*case))


def test_the_cases_reach_every_outcome() -> None:
    """The oracle is no constant: a refusal, no change, an update each way, copies only."""
    fields = (("h0", "A0"), ("h1", "A1"))
    tab: Table = (fields, frozenset(), frozenset(), Side.HUB)
    copies = {"h0": "Ada", "h1": "Bob"}, {"A0": "Ada", "A1": "Bob"}
    entry = SimpleNamespace(
        hub_values=copies[0], app_values=copies[1], state=RecordState.SYNCED, hub_id="h", app_id="a"
    )
    hub = Record("h", {"h0": "Ada", "h1": "Bob"})
    assert _oracle(tab, entry, hub, Record("a", {"A0": "Ada", "A1": "Bob"})) is True
    assert _oracle(tab, entry, hub, Record("a", {"A0": 1, "A1": "Bob"})) is False
    edited = _shape(_oracle(tab, entry, hub, Record("a", {"A0": "Ada", "A1": "Bo"})))
    assert edited[2] == (Side.HUB, "h", [("h1", "Bo")])
    both = Record("h", {"h0": "Ad", "h1": "Bob"})
    assert _oracle(tab, entry, both, Record("a", {"A0": "Ada", "A1": "Bo"})) is False
    assert _shape(merge(tab, entry, both, Record("a", {"A0": "Ada", "A1": "Bob"})))[2] == (
        Side.APP,
        "a",
        [("A0", "Ad")],
    )
