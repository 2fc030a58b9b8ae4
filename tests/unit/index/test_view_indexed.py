"""RowCodec.view reads a row whose ``data`` starts with one of indexed_data's heads
(phase 1's rows: the head, the kept values, ``]``) by scanning only what follows the
head (RowCodec._indexed): the view, its history and the values kept are exactly what
the general reading of the row (RowCodec._bare, else the row decoded) gives. Generated
rows: the head of either side or another text, kept values well formed or not, odd
hot columns, text after the value, a history item number forgotten since."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine.index import SQLiteIndexStore, _rowformat
from syncengine.index._rowformat import RowCodec, StoredRowView
from syncengine.index.base import RowView

S, TYPE, TAG = "s", "contacts", "i1"
US = 1_796_694_649_397_292  # a time in microseconds


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteIndexStore]:
    made = SQLiteIndexStore(str(tmp_path_factory.mktemp("view") / "index.db"))
    yield made
    made.close()


def kept_texts(codec: RowCodec) -> st.SearchStrategy[str]:
    """What may follow a head: kept values as phase 1 writes them, and other JSON."""
    names = st.lists(st.sampled_from(["email", "name", "phone", "ü"]), unique=True, max_size=3)
    text = st.sampled_from(["", "a", "Ærø", "x" * 20]) | st.none()
    written = st.builds(
        lambda tag, values: codec.kept_json(tag, values),
        st.sampled_from([TAG, "i2", ""]),
        names.flatmap(lambda ns: st.fixed_dictionaries(dict.fromkeys(ns, text))),
    )
    other = st.sampled_from(
        [
            "1",
            "null",
            "[]",
            '["i1"]',
            '["i1",{"a":"b"}]',
            '["i1",{"a":1}]',
            '["i1",99999,"a"]',
            '["i1",[[[[1]]]]]',
            '"text"',
            "{}",
            "[",
            "",
            "]",
        ]
    )
    return written | other


@st.composite
def rows(draw: st.DrawFn, codec: RowCodec, heads: list[str]) -> tuple[Any, ...]:
    head = draw(st.sampled_from([*heads, "[null,null,null,[0,999],null,0,", heads[0][:-1]]))
    tail = draw(kept_texts(codec))
    end = draw(st.sampled_from(["]", "]", "]", " ]", "] ", "]]", ",1]", ""]))
    data = f"{head}{tail}{end}"
    hub_id = draw(st.sampled_from(["h1", None, 7]))
    app_id = draw(st.sampled_from([None, None, "a1", b"x"]))
    state = draw(st.sampled_from([0, 0, 1, 4, 9]))
    updated = draw(st.sampled_from([US, US, 0, -(2**70), "1"]))
    pending = draw(st.sampled_from([None, None, None, 0]))
    keys = draw(st.sampled_from(["0:a@x", "0:a@x", None, '["0:a@x","1:b"]', "[bad"]))
    return (1, 1, "h:h1", hub_id, app_id, state, updated, pending, keys, data)


def described(view: RowView) -> tuple[Any, ...]:
    """What a view says, and for a stored one what write_matched reads of it."""
    said = (
        type(view),
        view.sync_id,
        view.object_type,
        view.entry_id,
        view.hub_id,
        view.app_id,
        view.state,
        view.pending,
        view.keys,
        view.mark,
        view.bare,
    )
    if isinstance(view, StoredRowView):
        return (*said, view.history, view.updated, view.row)
    return (*said, view.entry())


def test_a_phase_1_row_takes_the_short_way(store: SQLiteIndexStore) -> None:
    codec = store._codec
    _, head = codec.indexed_data("hub")
    data = f"{head}{codec.kept_json(TAG, {'email': 'a@x', 'name': None})}]"
    row = (1, 1, "h:h1", "h1", None, 0, US, None, "0:a@x", data)
    number = codec._heads[head]
    assert codec._indexed(S, TYPE, row, data, len(head), number, None) is not None
    kept: dict[str, dict[str, str | None]] = {}
    view = codec.view(S, TYPE, row, (TAG, kept))
    assert isinstance(view, StoredRowView)
    assert view.history == [0, number]
    assert kept == {"h:h1": {"email": "a@x", "name": None}}


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_short_way_reads_what_the_general_one_reads(
    store: SQLiteIndexStore, data: st.DataObject
) -> None:
    codec = store._codec
    heads = [codec.indexed_data(side)[1] for side in ("hub", "app")]
    row = data.draw(rows(codec, heads))
    forget = data.draw(st.booleans().map(lambda b: b and data.draw(st.integers(0, 3)) == 0))
    saved = dict(codec._item_pairs), dict(codec._item_ids)

    def read() -> tuple[tuple[Any, ...], dict[str, dict[str, str | None]]]:
        # Each read from the same interned numbers (a decode reads forgotten ones back).
        codec._item_pairs.clear()
        codec._item_ids.clear()
        if not forget:  # else a history item number forgotten (a rolled-back write)
            codec._item_pairs.update(saved[0])
            codec._item_ids.update(saved[1])
        kept: dict[str, dict[str, str | None]] = {}
        return described(codec.view(S, TYPE, row, (TAG, kept))), kept

    try:
        fast, fast_kept = read()
        known = dict(codec._heads)
        codec._heads.clear()
        try:
            slow, slow_kept = read()
        finally:
            codec._heads.update(known)
    finally:
        codec._item_pairs.clear()
        codec._item_ids.clear()
        codec._item_pairs.update(saved[0])
        codec._item_ids.update(saved[1])
    assert fast == slow
    assert fast_kept == slow_kept


def test_the_heads_known_stay_few(store: SQLiteIndexStore) -> None:
    codec = store._codec
    for _ in range(3 * _rowformat._HEADS):
        codec.indexed_data("hub")
        codec.indexed_data("app")
    assert 1 <= len(codec._heads) <= _rowformat._HEADS
