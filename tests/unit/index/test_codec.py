"""The values codec round-trips every storable value exactly and refuses the rest."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine.index import Entry, HistoryItem
from syncengine.index import _codec as codec
from syncengine.testing._index_kit import TRICKY_VALUES, same_value, value_strategy

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@given(value_strategy())
def test_any_storable_value_round_trips_through_json_text(value):
    """loads(dumps(v)) is v, types included (the property behind every SQL store)."""
    assert same_value(value, codec.loads(codec.dumps(value)))


@given(value_strategy())
def test_encoded_values_are_plain_json(value):
    """encode_value returns JSON-able values that decode_value turns back."""
    encoded = codec.encode_value(value)
    assert codec.dumps(value) == codec.to_json(encoded)
    assert same_value(value, codec.decode_value(encoded))


@pytest.mark.parametrize("label", sorted(TRICKY_VALUES))
def test_each_tricky_value_keeps_its_type(label):
    """Each value of the kit's table comes back with its type (set → frozenset)."""
    value = TRICKY_VALUES[label]
    back = codec.loads(codec.dumps(value))
    assert same_value(value, back)
    if isinstance(value, set | frozenset):
        assert type(back) is frozenset


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.0, "1.0"),
        (True, "true"),
        (None, "null"),
        ((1, "a"), '{"$t":[1,"a"]}'),
        (frozenset({"b", "a"}), '{"$s":["a","b"]}'),
        (date(2024, 1, 2), '{"$d":"2024-01-02"}'),
        (
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            '{"$dt":"2024-01-02T03:04:05+02:00"}',
        ),
        (math.nan, '{"$f":"nan"}'),
        (-math.inf, '{"$f":"-inf"}'),
        ({"$t": 1}, '{"$o":{"$t":1}}'),
        ({"a": "Æ"}, '{"a":"Æ"}'),
    ],
)
def test_the_encoding_is_compact_tagged_json(value, text):
    """Tags, escapes and compact separators are as documented; non-ASCII stays UTF-8."""
    assert text == codec.dumps(value)


@pytest.mark.parametrize(
    "value",
    [object(), b"bytes", 1j, {1: "int key"}, [1, {"deep": object()}], frozenset({b"x"})],
)
def test_unstorable_values_are_refused_naming_the_type(value):
    """Types outside the list raise CodecError (a ValueError) naming the offender."""
    with pytest.raises(codec.CodecError, match="cannot store"):
        codec.dumps(value)


def test_an_unknown_tag_in_stored_text_is_an_error():
    """Stored text with a tag this version does not know is refused, not misread."""
    with pytest.raises(codec.CodecError, match=r"unknown tag '\$zz'"):
        codec.loads('{"$zz":1}')


def test_subclasses_of_str_and_int_are_stored_as_their_base_type():
    """A string enum is stored as its value, an IntEnum as its int."""
    from syncengine import RecordState

    assert "synced" == codec.loads(codec.dumps(RecordState.SYNCED))
    assert type(codec.loads(codec.dumps(RecordState.SYNCED))) is str


@given(st.datetimes(timezones=st.just(UTC)))
def test_micros_round_trip_any_aware_datetime(at):
    """to_micros and from_micros round-trip every aware datetime."""
    assert at == codec.from_micros(codec.to_micros(at))


def test_naive_datetimes_have_no_micros():
    """A naive datetime has no instant: to_micros refuses it."""
    with pytest.raises(codec.CodecError, match="naive"):
        codec.to_micros(datetime(2024, 1, 1))


@pytest.mark.parametrize("base", [0, codec.to_micros(T0 + timedelta(days=1))])
def test_history_round_trips_with_and_without_a_base(base):
    """History items round-trip; with a base, times are stored relative to it."""
    history = (
        HistoryItem(T0, "indexed"),
        HistoryItem(T0 + timedelta(microseconds=7), "failed", "validation: Email"),
    )
    encoded = codec.encode_history(history, base=base)
    assert history == codec.decode_history(encoded, base=base)
    assert 2 == len(encoded[0]), "an empty detail is left out"


def test_links_round_trip_as_sorted_lists():
    """Links are stored as sorted id lists and read back as frozensets."""
    links = {"companies": frozenset({"2", "1"}), "deals": frozenset()}
    assert {"companies": ["1", "2"], "deals": []} == codec.encode_links(links)
    assert links == codec.decode_links(codec.encode_links(links))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"entry_id": 5}, "entry_id must be str"),
        ({"updated_at": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"keys": ["k"]}, "keys must be a frozenset"),
        ({"history": []}, "history must be a tuple"),
        ({"state": "synced"}, "state must be a RecordState"),
        ({"hub_values": {"v": object()}}, "cannot store a value of type object"),
        ({"links": {"companies": ["1"]}}, "links must map str to a set"),
    ],
)
def test_check_entry_names_what_a_store_cannot_keep(change, problem):
    """check_entry refuses an entry a store could not keep exactly, naming the field."""
    fields = {"sync_id": "s", "object_type": "contacts", "entry_id": "e1", "updated_at": T0}
    entry = Entry(**{**fields, **change})
    with pytest.raises(codec.CodecError, match=problem):
        codec.check_entry(entry)


def test_check_entry_accepts_a_storable_entry_and_returns_it():
    """A storable entry passes unchanged."""
    entry = Entry("s", "contacts", "e1", T0, hub_values=dict(TRICKY_VALUES))
    assert entry is codec.check_entry(entry)
