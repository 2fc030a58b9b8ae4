"""``decide_pairs``: a batch of pairs decided as ``decide`` decides each of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from syncengine import (
    Condition,
    Direction,
    FieldMapping,
    Filter,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
)
from syncengine.entry import Entry
from syncengine.plan import (
    Apply,
    UpdateIn,
    compile_object,
    decide,
    decide_pairs,
    decide_pairs_parts,
    pair_decision,
)
from syncengine.records import Record
from syncengine.states import RecordState

NOW = datetime(2026, 12, 7, tzinfo=UTC)
HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("phone", "string"),
        PropertySpec("age", "number"),
    ],
)
#: Values a record may hold: plain text, blank, too long for the inlined case (D1), and
#: values of other types.
VALUES = st.sampled_from(
    (None, "", "  ", "ada@x.io", " Ada ", "Ada", "Bob", "x" * 70_000, "1", 1, 2.5, True, ["a"])
)
#: Absent, blank or plain text only: the values the table merges.
TEXT = st.sampled_from((None, "", "  ", "ada@x.io", " Ada ", "Ada", "Bob", "1"))
POLICIES = st.sampled_from((None, "winner", "newest", lambda conflict: Side.APP))
TIMES = st.sampled_from((None, NOW, datetime(2026, 1, 1, tzinfo=UTC)))


def _record(draw: st.DrawFn, record_id: str, names: tuple[str, ...]) -> Record:
    # Most records hold text only (the table's case); the others anything.
    drawn = VALUES if draw(st.integers(0, 3)) == 0 else TEXT
    values = {n: v for n in names if (v := draw(drawn)) is not None}
    return Record(record_id, values, updated_at=draw(TIMES))


@st.composite
def cases(draw: st.DrawFn, table: bool) -> tuple[Any, ...]:
    app = ObjectSchema(
        "people",
        [
            PropertySpec("mail", "string"),
            PropertySpec("first_name", "string", required=draw(st.booleans())),
            PropertySpec("tel", "string", read_only=draw(st.booleans())),
            PropertySpec("years", "string", required=draw(st.booleans())),
        ],
    )
    # ``table``: a sync the table serves (plain fields, the winner's policy, no filters);
    # else one that may hold anything it does not.
    policies = st.sampled_from((None, "winner")) if table else POLICIES
    fields = [
        FieldMapping("email", "mail", policy=draw(policies)),
        FieldMapping("firstname", "first_name", policy=draw(policies)),
    ]
    if draw(st.booleans()):
        fields.append(FieldMapping("phone", "tel", direction=draw(st.sampled_from(Direction))))
    if not table and draw(st.booleans()):
        fields.append(FieldMapping("age", "years"))  # a conversion: not plain
    sync = ObjectSync(
        "contacts",
        "people",
        fields,
        match=MatchRule.email("email", "mail"),
        direction=draw(st.sampled_from((*Direction, Direction.TWO_WAY))),
        winner=draw(st.sampled_from(Side)),
        hub_filter=(
            Filter.where(Condition("firstname", "neq", "Bob"))
            if not table and draw(st.booleans())
            else None
        ),
        app_filter=(
            Filter.where(Condition("first_name", "neq", "Bob"))
            if not table and draw(st.booleans())
            else None
        ),
    )
    pairs = []
    for n in range(draw(st.integers(0, 6))):
        hub = _record(draw, f"h{n}", ("email", "firstname", "phone", "age"))
        app_record = _record(draw, f"a{n}", ("mail", "first_name", "tel", "years"))
        kind = draw(st.sampled_from(("none", "initial", "synced", "synced-no-app-copy")))
        entry = None
        if kind != "none":
            copies = kind == "synced"
            entry = Entry(
                "s",
                "contacts",
                f"e{n}",
                NOW,
                hub_id=hub.id,
                app_id=None if kind == "initial" else app_record.id,
                state=RecordState.INITIAL if kind == "initial" else RecordState.SYNCED,
                hub_values={"email": "ada@x.io", "firstname": "Ada"} if kind != "initial" else None,
                app_values={"mail": "ada@x.io", "first_name": "Ada"} if copies else None,
            )
        pairs.append((entry, hub, app_record))
    return sync, app, pairs


@given(st.booleans().flatmap(cases))
def test_decide_pairs_decides_each_pair_as_decide_does(case: tuple[Any, ...]) -> None:
    _check(case)


@given(cases(table=True))
def test_decide_pairs_decides_plain_syncs_as_decide_does(case: tuple[Any, ...]) -> None:
    """The syncs the table serves, drawn alone for more of them."""
    _check(case)


def _check(case: tuple[Any, ...]) -> None:
    sync, app, pairs = case
    try:
        plan = compile_object(sync, HUB, app)
    except Exception:  # a combination the config refuses: nothing to decide
        return
    assert decide_pairs(plan, pairs) == [decide(plan, e, h, a) for e, h, a in pairs]


@given(cases(table=True))
def test_decide_pairs_parts_stand_for_decide_s_decisions(case: tuple[Any, ...]) -> None:
    """A pair decided from the table, given as its parts, is decide's decision once
    made an Apply (pair_decision); the others are decide's decisions."""
    sync, app, pairs = case
    try:
        plan = compile_object(sync, HUB, app)
    except Exception:  # a combination the config refuses: nothing to decide
        return
    for made, (entry, hub, app_record) in zip(decide_pairs_parts(plan, pairs), pairs, strict=True):
        expected = decide(plan, entry, hub, app_record)
        if isinstance(made, tuple):
            assert pair_decision(made, hub.id, app_record.id) == expected
        else:
            assert made == expected


def test_plain_pairs_take_the_table() -> None:
    """The common case is merged from the table: hub wins, blanks are filled."""
    app = ObjectSchema(
        "people",
        [PropertySpec("mail", "string"), PropertySpec("first_name", "string")],
    )
    sync = ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
    )
    plan = compile_object(sync, HUB, app)
    hub = Record("h1", {"email": "ada@x.io", "firstname": " "})
    app_record = Record("a1", {"mail": "ADA@x.io", "first_name": "Ada"})
    (made,) = decide_pairs_parts(plan, [(None, hub, app_record)])
    assert isinstance(made, tuple)  # decided from the table: its parts
    (decision,) = decide_pairs(plan, [(None, hub, app_record)])
    assert isinstance(decision, Apply)
    assert decision.writes == (
        UpdateIn(Side.HUB, "h1", {"firstname": "Ada"}),
        UpdateIn(Side.APP, "a1", {"mail": "ada@x.io"}),
    )
    assert decision.hub_values == {"email": "ada@x.io", "firstname": "Ada"}
    assert decision.app_values == {"mail": "ada@x.io", "first_name": "Ada"}
    assert decision == decide(plan, None, hub, app_record)
