"""Entry's field order: the hot paths build entries positionally (engine, SQLite store)."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from syncengine.index import Entry, HistoryItem
from syncengine.index._entry import FIELD_ORDER, POSITIONAL
from syncengine.records import Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState


def test_entry_takes_its_fields_positionally_in_field_order() -> None:
    # If Entry gains, loses or reorders a field, FIELD_ORDER must follow, or the fast
    # positional paths silently fall back to keywords (slower, still correct).
    assert tuple(field.name for field in attrs.fields(Entry)) == FIELD_ORDER
    assert POSITIONAL
    at = datetime(2026, 1, 1, tzinfo=UTC)
    values = {name: getattr(Entry("s", "contacts", "e1", at), name) for name in FIELD_ORDER}
    assert Entry(*values.values()) == Entry(**values)


def test_make_entry_is_the_constructor_without_its_setattr_calls() -> None:
    # make_entry skips attrs's __init__: it is only used while that __init__ does
    # nothing but set the fields (no factory, validator, converter or post-init).
    from syncengine.entry import _plain_init, make_entry

    assert _plain_init(Entry)
    assert make_entry is not Entry  # the fast constructor is in use
    at = datetime(2026, 1, 1, tzinfo=UTC)
    full = Entry(
        "s",
        "contacts",
        "e1",
        at,
        "h1",
        "a1",
        RecordState.FAILED,
        frozenset({"0:x"}),
        "0:x",
        {"email": "x"},
        {"Email": "x"},
        ErrorCategory.DELETED,
        ExcludeReason.DUPLICATE,
        "gone",
        Side.APP,
        "k",
        3,
        "m",
        {"companies": frozenset({"c1"})},
        Side.HUB,
        (HistoryItem(at, "synced", "x"),),
    )
    for entry in (Entry("s", "contacts", "e1", at), full):
        values = [getattr(entry, name) for name in FIELD_ORDER]
        made = make_entry(*values)
        assert type(made) is Entry
        assert made == entry
        assert [getattr(made, name) for name in FIELD_ORDER] == values
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            made.state = RecordState.SYNCED  # type: ignore[misc]


def test_plain_init_refuses_a_class_whose_init_does_more() -> None:
    from syncengine.entry import _plain_init

    @attrs.frozen(slots=True)
    class Checked(Entry):
        extra: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))

    @attrs.frozen(slots=True)
    class Made(Entry):
        extra: list[int] = attrs.Factory(list)

    @attrs.frozen(slots=True)
    class After(Entry):
        def __attrs_post_init__(self) -> None:
            pass

    assert not _plain_init(Checked)
    assert not _plain_init(Made)
    assert not _plain_init(After)


def test_make_history_item_is_the_constructor() -> None:
    from syncengine.entry import make_history_item

    assert make_history_item is not HistoryItem  # the fast constructor is in use
    at = datetime(2026, 1, 1, tzinfo=UTC)
    made = make_history_item(at, "synced", "updated app: city")
    assert type(made) is HistoryItem
    assert made == HistoryItem(at, "synced", "updated app: city")
    assert (made.at, made.action, made.detail) == (at, "synced", "updated app: city")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.action = "failed"  # type: ignore[misc]


def test_make_record_update_is_the_constructor() -> None:
    from syncengine.entry import _plain_init, make_record_update
    from syncengine.records import RecordUpdate

    assert _plain_init(RecordUpdate)
    assert make_record_update is not RecordUpdate  # the fast constructor is in use
    values = {"City": "London"}
    made = make_record_update("a1", values)
    assert type(made) is RecordUpdate
    assert made == RecordUpdate("a1", values)
    assert made.id == "a1"
    assert made.properties is values
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.id = "a2"  # type: ignore[misc]
