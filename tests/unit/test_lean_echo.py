"""The lean path's echo check (``lean_changes._echo``) answers as
:func:`~syncengine.plan.unchanged_since_sync` does, or leaves the record to it.

``select`` tells the engine's own writes coming back from the user's changes for every
record of a page the lean path may take; for an object sync whose fields are all plain
text both ways it compares the record's values with the index copy itself (the names
of the merge table) and asks ``unchanged_since_sync`` only about a record holding a
value that is not text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from syncengine import FieldMapping, MatchRule, ObjectSchema, ObjectSync, PropertySpec, Side
from syncengine.engine.lean_changes import _echo, table
from syncengine.entry import Entry
from syncengine.plan import compile_object, unchanged_since_sync
from syncengine.records import Record
from syncengine.states import RecordState

HUB = ObjectSchema("contacts", [PropertySpec(n, "string") for n in ("email", "firstname", "city")])
APP = ObjectSchema("people", [PropertySpec(n, "string") for n in ("mail", "first_name", "town")])
PLAN = compile_object(
    ObjectSync(
        "contacts",
        "people",
        [
            FieldMapping("email", "mail"),
            FieldMapping("firstname", "first_name"),
            FieldMapping("city", "town"),
        ],
        match=MatchRule.email("email", "mail"),
    ),
    HUB,
    APP,
)
NAMES = [s.name for s in (*HUB.properties, *APP.properties)]
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "Ada", " Ada ", "ada@example.com", "x" * 65_537]),
    st.sampled_from(["", "  ", "Ada", " Ada ", "ada@example.com", "x" * 65_537]),
    st.text(max_size=4),
    st.integers(-2, 2),
)


@st.composite
def record_and_copy(draw, side):
    """A side's values and an index copy: each value read as the merge reads it (a
    blank as None), then some changed, dropped or added."""
    names = [n for n in NAMES if (n in HUB_NAMES) is (side is Side.HUB)]
    values = {n: draw(VALUES) for n in names if draw(st.integers(0, 5))}  # most present
    copy = {n: v if type(v) is not str or v.strip() else None for n, v in values.items()}
    for name in draw(st.lists(st.sampled_from(names), max_size=2)):
        if draw(st.booleans()):
            copy.pop(name, None)
        else:
            copy[name] = draw(VALUES)
    return values, draw(st.one_of(st.just(copy), st.none()))


HUB_NAMES = {s.name for s in HUB.properties}


@given(data=st.data(), side=st.sampled_from(Side))
def test_the_echo_check_agrees_with_unchanged_since_sync(data, side):
    values, copy = data.draw(record_and_copy(side))
    tab = table(PLAN)
    assert tab is not None  # every field plain text both ways: the lean path's
    names = tuple(hub if side is Side.HUB else app for hub, app in tab[0])
    entry = Entry(
        "s",
        "contacts",
        "h:h1",
        datetime(2024, 1, 1, tzinfo=UTC),
        hub_id="h1",
        app_id="a1",
        state=RecordState.SYNCED,
        hub_values=copy if side is Side.HUB else {},
        app_values=copy if side is Side.APP else {},
    )
    expected = unchanged_since_sync(PLAN, side, Record("r1", values), entry)
    got = _echo(names, values, copy)
    assert got is None or got is expected
    if all(type(values.get(n)) is str and len(values[n]) <= 65_536 for n in names):
        assert got is expected  # every value text: answered here, not left
