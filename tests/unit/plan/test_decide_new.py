"""``decide_new``: a batch of new records decided as ``decide`` decides each of them."""

from __future__ import annotations

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
from syncengine.plan import (
    Apply,
    CreateIn,
    compile_object,
    decide,
    decide_new,
    decide_new_parts,
    identify,
)
from syncengine.records import Record

HUB = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string"),
        PropertySpec("firstname", "string"),
        PropertySpec("phone", "string"),
        PropertySpec("age", "number"),
    ],
)
#: Text values a record may hold: plain, blank, too long for the inlined case (D1), and
#: values of other types.
VALUES = st.sampled_from(
    (None, "", "  ", "ada@x.io", " Ada ", "Bob", "x" * 70_000, "1", 1, 2.5, True, ["a"])
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, ...]:
    required = draw(st.booleans())
    app = ObjectSchema(
        "people",
        [
            PropertySpec("mail", "string"),
            PropertySpec("first_name", "string", required=required),
            PropertySpec("tel", "string"),
            PropertySpec("years", "string", required=draw(st.booleans()) and required),
        ],
    )
    fields = [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")]
    if draw(st.booleans()):
        fields.append(FieldMapping("phone", "tel"))
    if draw(st.booleans()):
        fields.append(FieldMapping("age", "years"))  # a conversion: not plain
    if draw(st.booleans()):
        # A field that flows one way only.
        fields.append(FieldMapping("phone", "tel", direction=Direction.TO_HUB))
        fields = [f for f in fields if f.hub != "phone" or f.direction is Direction.TO_HUB]
    side = draw(st.sampled_from(Side))
    sync = ObjectSync(
        "contacts",
        "people",
        fields,
        match=MatchRule.email("email", "mail", require=draw(st.booleans())),
        direction=draw(st.sampled_from(Direction)),
        hub_filter=(
            Filter.where(Condition("firstname", "neq", "Bob")) if draw(st.booleans()) else None
        ),
        app_filter=(
            Filter.where(Condition("first_name", "neq", "Bob")) if draw(st.booleans()) else None
        ),
    )
    names = ("email", "firstname", "phone", "age")
    if side is Side.APP:
        names = ("mail", "first_name", "tel", "years")
    records = draw(
        st.lists(
            st.fixed_dictionaries(dict.fromkeys(names, VALUES)).map(
                lambda values: {k: v for k, v in values.items() if v is not None}
            ),
            max_size=6,
        )
    )
    return sync, app, side, records


@given(cases())
def test_decide_new_decides_each_record_as_decide_does(case: tuple[Any, ...]) -> None:
    sync, app, side, properties = case
    try:
        plan = compile_object(sync, HUB, app)
    except Exception:  # a combination the config refuses: nothing to decide
        return
    records = [
        (record, identify(plan, side, record.properties))
        for n, values in enumerate(properties)
        for record in (Record(f"r{n}", values),)
    ]
    alone = [
        decide(plan, None, *((r, None) if side is Side.HUB else (None, r)), keys=keys)
        for r, keys in records
    ]
    assert decide_new(plan, side, records) == alone


def test_plain_records_take_the_table() -> None:
    """The common case is decided from the table: a create with the record's values."""
    app = ObjectSchema(
        "people",
        [PropertySpec("mail", "string"), PropertySpec("first_name", "string", required=True)],
    )
    sync = ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
    )
    plan = compile_object(sync, HUB, app)
    record = Record("h1", {"email": "ada@x.io", "firstname": "Ada", "phone": "1"})
    (decision,) = decide_new(plan, Side.HUB, [(record, ("0:ada@x.io",))])
    assert isinstance(decision, Apply)
    assert dict(decision.writes[0].properties) == {"mail": "ada@x.io", "first_name": "Ada"}
    assert decision.hub_values == {"email": "ada@x.io", "firstname": "Ada"}
    assert decision.app_values == {"mail": "ada@x.io", "first_name": "Ada"}
    # Blank first name: the app requires it, so the record fails (decide's own message).
    blank = Record("h2", {"email": "bob@x.io", "firstname": " "})
    (failed,) = decide_new(plan, Side.HUB, [(blank, ("0:bob@x.io",))])
    assert failed == decide(plan, None, blank, None, keys=("0:bob@x.io",))
    assert not isinstance(failed, Apply)


def test_decide_new_parts_gives_the_plain_creates_as_parts() -> None:
    """The lean creates' way: the table's creates as (properties, hub copy, app copy),
    the same values as decide_new's Apply; the other records' decisions as decide's."""
    app = ObjectSchema(
        "people",
        [PropertySpec("mail", "string"), PropertySpec("first_name", "string", required=True)],
    )
    sync = ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
    )
    plan = compile_object(sync, HUB, app)
    plain = Record("h1", {"email": "ada@x.io", "firstname": "Ada"})
    blank = Record("h2", {"email": "bob@x.io", "firstname": " "})
    records = [(plain, ("0:ada@x.io",)), (blank, ("0:bob@x.io",))]
    parts, failed = decide_new_parts(plan, Side.HUB, records)
    assert parts == (
        {"mail": "ada@x.io", "first_name": "Ada"},
        {"email": "ada@x.io", "firstname": "Ada"},
        {"mail": "ada@x.io", "first_name": "Ada"},
    )
    assert failed == decide(plan, None, blank, None, keys=("0:bob@x.io",))
    (decision, _) = decide_new(plan, Side.HUB, records)
    assert decision == Apply((CreateIn(Side.APP, parts[0]),), parts[1], parts[2])
