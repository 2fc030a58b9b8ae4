"""The conformance kit for index stores: plain checks, a pytest mixin, a state machine.

Every :class:`~syncengine.index.IndexStore` must pass it; the stores that ship with
syncengine run it in ``tests/conformance``. Two ways to run it:

* :func:`check_index_store` (no pytest needed) takes a factory of fresh, empty stores and
  runs every check, raising :class:`AssertionError` that names the first failing check::

      check_index_store(lambda: MyStore(":memory:"))

* :class:`IndexStoreTests` is a pytest mixin: subclass it and provide one fixture,
  ``store``, returning a fresh, empty store; every check is one ``test_…`` method you
  can override::

      class TestMyStore(IndexStoreTests):
          @pytest.fixture
          def store(self, tmp_path):
              return MyStore(tmp_path / "index.db")

Each check is written once, as a plain function taking a store (``check_…``); both
runners call them. A Hypothesis state machine (:class:`IndexStoreMachine`) then drives
the store and a simple dict-based model of the contract through random writes,
deletes, cursors, settings, leases and lookups, and asserts that they agree.

What the kit holds a store to, beyond the interface's docstrings (where they are
silent, these are the choices syncengine made):

* **Exact round trip.** Every field of an :class:`~syncengine.index.Entry` comes back
  equal, Python types included (``1`` stays ``int``, ``1.0`` ``float``, ``True``
  ``bool``, a tuple a tuple, a ``set`` comes back as a ``frozenset``, datetimes keep
  their UTC offset, NaN stays NaN, ``-0.0`` keeps its sign); mappings may come back
  as any mapping. ``updated_at`` and history times may come back in UTC (the same
  instant).
* **What a write must refuse** with :class:`~syncengine.IndexStoreError`, storing
  nothing of the call: an item that is not an ``Entry``; a ``sync_id``,
  ``object_type`` or ``entry_id`` that is not a ``str``; a naive ``updated_at``; keys
  that are not a set of ``str``; ``history`` that is not a tuple; values with types
  outside the codec's list (``str, int, float, bool, None, date, datetime, frozenset,
  set, list, tuple, dict`` with ``str`` keys), such as ``bytes`` or ``object()``.
  :func:`syncengine.index._codec.check_entry` implements the full list.
* **One write call.** Several writes of one entry in a call: the last one wins, at the
  first one's place in the order. Deletes apply after the upserts of the same call (an
  entry both written and deleted ends deleted). A deleted entry written again is new:
  it goes to the end of the order.
* **Leases.** Extending sets the lease to the new ``until``. ``release(names=…)``
  without an object type frees those names in every object type. ``acquire`` returns
  only names it was asked for. ``holders`` (optional) names the owner of each leased
  name asked about, expired or not.
* **Counts.** A state or object type without entries may be absent or 0.
* **Iteration during writes.** Entries present for the whole iteration are yielded
  exactly once; none is yielded twice; each yielded entry is a version that was
  written. (An entry deleted and written again while iterating is a new entry at the
  end of the order, and may be yielded again there.)
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from typing import Any, ClassVar, Final, cast

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from typing_extensions import override

from syncengine.errors import IndexStoreError
from syncengine.history import PassRecord
from syncengine.index._entry import CursorUpdate, Entry, HistoryItem, InboxItem
from syncengine.index.base import (
    Announced,
    IndexStore,
    PairView,
    announced_entry,
    created_entry,
    indexed_entry,
    keeps_history,
    keeps_inbox,
    matched_entry,
    synced_copy,
)
from syncengine.records import Side
from syncengine.report import SideCounts
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = ["IndexStoreTests", "check_index_store"]

#: A factory of fresh, empty stores.
StoreFactory = Callable[[], IndexStore]

T0: Final = datetime(2024, 1, 1, tzinfo=UTC)
A: Final = "kit-sync-a"
B: Final = "kit-sync-b"
CONTACTS: Final = "contacts"
DEALS: Final = "deals"
_PLUS_0530: Final = timezone(timedelta(hours=5, minutes=30))
_MINUS_0800: Final = timezone(timedelta(hours=-8))


# =====================================================================================
# Comparing what was written with what was read
# =====================================================================================
def same_value(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` is ``expected`` read back exactly (types, NaN, offsets).

    Mappings compare as mappings (any mapping type); a ``set`` may come back as a
    ``frozenset``; everything else must have the same type.
    """
    if isinstance(expected, Mapping):
        return (
            isinstance(actual, Mapping)
            and set(expected) == set(actual)
            and all(same_value(expected[key], actual[key]) for key in expected)
        )
    if isinstance(expected, set | frozenset):
        if type(actual) not in (set, frozenset) or len(expected) != len(actual):
            return False
        pool = list(actual)
        for item in expected:
            match = next((i for i, other in enumerate(pool) if same_value(item, other)), None)
            if match is None:
                return False
            pool.pop(match)
        return True
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return bool(expected == actual and math.copysign(1, expected) == math.copysign(1, actual))
    if isinstance(expected, list | tuple):
        return len(expected) == len(actual) and all(
            same_value(x, y) for x, y in zip(expected, actual, strict=True)
        )
    if isinstance(expected, datetime):
        return bool(expected == actual and expected.utcoffset() == actual.utcoffset())
    return bool(expected == actual)


def _same_instant(expected: datetime, actual: object) -> bool:
    return (
        isinstance(actual, datetime)
        and actual.tzinfo is not None
        and actual.utcoffset() is not None
        and expected == actual
    )


def _same_field(name: str, expected: Any, actual: Any) -> bool:
    if name == "updated_at":
        return _same_instant(expected, actual)
    if name == "history":
        return (
            isinstance(actual, tuple)
            and len(actual) == len(expected)
            and all(
                isinstance(got, HistoryItem)
                and _same_instant(want.at, got.at)
                and same_value(want.action, got.action)
                and same_value(want.detail, got.detail)
                for want, got in zip(expected, actual, strict=True)
            )
        )
    if name == "keys":
        return isinstance(actual, frozenset | set) and set(expected) == set(actual)
    if name == "links":
        return isinstance(actual, Mapping) and same_value(
            {k: frozenset(v) for k, v in expected.items()}, dict(actual)
        )
    if expected is None or isinstance(expected, RecordState | ErrorCategory | ExcludeReason | Side):
        return actual is expected
    return same_value(expected, actual)


def entry_difference(expected: Entry, actual: object) -> str:
    """How ``actual`` differs from ``expected`` read back exactly, or ``""``."""
    if not isinstance(actual, Entry):
        return f"expected an Entry, got {actual!r:.200}"
    for field in attrs.fields(Entry):
        want = getattr(expected, field.name)
        got = getattr(actual, field.name)
        if not _same_field(field.name, want, got):
            return f"{field.name}: wrote {want!r:.300}, read back {got!r:.300}"
    return ""


def assert_same_entry(expected: Entry, actual: object, where: str) -> None:
    """Fail, naming ``where``, unless ``actual`` is ``expected`` read back exactly."""
    difference = entry_difference(expected, actual)
    if difference:
        raise AssertionError(f"{where}: entry {expected.entry_id!r} differs: {difference}")


def _assert_entries(expected: Sequence[Entry], actual: Sequence[Entry], where: str) -> None:
    want = [entry.entry_id for entry in expected]
    got = [getattr(entry, "entry_id", entry) for entry in actual]
    if want != got:
        raise AssertionError(f"{where}: expected entries {want}, got {got}")
    for entry, read in zip(expected, actual, strict=True):
        assert_same_entry(entry, read, where)


def _expect_refusal(action: Callable[[], object], what: str) -> None:
    try:
        action()
    except IndexStoreError:
        return
    except Exception as error:
        raise AssertionError(
            f"{what}: expected IndexStoreError, got {type(error).__name__}: {error}"
        ) from error
    raise AssertionError(f"{what}: expected IndexStoreError, the store accepted it")


def _normal_counts(counts: Mapping[str, Mapping[RecordState, int]]) -> dict[str, dict[str, int]]:
    """Counts without zeros and empty object types, with states as plain strings."""
    out: dict[str, dict[str, int]] = {}
    for object_type, by_state in counts.items():
        kept = {str(state.value): n for state, n in by_state.items() if n}
        if kept:
            out[object_type] = kept
    return out


def _counted(entries: Iterable[Entry]) -> dict[str, dict[str, int]]:
    counter = Counter((entry.object_type, entry.state) for entry in entries)
    out: dict[str, dict[str, int]] = {}
    for (object_type, state), n in counter.items():
        out.setdefault(object_type, {})[str(state.value)] = n
    return out


# =====================================================================================
# Example entries
# =====================================================================================
def _entry(entry_id: str, sync_id: str = A, object_type: str = CONTACTS, **fields: Any) -> Entry:
    fields.setdefault("updated_at", T0)
    return Entry(sync_id=sync_id, object_type=object_type, entry_id=entry_id, **fields)


#: Values whose Python types a store must keep, by a label used in failure messages.
TRICKY_VALUES: Final[Mapping[str, Any]] = {
    "str": "Ada",
    "empty str": "",
    "unicode": "Ærø Æblegård — 東京 🚀",
    "quotes and tags in text": 'say "$t" and {"$d": 1} \\ \n\t',
    "int": 1,
    "zero": 0,
    "negative int": -7,
    "big int": 2**70,
    "float": 1.0,
    "float fraction": 0.1,
    "negative zero": -0.0,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "true": True,
    "false": False,
    "none": None,
    "date": date(2024, 2, 29),
    "datetime utc": datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
    "datetime +05:30": datetime(2024, 3, 1, 12, 30, tzinfo=_PLUS_0530),
    "datetime -08:00": datetime(1999, 12, 31, 23, 59, 59, tzinfo=_MINUS_0800),
    "frozenset": frozenset({"a", "b", "c"}),
    "empty frozenset": frozenset(),
    "set": {"x", "y"},
    "frozenset of mixed": frozenset({1, "1", 2.5, (1, 2)}),
    "list": [1, "a", None, 2.0, True],
    "empty list": [],
    "tuple": (1, 2.0, "x"),
    "empty tuple": (),
    "nested": {"a": [1, (2, 3.0), {"b": frozenset({"c"}), "d": date(2020, 1, 1)}]},
    "dict like a tuple tag": {"$t": [1, 2]},
    "dict like a date tag": {"$d": "2024-01-02"},
    "dict like an escape tag": {"$o": {"$t": 1}},
    "dict with a $ key and more": {"$t": 1, "other": 2},
    "empty dict": {},
    "list of dates": [date(2020, 1, 1), datetime(2020, 1, 1, tzinfo=UTC)],
}

#: Values a store must refuse (:class:`~syncengine.IndexStoreError`), by label.
UNSTORABLE_VALUES: Final[Mapping[str, Any]] = {
    "object": object(),
    "bytes": b"\x00bytes",
    "complex": 1j,
    "nested object": {"ok": [1, {"deep": object()}]},
    "dict with an int key": {1: "one"},
}


def _full_entry() -> Entry:
    """An entry with every field set to something other than its default."""
    return _entry(
        "full-1",
        updated_at=datetime(2024, 5, 6, 7, 8, 9, 101112, tzinfo=UTC),
        hub_id="h-1",
        app_id="a-1",
        state=RecordState.FAILED,
        keys=frozenset({"0:ada@example.com", "1:analytical engines"}),
        matched_by="0",
        hub_values={"email": "ada@example.com", **TRICKY_VALUES},
        app_values={"Email": "ada@example.com", "Count": 3, "When": date(2024, 1, 2)},
        category=ErrorCategory.VALIDATION,
        reason=ExcludeReason.FILTERED,
        message="Ugyldig værdi for «Email»",
        pending=Side.APP,
        pending_key="idem-7f3a",
        attempts=3,
        mark="pass-42",
        links={"companies": frozenset({"c-1", "c-2"}), "deals": frozenset()},
        deleted=Side.HUB,
        history=(
            HistoryItem(T0, "indexed"),
            HistoryItem(T0 + timedelta(seconds=1, microseconds=5), "failed", "validation: Email"),
            HistoryItem(datetime(2023, 12, 31, 23, 0, tzinfo=_PLUS_0530), "", ""),
        ),
    )


def _value_pairs() -> list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """(label, hub_values, app_values) pairs that tempt a store to share or dedupe."""
    same = {"email": "a@x", "name": "Ada", "n": 1}
    return [
        ("both None", None, None),
        ("hub only", same, None),
        ("app only", None, same),
        ("both empty", {}, {}),
        ("equal mappings", same, dict(same)),
        ("equal values, other names", same, {"Email": "a@x", "Name": "Ada", "N": 1}),
        ("int and float at one position", {"n": 1, "m": 2}, {"n": 1.0, "m": 2}),
        ("bool and int at one position", {"b": True, "c": 0}, {"b": 1, "c": False}),
        ("tuple and list", {"t": (1, 2)}, {"t": [1, 2]}),
        ("set and frozenset", {"s": frozenset({"a"})}, {"s": {"a"}}),
        ("some equal, some not", same, {"Email": "a@x", "Name": "Grace", "N": 1, "X": "y"}),
        ("fewer app values", same, {"Email": "a@x"}),
        ("nan on both sides", {"f": math.nan}, {"f": math.nan}),
        ("same names, other order", {"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ("keys that look like tags", {"$t": [1]}, {"$t": [1]}),
        ("str and None", {"v": "x"}, {"v": None}),
    ]


# =====================================================================================
# The checks: each takes a fresh, empty store
# =====================================================================================
_CHECKS: list[Callable[[IndexStore], None]] = []


def _check(function: Callable[[IndexStore], None]) -> Callable[[IndexStore], None]:
    _CHECKS.append(function)
    return function


@_check
def check_write_then_get_round_trips_every_field(store: IndexStore) -> None:
    """Every field of an entry comes back exactly as written."""
    full = _full_entry()
    defaults = {f.name for f in attrs.fields(Entry) if f.default is not attrs.NOTHING}
    unset = sorted(name for name in defaults if getattr(full, name) == getattr(_entry("x"), name))
    if unset:
        raise AssertionError(
            f"the kit does not exercise Entry fields {unset}: update "
            f"syncengine.testing._index_kit._full_entry (and the stores) for them"
        )
    minimal = _entry("minimal-1")
    store.write([full, minimal])
    found = store.get(A, CONTACTS, ["full-1", "minimal-1"])
    if set(found) != {"full-1", "minimal-1"}:
        raise AssertionError(f"get returned {sorted(found)}, expected both entries")
    assert_same_entry(full, found["full-1"], "get after write")
    assert_same_entry(minimal, found["minimal-1"], "get after write")
    for read in store.entries(A):
        assert_same_entry(full if read.entry_id == "full-1" else minimal, read, "entries()")
    assert_same_entry(
        full,
        store.by_keys(A, CONTACTS, ["1:analytical engines"])["1:analytical engines"][0],
        "by_keys",
    )
    assert_same_entry(full, store.by_record_ids(A, CONTACTS, Side.APP, ["a-1"])["a-1"], "by app id")


@_check
def check_values_keep_their_python_types(store: IndexStore) -> None:
    """Each value type (int vs float vs bool, tuple, frozenset, offsets, NaN) survives."""
    written: dict[str, tuple[str, Entry]] = {}
    for n, (label, value) in enumerate(TRICKY_VALUES.items()):
        entry = _entry(f"v{n}", hub_values={"v": value}, app_values={"V": value, "w": value})
        written[entry.entry_id] = (label, entry)
    for n, (label, hub, app) in enumerate(_value_pairs()):
        entry = _entry(f"p{n}", hub_values=hub, app_values=app)
        written[entry.entry_id] = (label, entry)
    store.write([entry for _, entry in written.values()])
    found = store.get(A, CONTACTS, list(written))
    for entry_id, (label, entry) in written.items():
        if entry_id not in found:
            raise AssertionError(f"value {label!r}: entry {entry_id} was not stored")
        difference = entry_difference(entry, found[entry_id])
        if difference:
            raise AssertionError(f"value {label!r} did not round-trip: {difference}")


@_check
def check_text_that_is_not_valid_unicode_round_trips(store: IndexStore) -> None:
    """Values, messages and history holding lone surrogates come back as written.

    A record fails *because* one of its values holds a lone surrogate (text no app can
    store, such as a name cut mid-emoji, or bytes that were not UTF-8 read with
    ``surrogateescape``): its entry keeps the copy of its values and the failure, so a
    store must keep such text, though it is not valid UTF-8 (issue 17).
    """
    cut = "Jo \ud83d"
    escaped = "K\udcff"
    entry = _entry(
        "surrogates-1",
        state=RecordState.FAILED,
        hub_values={"name": cut, "tags": frozenset({escaped, "a"}), cut: 1},
        app_values={"name": escaped, "list": [cut, {"k": escaped}]},
        category=ErrorCategory.VALIDATION,
        message=f"property 'name' holds a lone surrogate: {cut}",
        history=(HistoryItem(T0, "failed", f"name: {escaped}"),),
    )
    store.write([entry])
    found = store.get(A, CONTACTS, ["surrogates-1"]).get("surrogates-1")
    if found is None:
        raise AssertionError("an entry whose values hold lone surrogates was not stored")
    assert_same_entry(entry, found, "get of an entry holding lone surrogates")
    for read in store.entries(A):
        assert_same_entry(entry, read, "entries() of an entry holding lone surrogates")


@_check
def check_upsert_replaces_and_keeps_iteration_order(store: IndexStore) -> None:
    """A rewritten entry replaces the old one and keeps its place in iteration order."""
    e1, e2, e3 = (_entry(f"e{i}", keys=frozenset({f"k{i}"})) for i in (1, 2, 3))
    store.write([e3, e1])
    store.write([e2])
    changed = attrs.evolve(
        e1, state=RecordState.SYNCED, hub_values={"a": 1}, keys=frozenset({"k9"}), attempts=2
    )
    store.write([changed])
    assert_same_entry(changed, store.get(A, CONTACTS, ["e1"]).get("e1"), "get after upsert")
    _assert_entries([e3, changed, e2], list(store.entries(A)), "order after upsert")
    # Several writes of one entry in one call: the last wins, at the first one's place.
    first, last = _entry("e4", message="first"), _entry("e4", message="last")
    store.write([first, _entry("e5"), last])
    _assert_entries(
        [e3, changed, e2, last, _entry("e5")], list(store.entries(A)), "order after a batch"
    )
    # A deleted entry written again is new: it goes last.
    store.write(delete=[(A, CONTACTS, "e3")])
    store.write([e3])
    _assert_entries(
        [changed, e2, last, _entry("e5"), e3], list(store.entries(A)), "order after re-create"
    )
    if store.count(A) != 5:
        raise AssertionError(f"count() is {store.count(A)} after upserts, expected 5")


def _lookup_population() -> list[Entry]:
    entries = []
    for i in (i * 7 % 1200 for i in range(1200)):  # not in id order
        entries.append(
            _entry(
                f"e{i:04d}",
                hub_id=f"h{i}",
                app_id=f"a{i}" if i % 2 == 0 else None,
                keys=frozenset({f"0:user{i}@example.com", f"1:group{i % 7}"}),
                updated_at=T0 + timedelta(seconds=i),
            )
        )
    return entries


@_check
def check_lookups_by_id_record_id_and_key_agree_with_writes(store: IndexStore) -> None:
    """get, by_record_ids and by_keys find what was written, in batches of any size."""
    entries = _lookup_population()
    for start in range(0, len(entries), 400):
        store.write(entries[start : start + 400])
    by_id = {entry.entry_id: entry for entry in entries}
    wanted = [*sorted(by_id), "missing-1", "e0001", "missing-2"]
    found = store.get(A, CONTACTS, iter(wanted))  # any iterable, duplicates allowed
    if set(found) != set(by_id):
        raise AssertionError(
            f"get found {len(found)} of {len(by_id)} entries; extra or missing: "
            f"{sorted(set(found) ^ set(by_id))[:10]}"
        )
    for entry_id, entry in found.items():
        assert_same_entry(by_id[entry_id], entry, "get in a batch")
    hub_ids = [f"h{i}" for i in range(1200)] + ["h-missing"]
    by_hub = store.by_record_ids(A, CONTACTS, Side.HUB, hub_ids)
    if set(by_hub) != {f"h{i}" for i in range(1200)}:
        raise AssertionError(f"by_record_ids(HUB) found {len(by_hub)} of 1200 hub ids")
    for hub_id, entry in by_hub.items():
        if entry.hub_id != hub_id:
            raise AssertionError(f"by_record_ids(HUB)[{hub_id!r}] is {entry!r:.200}")
    by_app = store.by_record_ids(A, CONTACTS, Side.APP, (f"a{i}" for i in range(1200)))
    if set(by_app) != {f"a{i}" for i in range(0, 1200, 2)}:
        raise AssertionError(f"by_record_ids(APP) found {len(by_app)} of 600 app ids")
    if store.by_record_ids(A, CONTACTS, Side.APP, ["h1"]) or store.by_record_ids(
        A, DEALS, Side.HUB, ["h1"]
    ):
        raise AssertionError("by_record_ids found an id on the wrong side or object type")
    keys = [f"0:user{i}@example.com" for i in range(1200)] + ["1:group3", "0:nobody"]
    by_key = store.by_keys(A, CONTACTS, keys)
    if set(by_key) != set(keys[:-1]):
        raise AssertionError(f"by_keys found {len(by_key)} of {len(keys) - 1} keys")
    for i in range(1200):
        hits = by_key[f"0:user{i}@example.com"]
        if [hit.entry_id for hit in hits] != [f"e{i:04d}"]:
            raise AssertionError(f"by_keys for user{i} returned {[h.entry_id for h in hits]}")
    group = [entry.entry_id for entry in entries if "1:group3" in entry.keys]
    if [hit.entry_id for hit in by_key["1:group3"]] != group:
        raise AssertionError(
            "by_keys for a shared key must list its entries in the order they were first "
            f"written: expected {group[:5]}…, got {[h.entry_id for h in by_key['1:group3']][:5]}…"
        )
    for empty in (
        store.get(A, CONTACTS, []),
        store.by_keys(A, CONTACTS, iter(())),
        store.by_record_ids(A, CONTACTS, Side.HUB, []),
        store.get(A, DEALS, ["e0001"]),
        store.get("kit-unknown-sync", CONTACTS, ["e0001"]),
        store.by_keys(A, DEALS, ["1:group3"]),
    ):
        if empty:
            raise AssertionError(f"a lookup that should find nothing returned {empty!r:.200}")


@_check
def check_record_keys_agree_with_by_record_ids(store: IndexStore) -> None:
    """record_keys gives each found record's counterpart id and keys, as the entries hold."""
    entries = _lookup_population()
    odd_keys: tuple[frozenset[str], ...] = (
        frozenset(),
        frozenset({"[not json"}),
        frozenset({""}),
        frozenset({'0:"quoted"@example.com'}),
        frozenset({"0:ærø@example.com", "~link"}),
    )
    entries += [
        _entry(f"odd{i}", hub_id=f"odd-h{i}", app_id=f"odd-a{i}" if i % 2 else None, keys=keys)
        for i, keys in enumerate(odd_keys)
    ]
    store.write(entries)
    for side in Side:
        ids = [e.id_on(side) or "none" for e in entries] + ["missing", entries[4].hub_id or ""]
        expected = {
            record_id: (entry.id_on(side.other), frozenset(entry.keys))
            for record_id, entry in store.by_record_ids(A, CONTACTS, side, ids).items()
        }
        got = store.record_keys(A, CONTACTS, side, iter(ids))  # any iterable, repeats
        if got != expected:
            wrong = sorted(set(got.items()) ^ set(expected.items()))[:5]
            raise AssertionError(f"record_keys({side}) disagrees with by_record_ids: {wrong}")
    for empty in (
        store.record_keys(A, CONTACTS, Side.HUB, []),
        store.record_keys(A, DEALS, Side.HUB, ["h1"]),
        store.record_keys("kit-unknown-sync", CONTACTS, Side.HUB, ["h1"]),
        store.record_keys(A, CONTACTS, Side.APP, ["h1"]),
    ):
        if empty:
            raise AssertionError(f"a lookup that should find nothing returned {empty!r:.200}")


@_check
def check_changed_keys_and_record_ids_move_the_entry(store: IndexStore) -> None:
    """Keys and record ids an entry no longer holds no longer find it."""
    before = _entry("e1", hub_id="h1", app_id="a1", keys=frozenset({"k1", "k2"}))
    other = _entry("e2", hub_id="h9", keys=frozenset({"k2"}))
    store.write([before, other])
    after = attrs.evolve(before, hub_id="h2", app_id=None, keys=frozenset({"k2", "k3"}))
    store.write([after])
    by_key = store.by_keys(A, CONTACTS, ["k1", "k2", "k3"])
    if "k1" in by_key:
        raise AssertionError(f"a removed key still finds {[e.entry_id for e in by_key['k1']]}")
    if [e.entry_id for e in by_key.get("k2", [])] != ["e1", "e2"]:
        raise AssertionError(f"a kept key finds {[e.entry_id for e in by_key.get('k2', [])]}")
    if [e.entry_id for e in by_key.get("k3", [])] != ["e1"]:
        raise AssertionError("an added key does not find the entry")
    assert_same_entry(after, by_key["k3"][0], "by_keys after the keys changed")
    if store.by_record_ids(A, CONTACTS, Side.HUB, ["h1"]):
        raise AssertionError("the old hub id still finds the entry")
    if store.by_record_ids(A, CONTACTS, Side.APP, ["a1"]):
        raise AssertionError("a cleared app id still finds the entry")
    assert_same_entry(
        after, store.by_record_ids(A, CONTACTS, Side.HUB, ["h2"]).get("h2"), "by the new hub id"
    )
    store.write([attrs.evolve(after, keys=frozenset())])
    if store.by_keys(A, CONTACTS, ["k2", "k3"]).get("k3"):
        raise AssertionError("an entry whose keys were all removed is still found by key")


@_check
def check_delete_removes_the_entry_and_its_keys(store: IndexStore) -> None:
    """write(delete=…) removes the entry from every lookup, and nothing else."""
    gone = _entry("e1", hub_id="h1", app_id="a1", keys=frozenset({"k1", "shared"}))
    kept = _entry("e2", hub_id="h2", keys=frozenset({"shared"}), state=RecordState.SYNCED)
    deal = _entry("e1", object_type=DEALS, keys=frozenset({"k1"}))
    store.write([gone, kept, deal])
    store.write(delete=[(A, CONTACTS, "e1"), (A, CONTACTS, "never-written")])
    if store.get(A, CONTACTS, ["e1"]):
        raise AssertionError("get still finds a deleted entry")
    if store.by_record_ids(A, CONTACTS, Side.HUB, ["h1"]) or store.by_record_ids(
        A, CONTACTS, Side.APP, ["a1"]
    ):
        raise AssertionError("by_record_ids still finds a deleted entry")
    by_key = store.by_keys(A, CONTACTS, ["k1", "shared"])
    if "k1" in by_key or [e.entry_id for e in by_key.get("shared", [])] != ["e2"]:
        raise AssertionError(
            f"by_keys after a delete: { {k: [e.entry_id for e in v] for k, v in by_key.items()} }"
        )
    _assert_entries([kept, deal], list(store.entries(A)), "entries after a delete")
    if _normal_counts(store.counts(A)) != _counted([kept, deal]):
        raise AssertionError(f"counts after a delete: {store.counts(A)}")
    assert_same_entry(deal, store.get(A, DEALS, ["e1"]).get("e1"), "the other object type")
    # Written and deleted in one call: deletes apply after upserts.
    store.write([_entry("e3")], delete=[(A, CONTACTS, "e3")])
    if store.get(A, CONTACTS, ["e3"]):
        raise AssertionError("an entry written and deleted in one call must end deleted")


@_check
def check_write_indexed_writes_what_write_writes(store: IndexStore) -> None:
    """write_indexed stores the entries and cursors write would; the values it keeps
    come back from indexed_values exactly, with their tag, until the entry's next
    write or deletion (a store may keep none: the default)."""
    full = _full_entry()
    plain = _entry("e1", hub_id="h1", keys=frozenset({"0:kit-indexed@example.com"}))
    empty = _entry("e2", hub_id="h2")
    other = _entry("e3", hub_id="h3", keys=frozenset({"0:bob@example.com"}))
    deal = _entry("e1", object_type=DEALS, hub_id="d1")
    kept: dict[str, tuple[str, Mapping[str, str | None]]] = {
        "e1": ("i1", {"email": "Ada@Example.com ", "firstname": None, "note": "\u00e6\ud800 $x"}),
        "e2": ("i1", {}),
        full.entry_id: ("i1", {"lastname": "Lovelace"}),
    }
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-2", "kit_indexed")
    store.write_indexed([full, plain, empty, other], kept, cursors=[cursor])
    store.write([deal])
    found = store.get(A, CONTACTS, [full.entry_id, "e1", "e2", "e3"])
    for entry in (full, plain, empty, other):
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_indexed")
    _assert_entries(
        [full, plain, empty, other, deal], list(store.entries(A)), "entries after write_indexed"
    )
    assert_same_entry(
        plain,
        store.by_keys(A, CONTACTS, ["0:kit-indexed@example.com"])["0:kit-indexed@example.com"][0],
        "by_keys",
    )
    if store.cursor(A, Side.HUB, CONTACTS, "kit_indexed") != "page-2":
        raise AssertionError("write_indexed did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted([full, plain, empty, other, deal]):
        raise AssertionError(f"counts after write_indexed: {store.counts(A)}")
    ids = [full.entry_id, "e1", "e2", "e3", "missing"]
    got = store.indexed_values(A, CONTACTS, iter(ids), "i1")
    expected = {entry_id: dict(values) for entry_id, (_, values) in kept.items()}
    for entry_id, values in got.items():
        if expected.get(entry_id) != values:
            raise AssertionError(
                f"indexed_values of {entry_id!r}: {values!r:.200}, kept "
                f"{expected.get(entry_id)!r:.200}"
            )
    # by_keys_indexed: by_keys, and indexed_values of the entries it found.
    keys = ["0:kit-indexed@example.com", "0:bob@example.com", "1:analytical engines", "nokey"]
    by_key, by_key_kept = store.by_keys_indexed(A, CONTACTS, iter(keys), "i1")
    plain_found = store.by_keys(A, CONTACTS, keys)
    if {k: [e.entry_id for e in v] for k, v in by_key.items()} != {
        k: [e.entry_id for e in v] for k, v in plain_found.items()
    }:
        raise AssertionError("by_keys_indexed found other entries than by_keys")
    for key, held in by_key.items():
        for entry, same in zip(held, plain_found[key], strict=True):
            assert_same_entry(same, entry, "by_keys_indexed")
    held_ids = [e.entry_id for v in plain_found.values() for e in v]
    if by_key_kept != store.indexed_values(A, CONTACTS, held_ids, "i1"):
        raise AssertionError(
            f"by_keys_indexed's values {by_key_kept!r:.200} are not indexed_values' of the "
            "entries found"
        )
    for where, wrong in (
        ("another tag", store.indexed_values(A, CONTACTS, ids, "i2")),
        ("another object type", store.indexed_values(A, DEALS, ["e1"], "i1")),
        ("another sync", store.indexed_values("kit-unknown-sync", CONTACTS, ids, "i1")),
    ):
        if wrong:
            raise AssertionError(f"indexed_values with {where} found {wrong!r:.200}")
    # The entry's next write, or its deletion, drops what was kept beside it.
    store.write([attrs.evolve(plain, state=RecordState.SYNCED)], delete=[(A, CONTACTS, "e2")])
    after = store.indexed_values(A, CONTACTS, ids, "i1")
    if "e1" in after or "e2" in after:
        raise AssertionError(f"values kept past the entry's next write or deletion: {after!r:.200}")
    if got and after != {k: v for k, v in got.items() if k not in ("e1", "e2")}:
        raise AssertionError(f"indexed_values changed for entries not written: {after!r:.200}")
    # Kept anew by a later write_indexed, under its own tag.
    store.write_indexed([plain], {"e1": ("i2", {"email": "b"})})
    if store.indexed_values(A, CONTACTS, ["e1"], "i1"):
        raise AssertionError("indexed_values found values under the tag they replaced")
    if got and store.indexed_values(A, CONTACTS, ["e1"], "i2") != {"e1": {"email": "b"}}:
        raise AssertionError("indexed_values lost values kept by a second write_indexed")
    assert_same_entry(plain, store.get(A, CONTACTS, ["e1"]).get("e1"), "get after rewrite")


@_check
def check_write_built_writes_what_write_writes(store: IndexStore) -> None:
    """write_built stores the entries and cursors write would (write_indexed with
    ``kept``): the last of several writes of one entry wins and keeps the first one's
    place, the kept values come back as write_indexed's do, and a later write_built
    without them drops them."""
    full = _full_entry()
    plain = _entry("e1", hub_id="h1", keys=frozenset({"0:kit-built@example.com"}))
    first = _entry("e2", hub_id="h2")
    again = attrs.evolve(first, state=RecordState.SYNCED, app_id="a2", message="again")
    deal = _entry("e1", object_type=DEALS, hub_id="d1")
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-1", "kit_built")
    store.write_built([plain, first, full, again, deal], cursors=[cursor])
    found = store.get(A, CONTACTS, [full.entry_id, "e1", "e2"])
    for entry in (full, plain, again):
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_built")
    _assert_entries([plain, again, full, deal], list(store.entries(A)), "entries after write_built")
    assert_same_entry(
        plain,
        store.by_keys(A, CONTACTS, ["0:kit-built@example.com"])["0:kit-built@example.com"][0],
        "by_keys after write_built",
    )
    if store.cursor(A, Side.HUB, CONTACTS, "kit_built") != "page-1":
        raise AssertionError("write_built did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted([plain, again, full, deal]):
        raise AssertionError(f"counts after write_built: {store.counts(A)}")
    # With kept values: what write_indexed keeps, write_built keeps.
    values: dict[str, str | None] = {"email": "Ada@Example.com ", "firstname": None}
    other = _entry("e3", hub_id="h3")
    done = CursorUpdate(A, Side.HUB, CONTACTS, "page-2", "kit_built")
    store.write_built([plain, other], kept={"e1": ("i1", values)}, cursors=[done])
    assert_same_entry(plain, store.get(A, CONTACTS, ["e1"]).get("e1"), "get after write_built")
    assert_same_entry(other, store.get(A, CONTACTS, ["e3"]).get("e3"), "get after write_built")
    if store.cursor(A, Side.HUB, CONTACTS, "kit_built") != "page-2":
        raise AssertionError("write_built with kept values did not set its cursors")
    got = store.indexed_values(A, CONTACTS, ["e1", "e3"], "i1")
    store.write_indexed([plain], {"e1": ("i1", values)})
    if got != store.indexed_values(A, CONTACTS, ["e1", "e3"], "i1"):
        raise AssertionError(
            f"write_built kept {got!r:.200}, write_indexed the same values "
            f"{store.indexed_values(A, CONTACTS, ['e1'], 'i1')!r:.200}"
        )
    store.write_built([attrs.evolve(plain, state=RecordState.SYNCED)])
    if store.indexed_values(A, CONTACTS, ["e1"], "i1"):
        raise AssertionError("values kept past the entry's next write_built")


@_check
def check_write_new_writes_what_write_built_writes(store: IndexStore) -> None:
    """write_new stores what write_built would, in one call: the new entries in the
    call's order, the cursors, and an entry the index holds already written over as
    write_built writes it (never refused, never lost)."""
    values = {"email": "new@example.com", "n": 1}
    first = _entry(
        "n1",
        hub_id="h1",
        keys=frozenset({"0:kit-new@example.com"}),
        hub_values=values,
        app_values={"Email": "new@example.com", "N": 1},
        pending=Side.APP,
        pending_key="kit:n1:k1",
    )
    second = _entry("n2", app_id="a2", pending=Side.HUB, pending_key="kit:n2:k2")
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-1", "kit_new")
    store.write_new([first, second], cursors=[cursor])
    found = store.get(A, CONTACTS, ["n1", "n2"])
    for entry in (first, second):
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_new")
    _assert_entries([first, second], list(store.entries(A)), "entries after write_new")
    held = store.by_keys(A, CONTACTS, ["0:kit-new@example.com"])
    assert_same_entry(first, held["0:kit-new@example.com"][0], "by_keys after write_new")
    if store.cursor(A, Side.HUB, CONTACTS, "kit_new") != "page-1":
        raise AssertionError("write_new did not set its cursors")
    # One stored already (another process announced it since, say), one new: both
    # written, the stored one in its place, as write_built writes them.
    again = attrs.evolve(first, keys=frozenset({"0:kit-again@example.com"}), pending_key="k3")
    third = _entry("n3", hub_id="h3", pending=Side.APP, pending_key="kit:n3:k3")
    store.write_new([third, again])
    found = store.get(A, CONTACTS, ["n1", "n2", "n3"])
    for entry in (again, second, third):
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_new over a stored one")
    _assert_entries(
        [again, second, third], list(store.entries(A)), "entries after write_new over a stored one"
    )
    if store.by_keys(A, CONTACTS, ["0:kit-new@example.com"]):
        raise AssertionError("write_new over a stored entry left its old key finding it")
    if _normal_counts(store.counts(A)) != _counted([again, second, third]):
        raise AssertionError(f"counts after write_new: {store.counts(A)}")


@_check
def check_write_indexed_new_writes_what_write_built_writes(store: IndexStore) -> None:
    """write_indexed_new stores indexed_entry of each record, in the call's order, the
    values kept beside those given some (read back by indexed_values with the tag), and
    the cursors; a record whose entry the index holds already is written over as
    write_built writes it (never refused, never lost), and a record given twice once,
    the last in the first one's place."""
    at = T0 + timedelta(seconds=7)
    history = (HistoryItem(at, "indexed", "hub"),)
    keys1 = frozenset({"0:kit-idx1@example.com"})
    keys2 = frozenset({"0:kit-idx2@example.com", "1:kit-idx"})
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-1", "kit_indexed_new")
    records: list[tuple[str, frozenset[str], dict[str, str | None] | None]] = [
        ("i1", keys1, {"email": "idx1@example.com", "firstname": None}),
        ("i2", keys2, None),
    ]
    store.write_indexed_new(A, CONTACTS, Side.HUB, records, at=at, tag="kit-run", cursors=[cursor])
    want = [indexed_entry(A, CONTACTS, Side.HUB, r, k, at, history) for r, k, _ in records]
    found = store.get(A, CONTACTS, ["h:i1", "h:i2"])
    for entry in want:
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_indexed_new")
    _assert_entries(want, list(store.entries(A)), "entries after write_indexed_new")
    held = store.by_keys(A, CONTACTS, ["1:kit-idx"])
    assert_same_entry(want[1], held["1:kit-idx"][0], "by_keys after write_indexed_new")
    if store.cursor(A, Side.HUB, CONTACTS, "kit_indexed_new") != "page-1":
        raise AssertionError("write_indexed_new did not set its cursors")
    kept = store.indexed_values(A, CONTACTS, ["h:i1", "h:i2"], "kit-run")
    # A store that keeps write_indexed's values keeps these too (the default does).
    probe_keys = frozenset({"0:kit-idx-probe@example.com"})
    probe = indexed_entry(A, "kit-probe", Side.HUB, "p", probe_keys, at, history)
    store.write_indexed([probe], {probe.entry_id: ("kit-run", {"email": "p"})})
    keeps = bool(store.indexed_values(A, "kit-probe", ["h:p"], "kit-run"))
    store.write(delete=[(A, "kit-probe", "h:p")])
    wanted = {"h:i1": {"email": "idx1@example.com", "firstname": None}} if keeps else {}
    if kept != wanted:
        raise AssertionError(f"write_indexed_new kept {kept!r:.200}, not {wanted!r:.200}")
    # An entry stored already under one of the ids (written over, in its place), and
    # a record given twice (written once: the last, in the first one's place).
    moved = frozenset({"0:kit-idx3@example.com"})
    again: list[tuple[str, frozenset[str], dict[str, str | None] | None]] = [
        ("i3", frozenset(), None),
        ("i1", moved, None),
        ("i3", keys1, None),
    ]
    store.write_indexed_new(A, CONTACTS, Side.HUB, again, at=at, tag="kit-run")
    first = indexed_entry(A, CONTACTS, Side.HUB, "i1", moved, at, history)
    third = indexed_entry(A, CONTACTS, Side.HUB, "i3", keys1, at, history)
    expected = [first, want[1], third]
    found = store.get(A, CONTACTS, ["h:i1", "h:i2", "h:i3"])
    for entry in expected:
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_indexed_new again")
    _assert_entries(expected, list(store.entries(A)), "entries after write_indexed_new again")
    key1 = "0:kit-idx1@example.com"
    if [e.entry_id for e in store.by_keys(A, CONTACTS, [key1]).get(key1, ())] != ["h:i3"]:
        raise AssertionError("write_indexed_new over a stored entry left its old key finding it")
    if store.indexed_values(A, CONTACTS, ["h:i1"], "kit-run"):
        raise AssertionError("write_indexed_new kept values past the entry's next write")
    if _normal_counts(store.counts(A)) != _counted(expected):
        raise AssertionError(f"counts after write_indexed_new: {store.counts(A)}")


@_check
def check_write_created_writes_what_write_built_writes(store: IndexStore) -> None:
    """write_created stores, in one call, what write_built would store of the other
    entries and of each announced entry completed (``created_entry``): the created
    record's id on the side it was pending on, synced, with the mark and history; the
    cursors too. An announced entry the index does not hold is stored whole."""
    at = T0 + timedelta(seconds=5)
    history = (HistoryItem(at, "synced", "created on app"),)
    values = {"email": "ada@example.com", "n": 1}
    to_app = _entry(
        "c1",
        hub_id="h1",
        keys=frozenset({"0:kit-created@example.com"}),
        hub_values=values,
        app_values={"Email": "ada@example.com", "N": 1},
        pending=Side.APP,
        pending_key="kit:c1:n1",
    )
    to_hub = _entry(
        "c2", app_id="a2", app_values={"Email": "b@example.com"}, pending=Side.HUB, pending_key="k2"
    )
    unwritten = _entry("c4", hub_id="h4", pending=Side.APP, pending_key="kit:c4:n4")
    failed = _entry("c5", hub_id="h5", pending=Side.APP, pending_key="kit:c5:n5")
    store.write_built([to_app, to_hub, failed])
    outcome = attrs.evolve(
        failed, state=RecordState.FAILED, message="refused", category=ErrorCategory.VALIDATION
    )
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-1", "kit_created")
    created = [(to_app, "a1"), (to_hub, "h2"), (unwritten, "a4")]
    store.write_created(
        created, at=at, mark="i1", history=history, entries=[outcome], cursors=[cursor]
    )
    expected = [created_entry(e, record_id, at, "i1", history) for e, record_id in created]
    if expected[0].app_id != "a1" or expected[1].hub_id != "h2":
        raise AssertionError(f"created_entry set the wrong record id: {expected[:2]!r:.300}")
    found = store.get(A, CONTACTS, ["c1", "c2", "c4", "c5"])
    for entry in [*expected, outcome]:
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_created")
    _assert_entries(
        [expected[0], expected[1], outcome, expected[2]],
        list(store.entries(A)),
        "entries after write_created",
    )
    by_app = store.by_record_ids(A, CONTACTS, Side.APP, ["a1", "a4"])
    if set(by_app) != {"a1", "a4"}:
        raise AssertionError(f"by_record_ids after write_created found {sorted(by_app)}")
    if set(store.by_record_ids(A, CONTACTS, Side.HUB, ["h2"])) != {"h2"}:
        raise AssertionError("by_record_ids did not find the record created in the hub")
    held = store.by_keys(A, CONTACTS, ["0:kit-created@example.com"])
    assert_same_entry(
        expected[0], held["0:kit-created@example.com"][0], "by_keys after write_created"
    )
    if [e.entry_id for e in store.entries(A, pending=True)] != ["c5"]:
        raise AssertionError("an entry write_created completed is still pending")
    if store.cursor(A, Side.HUB, CONTACTS, "kit_created") != "page-1":
        raise AssertionError("write_created did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted([*expected, outcome]):
        raise AssertionError(f"counts after write_created: {store.counts(A)}")


@_check
def check_write_announced_writes_what_write_new_writes(store: IndexStore) -> None:
    """write_announced stores announced_entry of each create, in the call's order, with
    the cursors, as write_new would; a create whose entry the index holds already is
    written over (never refused, never lost), and a record given twice once, the last
    in the first one's place. write_announced_created then stores what write_created
    stores of those announced entries: each created record's id on the side created
    on, synced, with the mark and history, and the other entries and cursors."""
    at = T0 + timedelta(seconds=9)
    values = {"email": "ann@example.com", "firstname": "Ann"}
    creates: list[Announced] = [
        ("n1", frozenset({"0:kit-ann1@example.com"}), values, {"Email": "ann@example.com"}, "k1"),
        ("n2", frozenset(), {"email": "b@example.com"}, None, "kit:n2:k2"),
    ]
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-1", "kit_announced")
    store.write_announced(A, CONTACTS, Side.APP, creates, at=at, cursors=[cursor])
    want = [announced_entry(A, CONTACTS, Side.APP, *c, at) for c in creates]
    if want[0].entry_id != "h:n1" or want[0].hub_id != "n1" or want[0].pending is not Side.APP:
        raise AssertionError(f"announced_entry made {want[0]!r:.300}")
    found = store.get(A, CONTACTS, ["h:n1", "h:n2"])
    for entry in want:
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_announced")
    _assert_entries(want, list(store.entries(A)), "entries after write_announced")
    held = store.by_keys(A, CONTACTS, ["0:kit-ann1@example.com"])
    assert_same_entry(want[0], held["0:kit-ann1@example.com"][0], "by_keys after write_announced")
    if store.cursor(A, Side.HUB, CONTACTS, "kit_announced") != "page-1":
        raise AssertionError("write_announced did not set its cursors")
    # One stored already (written over, in its place), a record given twice (once: the
    # last, in the first one's place), and a create on the hub of an app record.
    moved = frozenset({"0:kit-ann3@example.com"})
    again: list[Announced] = [
        ("n3", frozenset(), None, None, "kit:n3:k3"),
        ("n1", moved, values, values, "kit:n1:k4"),
        ("n3", frozenset({"0:kit-ann1@example.com"}), values, None, "kit:n3:k5"),
    ]
    store.write_announced(A, CONTACTS, Side.APP, again, at=at)
    store.write_announced(A, CONTACTS, Side.HUB, [("p1", moved, None, values, "kit:p1")], at=at)
    first = announced_entry(A, CONTACTS, Side.APP, *again[1], at)
    third = announced_entry(A, CONTACTS, Side.APP, *again[2], at)
    on_hub = announced_entry(A, CONTACTS, Side.HUB, "p1", moved, None, values, "kit:p1", at)
    if on_hub.entry_id != "a:p1" or on_hub.app_id != "p1" or on_hub.hub_id is not None:
        raise AssertionError(f"announced_entry made {on_hub!r:.300}")
    expected = [first, want[1], third, on_hub]
    found = store.get(A, CONTACTS, ["h:n1", "h:n2", "h:n3", "a:p1"])
    for entry in expected:
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_announced again")
    _assert_entries(expected, list(store.entries(A)), "entries after write_announced again")
    key1 = "0:kit-ann1@example.com"
    if [e.entry_id for e in store.by_keys(A, CONTACTS, [key1]).get(key1, ())] != ["h:n3"]:
        raise AssertionError("write_announced over a stored entry left its old key finding it")
    if _normal_counts(store.counts(A)) != _counted(expected):
        raise AssertionError(f"counts after write_announced: {store.counts(A)}")
    # The outcome: two creates landed (one on each side), one failed.
    done_at = at + timedelta(seconds=1)
    history = (HistoryItem(done_at, "synced", "created on app"),)
    outcome = attrs.evolve(
        want[1], state=RecordState.FAILED, message="refused", category=ErrorCategory.VALIDATION
    )
    done = [(again[1], "a1"), (again[2], "a3")]
    cursor = CursorUpdate(A, Side.HUB, CONTACTS, "page-2", "kit_announced")
    store.write_announced_created(
        A,
        CONTACTS,
        Side.APP,
        done,
        at=done_at,
        mark="i1",
        history=history,
        entries=[outcome],
        cursors=[cursor],
    )
    store.write_announced_created(
        A,
        CONTACTS,
        Side.HUB,
        [(("p1", moved, None, values, "kit:p1"), "h9")],
        at=done_at,
        mark=None,
        history=history,
    )
    completed = [
        created_entry(first, "a1", done_at, "i1", history),
        outcome,
        created_entry(third, "a3", done_at, "i1", history),
        created_entry(on_hub, "h9", done_at, None, history),
    ]
    if completed[0].app_id != "a1" or completed[3].hub_id != "h9":
        raise AssertionError(f"created_entry set the wrong record id: {completed!r:.300}")
    found = store.get(A, CONTACTS, ["h:n1", "h:n2", "h:n3", "a:p1"])
    for entry in completed:
        assert_same_entry(entry, found.get(entry.entry_id), "get after write_announced_created")
    _assert_entries(completed, list(store.entries(A)), "entries after write_announced_created")
    if set(store.by_record_ids(A, CONTACTS, Side.APP, ["a1", "a3", "p1"])) != {"a1", "a3", "p1"}:
        raise AssertionError("by_record_ids did not find the records write_announced_created wrote")
    if [e.entry_id for e in store.entries(A, pending=True)] != ["h:n2"]:  # the failed one
        raise AssertionError("an entry write_announced_created completed is still pending")
    if store.cursor(A, Side.HUB, CONTACTS, "kit_announced") != "page-2":
        raise AssertionError("write_announced_created did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted(completed):
        raise AssertionError(f"counts after write_announced_created: {store.counts(A)}")


@_check
def check_write_synced_writes_what_write_built_writes(store: IndexStore) -> None:
    """write_synced stores, with its cursors, exactly the entries ``synced_copy`` makes of
    its copies (written with write_built): new copies, time and history item, the
    history cut to its size, ids, keys, matched_by, mark and links kept; the last of
    several copies of one entry wins; an entry changed or deleted since it was read is
    written whole; iteration order and counts stay."""
    when = T0 + timedelta(hours=1)
    earlier = T0 + timedelta(minutes=5)
    old = (HistoryItem(T0, "matched", "by email"), HistoryItem(earlier, "synced", "x"))
    texts = {"email": "ada@x", "name": "Ada"}
    pair = _entry(
        "e1",
        hub_id="h1",
        app_id="a1",
        state=RecordState.SYNCED,
        keys=frozenset({"0:ada@x", "1:ada"}),
        matched_by="1:ada",
        hub_values=texts,
        app_values={"Email": "ada@x", "Name": "Ada"},
        mark="m1",
        history=old,
    )
    linked = attrs.evolve(
        pair,
        entry_id="e2",
        hub_id="h2",
        app_id="a2",
        keys=frozenset({"0:bob@x"}),
        matched_by="0:bob@x",
        links={"companies": frozenset({"c1"})},
        history=(),
    )
    odd = attrs.evolve(pair, entry_id="e3", hub_id="h3", app_id="a3", keys=frozenset())
    moved = attrs.evolve(pair, entry_id="e4", hub_id="h4", app_id="a4", keys=frozenset({"0:c"}))
    gone = attrs.evolve(pair, entry_id="e5", hub_id="h5", app_id="a5", keys=frozenset({"0:d"}))
    store.write([pair, linked, odd, moved, gone])
    read = store.get(A, CONTACTS, ["e1", "e2", "e3", "e4", "e5"])
    if set(read) != {"e1", "e2", "e3", "e4", "e5"}:
        raise AssertionError(f"get after write found {sorted(read)}")
    # Another pass changes e4 (its keys, state and record) and deletes e5 after the read.
    since = attrs.evolve(read["e4"], keys=frozenset({"0:e"}), state=RecordState.FAILED, hub_id="h9")
    store.write([since], delete=[(A, CONTACTS, "e5")])
    item = HistoryItem(when, "synced", "updated app: name")
    other = HistoryItem(earlier, "synced", "updated hub: email")
    new = {"email": "ada@y", "name": "Ada L"}
    copies: list[tuple[Entry, dict[str, Any], dict[str, Any], HistoryItem | None]] = [
        (read["e1"], {"email": "first", "name": None}, {"Email": "first", "Name": None}, None),
        (read["e2"], dict(new), {"Email": "ada@y", "Name": "Ada L"}, item),
        (read["e3"], {"email": 1, "name": 2.5}, {"Email": "1", "Name": None}, other),
        (read["e4"], dict(new), {"Email": "ada@y", "Name": "Ada"}, item),
        (read["e5"], dict(new), {"Email": "ada@y", "Name": "Ada L"}, None),
        (read["e1"], dict(new), {"Email": "ada@y", "Name": "Ada L"}, item),  # the last wins
    ]
    cursor = CursorUpdate(A, Side.APP, CONTACTS, "page-9", "kit_synced")
    store.write_synced(copies, when, 2, cursors=[cursor])
    want = {copy[0].entry_id: synced_copy(*copy, when, 2) for copy in copies}
    if len(want["e1"].history) != 2 or want["e1"].history[-1] != item:
        raise AssertionError("synced_copy did not cut the history to its size")  # pragma: no cover
    found = store.get(A, CONTACTS, list(want))
    for entry_id, entry in want.items():
        assert_same_entry(entry, found.get(entry_id), f"get after write_synced ({entry_id})")
    order = [want["e1"], want["e2"], want["e3"], want["e4"], want["e5"]]
    _assert_entries(order, list(store.entries(A)), "entries after write_synced")
    held = store.by_keys(A, CONTACTS, ["0:c", "0:e"])
    if sorted(held) != ["0:c"] or [e.entry_id for e in held["0:c"]] != ["e4"]:
        raise AssertionError(f"by_keys after write_synced found {held!r:.300}")
    if store.cursor(A, Side.APP, CONTACTS, "kit_synced") != "page-9":
        raise AssertionError("write_synced did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted(order):
        raise AssertionError(f"counts after write_synced: {store.counts(A)}")
    # Nothing to write: the cursors alone.
    done = CursorUpdate(A, Side.APP, CONTACTS, "page-10", "kit_synced")
    store.write_synced([], when, 2, cursors=[done])
    if store.cursor(A, Side.APP, CONTACTS, "kit_synced") != "page-10":
        raise AssertionError("write_synced without copies did not set its cursors")


@_check
def check_write_synced_rows_writes_what_write_synced_writes(store: IndexStore) -> None:
    """by_record_ids_rows finds what by_record_ids finds, each entry as one view of its
    fields: a PairView (ids, keys, matched_by, mark, both copies) of each settled synced
    pair, a plain RowView of any other entry; then write_synced_rows stores, with its
    cursors, exactly the entries ``synced_copy`` makes of each view's entry: new copies,
    time and history item, the history cut to its size, ids, keys, matched_by and mark
    kept; the last of several copies of one entry wins; an entry changed or deleted
    since it was read is written whole; iteration order and counts stay."""
    when = T0 + timedelta(hours=1)
    earlier = T0 + timedelta(minutes=5)
    old = (HistoryItem(T0, "matched", "by email"), HistoryItem(earlier, "synced", "x"))
    pair = _entry(
        "r1",
        hub_id="h1",
        app_id="a1",
        state=RecordState.SYNCED,
        keys=frozenset({"0:ada@x", "1:ada"}),
        matched_by="1:ada",
        hub_values={"email": "ada@x", "name": "Ada"},
        app_values={"Email": "ada@x", "Name": "Ada"},
        mark="m1",
        history=old,
    )
    odd = attrs.evolve(
        pair,
        entry_id="r2",
        hub_id="h2",
        app_id="a2",
        keys=frozenset(),
        matched_by="elsewhere",
        hub_values={"email": 1, "name": None},
        mark=None,
        history=(),
    )
    moved = attrs.evolve(pair, entry_id="r3", hub_id="h3", app_id="a3", keys=frozenset({"0:c"}))
    gone = attrs.evolve(pair, entry_id="r4", hub_id="h4", app_id="a4", keys=frozenset({"0:d"}))
    failed = attrs.evolve(
        pair, entry_id="r5", hub_id="h5", app_id="a5", keys=frozenset({"0:e"}), attempts=1
    )
    lone = _entry("r6", hub_id="h6", state=RecordState.SYNCED, hub_values={"email": "x"})
    store.write([pair, odd, moved, gone, failed, lone])
    ids = ["h1", "h2", "h3", "h4", "h5", "h6", "h7"]
    views = store.by_record_ids_rows(A, CONTACTS, Side.HUB, iter(ids))
    found = store.by_record_ids(A, CONTACTS, Side.HUB, ids)
    if sorted(views) != sorted(found):
        raise AssertionError(
            f"by_record_ids_rows found {sorted(views)}, by_record_ids {sorted(found)}"
        )
    for record_id, entry in found.items():
        view = views[record_id]
        assert_same_entry(entry, view.entry(), "RowView.entry of by_record_ids_rows")
        fields = (view.sync_id, view.object_type, view.entry_id, view.hub_id, view.app_id)
        hot = (view.state, view.pending, view.keys, view.mark)
        if fields != (
            entry.sync_id,
            entry.object_type,
            entry.entry_id,
            entry.hub_id,
            entry.app_id,
        ) or hot != (entry.state, entry.pending, entry.keys, entry.mark):
            raise AssertionError(f"by_record_ids_rows' view {view!r} is not its entry's")
        if isinstance(view, PairView) != (record_id in ("h1", "h2", "h3", "h4")):
            raise AssertionError(f"by_record_ids_rows' view {view!r} is wrongly (not) a pair")
        if isinstance(view, PairView) and (
            view.matched_by != entry.matched_by
            or view.hub_values != entry.hub_values
            or view.app_values != entry.app_values
            or [type(v) for v in view.hub_values.values()]
            != [type(v) for v in (entry.hub_values or {}).values()]
        ):
            raise AssertionError(f"by_record_ids_rows' pair {view!r} is not its entry's")
    read: dict[str, Any] = {views[i].entry_id: views[i] for i in ("h1", "h2", "h3", "h4")}
    # Another pass changes r3 (its keys, state and record) and deletes r4 after the read.
    since = attrs.evolve(
        found["h3"], keys=frozenset({"0:f"}), state=RecordState.FAILED, hub_id="h9"
    )
    store.write([since], delete=[(A, CONTACTS, "r4")])
    item = HistoryItem(when, "synced", "updated app: name")
    other = HistoryItem(earlier, "synced", "updated hub: email")
    new = {"email": "ada@y", "name": "Ada L"}
    rows: list[Any] = [
        (read["r1"], {"email": "first", "name": None}, {"Email": "first", "Name": None}, None),
        (read["r2"], {"email": 1, "name": 2.5}, {"Email": "1", "Name": None}, other),
        (read["r3"], dict(new), {"Email": "ada@y", "Name": "Ada"}, item),
        (read["r4"], dict(new), {"Email": "ada@y", "Name": "Ada L"}, None),
        (read["r1"], dict(new), {"Email": "ada@y", "Name": "Ada"}, item),  # the last wins
    ]
    cursor = CursorUpdate(A, Side.APP, CONTACTS, "page-9", "kit_rows")
    store.write_synced_rows(rows, when, 2, cursors=[cursor])
    want = {v.entry_id: synced_copy(v.entry(), h, a_, i, when, 2) for v, h, a_, i in rows}
    if len(want["r1"].history) != 2 or want["r1"].history[-1] != item:
        raise AssertionError("synced_copy did not cut the history to its size")  # pragma: no cover
    got = store.get(A, CONTACTS, [*want, "r5", "r6"])
    for entry_id, entry in want.items():
        assert_same_entry(entry, got.get(entry_id), f"get after write_synced_rows ({entry_id})")
    assert_same_entry(failed, got.get("r5"), "get after write_synced_rows (r5, not written)")
    order = [want["r1"], want["r2"], want["r3"], failed, lone, want["r4"]]  # r4 written anew
    _assert_entries(order, list(store.entries(A)), "entries after write_synced_rows")
    held = store.by_keys(A, CONTACTS, ["0:c", "0:f"])
    if sorted(held) != ["0:c"] or [e.entry_id for e in held["0:c"]] != ["r3"]:
        raise AssertionError(f"by_keys after write_synced_rows found {held!r:.300}")
    if store.cursor(A, Side.APP, CONTACTS, "kit_rows") != "page-9":
        raise AssertionError("write_synced_rows did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted(order):
        raise AssertionError(f"counts after write_synced_rows: {store.counts(A)}")
    done = CursorUpdate(A, Side.APP, CONTACTS, "page-10", "kit_rows")
    store.write_synced_rows([], when, 2, cursors=[done])
    if store.cursor(A, Side.APP, CONTACTS, "kit_rows") != "page-10":
        raise AssertionError("write_synced_rows without rows did not set its cursors")


@_check
def check_write_matched_writes_what_write_built_writes(store: IndexStore) -> None:
    """by_keys_rows finds what by_keys_indexed finds, each entry as one view of its
    fields (bare when it holds nothing but ids, state, keys, mark and history); then
    write_matched stores, with its other entries and cursors, exactly the entries
    ``matched_entry`` makes of each pair (written with write_built): the app id, keys,
    matched_by, copies, mark, time and the items appended (the history cut to its
    size); an entry changed or deleted since it was read is written whole; iteration
    order and counts stay."""
    when = T0 + timedelta(hours=1)
    indexed = HistoryItem(T0, "indexed", "hub")
    bare = _entry(
        "h:1",
        hub_id="1",
        keys=frozenset({"0:ada@x", "1:ada"}),
        history=(indexed, HistoryItem(T0 + timedelta(minutes=1), "odd", "x")),
    )
    copies = attrs.evolve(
        bare,
        entry_id="h:2",
        hub_id="2",
        keys=frozenset({"0:bob@x"}),
        hub_values={"email": "bob@x"},
        app_values={"Email": "bob@x"},
        matched_by="0:bob@x",
        mark="m0",
    )
    moved = attrs.evolve(bare, entry_id="h:3", hub_id="3", keys=frozenset({"0:cy@x"}))
    gone = attrs.evolve(bare, entry_id="h:4", hub_id="4", keys=frozenset({"0:di@x"}), history=())
    kept: dict[str, tuple[str, Mapping[str, str | None]]] = {
        "h:1": ("i1", {"email": "ada@x", "name": None}),
        "h:3": ("i0", {"email": "cy@x"}),
    }
    store.write_indexed([bare, copies, moved, gone], kept)
    keys = ["0:ada@x", "1:ada", "0:bob@x", "0:cy@x", "0:di@x", "0:nobody@x"]
    views, views_kept = store.by_keys_rows(A, CONTACTS, iter(keys), "i1")
    found, found_kept = store.by_keys_indexed(A, CONTACTS, keys, "i1")
    if {k: [v.entry_id for v in held] for k, held in views.items()} != {
        k: [e.entry_id for e in held] for k, held in found.items()
    }:
        raise AssertionError("by_keys_rows found other entries than by_keys_indexed")
    if views_kept != found_kept:
        raise AssertionError(
            f"by_keys_rows' values {views_kept!r:.200} are not by_keys_indexed's "
            f"{found_kept!r:.200}"
        )
    if views["0:ada@x"][0] is not views["1:ada"][0]:
        raise AssertionError("by_keys_rows made two views of one entry")
    read: dict[str, Any] = {}
    for key, held in views.items():
        for view, entry in zip(held, found[key], strict=True):
            assert_same_entry(entry, view.entry(), "RowView.entry of by_keys_rows")
            fields = (view.sync_id, view.object_type, view.entry_id, view.hub_id, view.app_id)
            hot = (view.state, view.pending, view.keys, view.mark)
            if fields != (
                entry.sync_id,
                entry.object_type,
                entry.entry_id,
                entry.hub_id,
                entry.app_id,
            ) or hot != (entry.state, entry.pending, entry.keys, entry.mark):
                raise AssertionError(f"by_keys_rows' view {view!r} is not its entry's")
            if view.bare != (entry.entry_id != "h:2"):
                raise AssertionError(f"by_keys_rows' view {view!r} is wrongly (not) bare")
            read[view.entry_id] = view
    # Another pass changes h:3 (its keys and state) and deletes h:4 after the read.
    since = attrs.evolve(moved, keys=frozenset({"0:ed@x"}), state=RecordState.FAILED)
    store.write([since], delete=[(A, CONTACTS, "h:4")])
    texts = {"email": "ada@x", "name": "Ada"}
    app = {"Email": "ada@x", "Name": "Ada L"}
    added = (HistoryItem(when, "matched", "by email"), HistoryItem(when, "synced", "in sync"))
    pairs: list[Any] = [
        (read["h:1"], "a1", read["h:1"].keys, "0:ada@x", texts, app, added),
        (read["h:2"], "a2", frozenset({"0:bob@x", "0:b2@x"}), "0:b2@x", {"email": 1}, {}, ()),
        (read["h:3"], "a3", read["h:3"].keys, "other", texts, app, added[:1]),
        (read["h:4"], "a4", read["h:4"].keys, "0:di@x", texts, app, added),
    ]
    other = _entry("x1", app_id="a9", state=RecordState.FAILED, message="refused")
    cursor = CursorUpdate(A, Side.APP, CONTACTS, "page-3", "kit_matched")
    store.write_matched(
        pairs, mark="m1", updated_at=when, history_size=2, entries=[other], cursors=[cursor]
    )
    want = {
        view.entry_id: matched_entry(view.entry(), app_id, ks, by, hub, app_, items, "m1", when, 2)
        for view, app_id, ks, by, hub, app_, items in pairs
    }
    if want["h:1"].history != added:
        raise AssertionError("matched_entry did not cut the history")  # pragma: no cover
    got = store.get(A, CONTACTS, [*want, "x1"])
    for entry_id, entry in [*want.items(), ("x1", other)]:
        assert_same_entry(entry, got.get(entry_id), f"get after write_matched ({entry_id})")
    order = [want["h:1"], want["h:2"], want["h:3"], want["h:4"], other]  # h:4 written anew
    _assert_entries(order, list(store.entries(A)), "entries after write_matched")
    now = store.by_keys(A, CONTACTS, ["0:b2@x", "0:cy@x", "0:ed@x"])
    if {k: [e.entry_id for e in v] for k, v in now.items()} != {
        "0:b2@x": ["h:2"],
        "0:cy@x": ["h:3"],
    }:
        raise AssertionError(f"by_keys after write_matched found {now!r:.300}")
    if store.indexed_values(A, CONTACTS, ["h:1"], "i1"):
        raise AssertionError("values kept past the entry's write_matched")
    if store.cursor(A, Side.APP, CONTACTS, "kit_matched") != "page-3":
        raise AssertionError("write_matched did not set its cursors")
    if _normal_counts(store.counts(A)) != _counted(order):
        raise AssertionError(f"counts after write_matched: {store.counts(A)}")
    done = CursorUpdate(A, Side.APP, CONTACTS, "page-4", "kit_matched")
    store.write_matched([], mark="m1", updated_at=when, history_size=2, cursors=[done])
    if store.cursor(A, Side.APP, CONTACTS, "kit_matched") != "page-4":
        raise AssertionError("write_matched without pairs did not set its cursors")


@_check
def check_replace_unchanged_writes_only_unchanged_entries(store: IndexStore) -> None:
    """replace_unchanged writes each pair's new entry only where the stored entry is
    still the one read (NaN in its values too), answers with what is stored in place of
    the others (``None``: nothing), keeps iteration order and counts, and refuses a pair
    of two entries (or of another sync) whole."""
    full = _full_entry()  # values with NaN: equal to nothing, still the same entry
    one = _entry("e1", hub_id="h1", keys=frozenset({"0:kit-cas@example.com"}))
    two = _entry("e2", hub_id="h2", state=RecordState.SYNCED)
    store.write([one, two, full])
    read = store.get(A, CONTACTS, ["e1", "e2", full.entry_id])
    if set(read) != {"e1", "e2", full.entry_id}:
        raise AssertionError(f"get after write found {sorted(read)}")
    behind = attrs.evolve(two, message="another pass stored this")  # after the read
    store.write([behind])
    queued = RecordState.QUEUED
    new_one = attrs.evolve(one, state=queued, keys=frozenset({"0:kit-cas-2@example.com"}))
    new_two = attrs.evolve(two, state=queued)
    new_full = attrs.evolve(full, state=queued, pending=None)
    never = _entry("e9", hub_id="h9")  # read once, deleted since (or never stored)
    lost = store.replace_unchanged(
        A,
        CONTACTS,
        [
            (read["e1"], new_one),
            (read["e2"], new_two),
            (read[full.entry_id], new_full),
            (never, attrs.evolve(never, state=queued)),
        ],
    )
    if not isinstance(lost, dict) or set(lost) != {"e2", "e9"}:
        raise AssertionError(
            f"replace_unchanged answered {lost!r:.300}: expected the entries changed since "
            f"they were read ('e2') or not stored ('e9'), and nothing else"
        )
    assert_same_entry(behind, lost["e2"], "replace_unchanged's answer for a changed entry")
    if lost["e9"] is not None:
        raise AssertionError(f"replace_unchanged answered {lost['e9']!r:.200} for no entry")
    found = store.get(A, CONTACTS, ["e1", "e2", full.entry_id, "e9"])
    if "e9" in found:
        raise AssertionError("replace_unchanged wrote an entry that was not stored")
    assert_same_entry(new_one, found.get("e1"), "get after replace_unchanged (unchanged)")
    assert_same_entry(behind, found.get("e2"), "get after replace_unchanged (changed since)")
    assert_same_entry(new_full, found.get(full.entry_id), "get after replace_unchanged (NaN)")
    _assert_entries(
        [new_one, behind, new_full], list(store.entries(A)), "entries after replace_unchanged"
    )
    if store.by_keys(A, CONTACTS, ["0:kit-cas@example.com"]):
        raise AssertionError("replace_unchanged left the replaced entry's old keys")
    if _normal_counts(store.counts(A)) != _counted([new_one, behind, new_full]):
        raise AssertionError(f"counts after replace_unchanged: {store.counts(A)}")
    # Built again on what is stored now, it is written.
    again = attrs.evolve(behind, state=queued)
    if store.replace_unchanged(A, CONTACTS, [(found["e2"], again)]) != {}:
        raise AssertionError("replace_unchanged refused an entry read just before")
    assert_same_entry(again, store.get(A, CONTACTS, ["e2"]).get("e2"), "get after a retry")
    # Refused whole: a pair of two entries, an entry of another sync or type.
    now = store.get(A, CONTACTS, ["e1", "e2"])
    for label, pairs in (
        ("two different entries", [(now["e1"], attrs.evolve(now["e2"], message="x"))]),
        ("an entry of another sync", [(now["e1"], attrs.evolve(now["e1"], sync_id=B))]),
        ("an entry of another type", [(now["e1"], attrs.evolve(now["e1"], object_type=DEALS))]),
    ):
        mixed = [(now["e2"], attrs.evolve(now["e2"], message="not stored")), *pairs]
        _expect_refusal(
            partial(store.replace_unchanged, A, CONTACTS, mixed),
            f"replace_unchanged with {label}",
        )
        assert_same_entry(
            now["e2"], store.get(A, CONTACTS, ["e2"]).get("e2"), f"get after a refused {label}"
        )


def _bad_entries() -> list[tuple[str, Any]]:
    bad: list[tuple[str, Any]] = [
        ("an entry_id that is not a str", _entry(5)),  # type: ignore[arg-type]
        ("a sync_id that is not a str", _entry("bad", sync_id=None)),  # type: ignore[arg-type]
        ("a naive updated_at", _entry("bad", updated_at=datetime(2024, 1, 1))),
        ("something that is not an Entry", "not an entry"),
        ("keys that are a list", _entry("bad", keys=["k"])),
        ("history that is a list", _entry("bad", history=[HistoryItem(T0, "x")])),
    ]
    for label, value in UNSTORABLE_VALUES.items():
        bad.append((f"hub_values holding {label}", _entry("bad", hub_values={"v": value})))
        bad.append(
            (
                f"app_values holding {label}",
                _entry("bad", hub_values={"v": "ok"}, app_values={"V": value}),
            )
        )
    return bad


@_check
def check_failed_write_stores_nothing(store: IndexStore) -> None:
    """A write that fails anywhere raises IndexStoreError and stores none of the call."""
    old = _entry("e1", keys=frozenset({"k1"}), state=RecordState.SYNCED, hub_id="h1")
    doomed = _entry("e3", keys=frozenset({"k3"}))
    store.write(
        [old, doomed, _entry("d1", sync_id=B)],
        cursors=[CursorUpdate(A, Side.HUB, CONTACTS, "cursor-1")],
    )
    store.set_meta(A, "switch", "on")
    before = {e.entry_id: e for e in store.entries(A)}
    for label, bad in _bad_entries():
        for position in ("first", "middle", "last"):
            good = [
                _entry("e2", keys=frozenset({"k2"}), hub_id="h2"),  # new
                attrs.evolve(old, state=RecordState.FAILED, keys=frozenset({"k9"})),  # changed
                _entry("e4", object_type=DEALS),  # another object type
                _entry("d1", sync_id=B, message="changed"),  # another sync
            ]
            at = {"first": 0, "middle": 2, "last": len(good)}[position]
            batch = [*good[:at], bad, *good[at:]]

            def write(batch: list[Any] = batch) -> None:
                store.write(
                    batch,
                    delete=[(A, CONTACTS, "e3")],
                    cursors=[
                        CursorUpdate(A, Side.HUB, CONTACTS, "cursor-2"),
                        CursorUpdate(A, Side.APP, CONTACTS, "cursor-new"),
                    ],
                )

            _expect_refusal(write, f"a write with {label} ({position} of the batch)")
            where = f"after a refused write with {label} ({position} of the batch)"
            now = {e.entry_id: e for e in store.entries(A)}
            if set(now) != set(before):
                raise AssertionError(f"{where}: entries are {sorted(now)}, were {sorted(before)}")
            for entry_id, entry in before.items():
                assert_same_entry(entry, now[entry_id], where)
            if store.by_keys(A, CONTACTS, ["k2", "k9"]) or not store.by_keys(A, CONTACTS, ["k1"]):
                raise AssertionError(f"{where}: the keys changed")
            if store.by_record_ids(A, CONTACTS, Side.HUB, ["h2"]):
                raise AssertionError(f"{where}: a new hub id was stored")
            if store.get(B, CONTACTS, ["d1"])["d1"].message:
                raise AssertionError(f"{where}: the entry of the other sync changed")
            cursors = (
                store.cursor(A, Side.HUB, CONTACTS),
                store.cursor(A, Side.APP, CONTACTS),
            )
            if cursors != ("cursor-1", None):
                raise AssertionError(f"{where}: the cursors are {cursors}")
            if _normal_counts(store.counts(A)) != _counted(before.values()):
                raise AssertionError(f"{where}: counts are {store.counts(A)}")
    if store.get_meta(A, "switch") != "on":
        raise AssertionError("a refused write changed a setting")
    bad_cursor = CursorUpdate(A, Side.HUB, CONTACTS, 5)  # type: ignore[arg-type]
    _expect_refusal(lambda: store.write([_entry("e5")], cursors=[bad_cursor]), "a bad cursor")
    _expect_refusal(
        lambda: store.write([_entry("e5")], delete=[(A, CONTACTS, 7)]),  # type: ignore[list-item]
        "a delete of an entry_id that is not a str",
    )
    if store.get(A, CONTACTS, ["e5"]):
        raise AssertionError("a write refused for its cursor or delete stored its entries")


@_check
def check_cursors_are_independent_and_written_with_entries(store: IndexStore) -> None:
    """Cursors per (sync, side, object type, name) are independent; set with entries."""
    combos = list(itertools.product((A, B), Side, (CONTACTS, DEALS), ("poll", "other")))
    updates = [CursorUpdate(s, side, t, f"{s}|{side}|{t}|{n}", n) for s, side, t, n in combos]
    store.write([_entry("e1")], cursors=updates)
    if not store.get(A, CONTACTS, ["e1"]):
        raise AssertionError("a write with cursors did not store its entries")

    def expect(values: Mapping[tuple[Any, ...], str | None], where: str) -> None:
        for (s, side, t, n), value in values.items():
            got = store.cursor(s, side, t, n)
            if got != value:
                raise AssertionError(f"{where}: cursor {(s, side.value, t, n)} is {got!r}")

    expected: dict[tuple[Any, ...], str | None] = {
        (s, side, t, n): f"{s}|{side}|{t}|{n}" for s, side, t, n in combos
    }
    expect(expected, "after setting them")
    store.write(cursors=[CursorUpdate(A, Side.HUB, CONTACTS, "moved")])
    expected[(A, Side.HUB, CONTACTS, "poll")] = "moved"
    expect(expected, "after moving one")
    store.set_cursor(B, Side.APP, DEALS, None, "other")
    expected[(B, Side.APP, DEALS, "other")] = None
    expect(expected, "after removing one")
    store.set_cursor(B, Side.APP, DEALS, "back", name="other")
    expected[(B, Side.APP, DEALS, "other")] = "back"
    store.set_cursor(A, Side.APP, CONTACTS, None)  # removing twice is fine
    store.set_cursor(A, Side.APP, CONTACTS, None)
    expected[(A, Side.APP, CONTACTS, "poll")] = None
    expect(expected, "after set_cursor")
    if store.cursor("kit-unknown-sync", Side.HUB, CONTACTS) is not None:
        raise AssertionError("a cursor of an unknown sync is not None")


@_check
def check_meta_get_set_remove(store: IndexStore) -> None:
    """Settings are per sync: get, set, overwrite, remove."""
    if store.get_meta(A, "enabled") is not None:
        raise AssertionError("a fresh store has a setting")
    store.set_meta(A, "enabled", "yes")
    store.set_meta(B, "enabled", "no")
    store.set_meta(A, "run", "")
    got = (store.get_meta(A, "enabled"), store.get_meta(B, "enabled"), store.get_meta(A, "run"))
    if got != ("yes", "no", ""):
        raise AssertionError(f"settings read back as {got}")
    store.set_meta(A, "enabled", "later")
    store.set_meta(A, "run", None)
    store.set_meta(A, "never-set", None)
    got = (store.get_meta(A, "enabled"), store.get_meta(B, "enabled"), store.get_meta(A, "run"))
    if got != ("later", "no", None):
        raise AssertionError(f"settings after overwrite and remove read back as {got}")


def _filter_population() -> list[Entry]:
    states = list(RecordState)
    return [
        _entry(
            f"e{i:02d}",
            object_type=CONTACTS if i % 3 else DEALS,
            state=states[i % len(states)],
            updated_at=T0 + timedelta(minutes=i % 10),
            pending=(Side.HUB, None, Side.APP, None)[i % 4],
        )
        for i in (i * 11 % 40 for i in range(40))
    ]


@_check
def check_entries_filters_by_type_state_time_and_pending(store: IndexStore) -> None:
    """entries() filters by object type, states, [since, until) and pending, in order."""
    population = _filter_population()
    store.write(population[:25])
    store.write(population[25:])
    store.write([_entry("other-sync", sync_id=B)])
    t3, t7 = T0 + timedelta(minutes=3), T0 + timedelta(minutes=7)
    cases: list[dict[str, Any]] = [
        {},
        {"object_type": CONTACTS},
        {"object_type": DEALS},
        {"object_type": "unknown"},
        {"states": [RecordState.FAILED]},
        {"states": {RecordState.FAILED, RecordState.EXCLUDED}, "object_type": CONTACTS},
        {"states": []},
        {"since": t3},
        {"until": t7},
        {"since": t3, "until": t7},
        {"since": t7, "until": t3},
        {"pending": True},
        {"pending": False},
        {"pending": True, "object_type": DEALS},
        {"object_type": CONTACTS, "states": [RecordState.QUEUED], "since": t3, "pending": False},
    ]
    for filters in cases:
        object_type = filters.get("object_type")
        states = filters.get("states")
        since, until, pending = filters.get("since"), filters.get("until"), filters.get("pending")
        expected = [
            e
            for e in population
            if (object_type is None or e.object_type == object_type)
            and (states is None or e.state in states)
            and (since is None or e.updated_at >= since)
            and (until is None or e.updated_at < until)
            and (pending is None or (e.pending is not None) == pending)
        ]
        got = list(
            store.entries(
                A,
                object_type,
                states=states,
                since=since,
                until=until,
                pending=pending,
            )
        )
        _assert_entries(expected, got, f"entries({filters})")
    if list(store.entries("kit-unknown-sync")):
        raise AssertionError("entries() of an unknown sync is not empty")


@_check
def check_entries_pages_follow_entries(store: IndexStore) -> None:
    """entries_page() pages through what entries() yields, in order, each entry once."""
    population = _filter_population()
    store.write(population[:25])
    store.write(population[25:])
    store.write([_entry("other-sync", sync_id=B)])
    t3 = T0 + timedelta(minutes=3)
    cases: list[dict[str, Any]] = [
        {},
        {"object_type": CONTACTS},
        {"object_type": "unknown"},
        {"states": {RecordState.FAILED, RecordState.EXCLUDED}},
        {"states": []},
        {"since": t3, "object_type": DEALS},
    ]
    for filters in cases:
        expected = list(store.entries(A, **filters))
        for limit in (1, 3, 7, 40, 41):
            got: list[Entry] = []
            after: str | None = None
            for _ in range(len(expected) + 2):
                page, after = store.entries_page(A, **filters, after=after, limit=limit)
                if len(page) > limit:
                    raise AssertionError(f"entries_page(limit={limit}) gave {len(page)} entries")
                got.extend(page)
                if after is None:
                    break
                if not page:
                    raise AssertionError(f"entries_page({filters}) gave an empty page and a cursor")
            _assert_entries(expected, got, f"entries_page({filters}, limit={limit})")
    refusals: list[tuple[str, Callable[[], object]]] = [
        *((f"cursor {bad!r}", partial(store.entries_page, A, after=bad)) for bad in ("x", "²")),
        ("limit=0", partial(store.entries_page, A, limit=0)),
    ]
    for what, action in refusals:
        try:
            action()
        except ValueError:
            continue
        raise AssertionError(f"entries_page with {what}: expected ValueError, it was accepted")


@_check
def check_entries_stays_correct_while_writing(store: IndexStore) -> None:
    """Writes during iteration: lasting entries come once, none twice, all as written."""
    original = [_entry(f"e{i:04d}", hub_values={"n": i}) for i in range(1300)]
    for start in range(0, 1300, 500):
        store.write(original[start : start + 500])
    versions: dict[str, list[Entry]] = {e.entry_id: [e] for e in original}
    deleted = {f"e{i:04d}" for i in range(600, 650)}
    seen: list[str] = []
    for n, entry in enumerate(store.entries(A, CONTACTS)):
        seen.append(entry.entry_id)
        if entry.entry_id not in versions:
            raise AssertionError(f"entries() yielded {entry.entry_id!r}, which was never written")
        if not any(not entry_difference(v, entry) for v in versions[entry.entry_id]):
            raise AssertionError(f"entries() yielded a version of {entry.entry_id} never written")
        if n == 10:
            changed = [attrs.evolve(e, message="changed") for e in original]
            new = [_entry(f"n{i:03d}") for i in range(100)]
            for e in [*changed, *new]:
                versions.setdefault(e.entry_id, []).append(e)
            store.write([*changed, *new], delete=[(A, CONTACTS, i) for i in sorted(deleted)])
        if n == 700:
            again = [attrs.evolve(e, state=RecordState.SYNCED, message="again") for e in original]
            again = [e for e in again if e.entry_id not in deleted]
            for e in again:
                versions[e.entry_id].append(e)
            store.write(again)
    twice = [entry_id for entry_id, times in Counter(seen).items() if times > 1]
    if twice:
        raise AssertionError(f"entries() yielded {twice[:5]} more than once")
    lasting = [e.entry_id for e in original if e.entry_id not in deleted]
    missing = [entry_id for entry_id in lasting if entry_id not in set(seen)]
    if missing:
        raise AssertionError(f"entries() skipped entries present all along: {missing[:5]}")
    order = [entry_id for entry_id in seen if entry_id in set(lasting)]
    if order != lasting:
        raise AssertionError("entries() did not yield lasting entries in first-written order")


@_check
def check_counts_agree_with_entries(store: IndexStore) -> None:
    """counts() agrees with iterating, after inserts, state changes and deletes."""
    population = _filter_population()

    def expect(where: str) -> None:
        want = _counted(store.entries(A))
        got = _normal_counts(store.counts(A))
        if got != want:
            raise AssertionError(f"{where}: counts() is {got}, iterating gives {want}")
        if store.count(A) != sum(sum(v.values()) for v in want.values()):
            raise AssertionError(f"{where}: count() is {store.count(A)}")
        if store.count(A, DEALS) != sum(want.get(DEALS, {}).values()):
            raise AssertionError(f"{where}: count(deals) is {store.count(A, DEALS)}")
        for object_type in (CONTACTS, DEALS):
            for side in Side:
                held = sum(e.id_on(side) is not None for e in store.entries(A, object_type))
                if store.count_on(A, object_type, side) != held:
                    raise AssertionError(
                        f"{where}: count_on({object_type}, {side.value}) is "
                        f"{store.count_on(A, object_type, side)}, iterating gives {held}"
                    )

    if _normal_counts(store.counts(A)) or store.count(A):
        raise AssertionError(f"a fresh store counts {store.counts(A)}")
    store.write(population)
    store.write([_entry("b", sync_id=B, state=RecordState.SYNCED)])
    expect("after inserts")
    store.write([attrs.evolve(e, state=RecordState.SYNCED) for e in population[::3]])
    expect("after state changes")
    store.write([attrs.evolve(population[1], state=population[1].state, message="same state")])
    expect("after a rewrite in the same state")
    store.write(delete=[(A, e.object_type, e.entry_id) for e in population[::2]])
    expect("after deletes")
    store.write(delete=[(A, e.object_type, e.entry_id) for e in population])
    expect("after deleting everything")
    if _normal_counts(store.counts(B)) != {CONTACTS: {"synced": 1}}:
        raise AssertionError(f"counts of the other sync are {store.counts(B)}")


@_check
def check_leases_grant_refuse_extend_expire_release(store: IndexStore) -> None:
    """Leases: granted when free, refused to others, extended, taken over, released."""
    minute = timedelta(minutes=1)

    def acquire(names: Iterable[str], owner: str, until: int, now: int, **kw: Any) -> set[str]:
        return store.acquire(
            kw.get("sync_id", A),
            kw.get("object_type", CONTACTS),
            names,
            owner,
            until=T0 + until * minute,
            now=T0 + now * minute,
        )

    def expect(got: set[str], want: set[str], what: str) -> None:
        if got != want:
            raise AssertionError(f"{what}: granted {sorted(got)}, expected {sorted(want)}")

    expect(acquire(["r1", "r2"], "o1", until=10, now=0), {"r1", "r2"}, "free names")
    expect(acquire(["r2", "r3"], "o2", until=10, now=1), {"r3"}, "a name another owner holds")
    expect(acquire(["r1"], "o1", until=20, now=2), {"r1"}, "extending one's own lease")
    expect(acquire([], "o1", until=20, now=2), set(), "no names")
    expect(acquire(["r1", "r2"], "o2", until=30, now=10), {"r2"}, "after r2 expired (at 10)")
    expect(acquire(["r1"], "o2", until=30, now=19), set(), "before the extended lease expires")
    expect(acquire(["r1"], "o2", until=30, now=20), {"r1"}, "when the lease expires (<= now)")
    expect(acquire(["r1", "r2", "r3"], "o3", until=40, now=21), {"r3"}, "o2 holds r1, r2")
    expect(acquire(["x"], "o1", until=40, now=21, object_type=DEALS), {"x"}, "another type")
    expect(acquire(["r1"], "o1", until=40, now=21, object_type=DEALS), {"r1"}, "same name")
    store.release(A, "o3", ["r1"])  # not o3's: nothing happens
    expect(acquire(["r1"], "o3", until=40, now=22), set(), "after a release by a non-holder")
    store.release(A, "o2", ["r1"], CONTACTS)
    expect(acquire(["r1", "r2"], "o3", until=40, now=22), {"r1"}, "after releasing r1")
    store.release(A, "o2")
    expect(acquire(["r2", "r3"], "o3", until=40, now=22), {"r2", "r3"}, "after releasing all")
    store.release(A, "o1", object_type=CONTACTS)
    expect(
        acquire(["x", "r1"], "o2", until=40, now=22, object_type=DEALS),
        set(),
        "release(object_type=contacts) must keep the owner's deals leases",
    )
    store.release(A, "o1", ["r1"])
    expect(
        acquire(["x", "r1"], "o2", until=40, now=22, object_type=DEALS),
        {"r1"},
        "release(names) without an object type frees those names in every type",
    )
    store.release(A, "o1", [])
    expect(acquire(["x"], "o2", until=40, now=22, object_type=DEALS), set(), "release([])")


@_check
def check_lease_holders_name_each_owner(store: IndexStore) -> None:
    """``holders`` names the owner of each leased name asked about, expired leases too,
    per sync and object type (a store that keeps the default knows none: skipped)."""
    if type(store).holders is IndexStore.holders:
        return
    minute = timedelta(minutes=1)
    store.acquire(A, CONTACTS, ["r1", "r2"], "o1", until=T0 + 10 * minute, now=T0)
    store.acquire(A, CONTACTS, ["r2", "r3"], "o2@host:1", until=T0 + 2 * minute, now=T0)
    store.acquire(A, DEALS, ["r4"], "o3", until=T0 + 10 * minute, now=T0)
    store.acquire(B, CONTACTS, ["r5"], "o4", until=T0 + 10 * minute, now=T0)
    cases: list[tuple[dict[str, str], dict[str, str], str]] = [
        (
            store.holders(A, CONTACTS, ["r1", "r2", "r3", "r4", "r5", "nobody"]),
            {"r1": "o1", "r2": "o1", "r3": "o2@host:1"},
            "holders of contacts in sync A (r4 is a deal, r5 sync B's)",
        ),
        (store.holders(A, DEALS, ["r4", "r1"]), {"r4": "o3"}, "holders of deals"),
        (store.holders(B, CONTACTS, ["r5", "r1"]), {"r5": "o4"}, "holders in sync B"),
        (store.holders(A, CONTACTS, []), {}, "no names"),
        (store.holders("no-such-sync", CONTACTS, ["r1"]), {}, "an unknown sync"),
        (store.holders(A, "no-such-type", ["r1"]), {}, "an unknown object type"),
    ]
    # An expired lease still has its holder, until someone takes it.
    cases.append((store.holders(A, CONTACTS, ["r3"]), {"r3": "o2@host:1"}, "an expired lease"))
    store.release(A, "o1")
    cases.append((store.holders(A, CONTACTS, ["r1", "r2"]), {}, "after release"))
    for got, want, what in cases:
        if got != want:
            raise AssertionError(f"holders, {what}: got {got}, expected {want}")


@_check
def check_leases_list_one_object_type(store: IndexStore) -> None:
    """``leases`` lists every lease of one object type of a sync, expired leases too,
    with its owner and expiry (a store that keeps the default lists none: skipped)."""
    if type(store).leases is IndexStore.leases:
        return
    minute = timedelta(minutes=1)
    queued = "~queued/contacts"  # the engine's notes: an object type of their own
    cases: list[tuple[object, object, str]] = [
        (store.leases(A, CONTACTS), {}, "an empty store"),
        (store.leases("no-such-sync", CONTACTS), {}, "an unknown sync"),
    ]
    store.acquire(A, CONTACTS, ["r1", "r2"], "o1", until=T0 + 10 * minute, now=T0)
    store.acquire(A, CONTACTS, ["r3"], "o2@host:1", until=T0 + 2 * minute, now=T0)
    store.acquire(A, queued, ["hub:r1"], "o1/queued", until=T0 + 3 * minute, now=T0)
    store.acquire(A, DEALS, ["r4"], "o3", until=T0 + 10 * minute, now=T0)
    store.acquire(B, CONTACTS, ["r5"], "o4", until=T0 + 10 * minute, now=T0)
    cases += [
        (
            store.leases(A, CONTACTS),
            {
                "r1": ("o1", T0 + 10 * minute),
                "r2": ("o1", T0 + 10 * minute),
                "r3": ("o2@host:1", T0 + 2 * minute),
            },
            "contacts in sync A (r4 is a deal, r5 sync B's)",
        ),
        (store.leases(A, queued), {"hub:r1": ("o1/queued", T0 + 3 * minute)}, "another type"),
        (store.leases(B, CONTACTS), {"r5": ("o4", T0 + 10 * minute)}, "sync B"),
        (store.leases(A, "no-such-type"), {}, "an unknown object type"),
    ]
    # Extended: the new expiry; taken over once expired: the new owner.
    store.acquire(A, CONTACTS, ["r1"], "o1", until=T0 + 20 * minute, now=T0 + minute)
    store.acquire(A, CONTACTS, ["r3"], "o5", until=T0 + 30 * minute, now=T0 + 5 * minute)
    store.release(A, "o1", ["r2"])
    cases.append(
        (
            store.leases(A, CONTACTS),
            {"r1": ("o1", T0 + 20 * minute), "r3": ("o5", T0 + 30 * minute)},
            "after an extension, a takeover and a release",
        )
    )
    store.release(A, "o1")
    store.release(A, "o5")
    cases.append((store.leases(A, CONTACTS), {}, "after releasing all"))
    for got, want, what in cases:
        if got != want:
            raise AssertionError(f"leases, {what}: got {got}, expected {want}")
        for owner, until in cast(dict[str, tuple[str, datetime]], got).values():
            if until.utcoffset() is None:
                raise AssertionError(f"leases, {what}: a naive expiry {until!r} of {owner!r}")


@_check
def check_concurrent_acquires_grant_each_name_once(store: IndexStore) -> None:
    """Threads racing for the same names: every name goes to exactly one owner."""
    names = [f"r{i}" for i in range(40)]
    owners = [f"worker-{i}" for i in range(6)]
    granted: dict[str, set[str]] = {owner: set() for owner in owners}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(owners))

    def work(owner: str, order: list[str]) -> None:
        try:
            barrier.wait()
            for name in order:
                granted[owner] |= store.acquire(
                    A, CONTACTS, [name], owner, until=T0 + timedelta(hours=1), now=T0
                )
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(owner, names[i:] + names[:i]))
        for i, owner in enumerate(owners)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise AssertionError(f"acquire failed in a thread: {errors[0]!r}") from errors[0]
    holders = Counter(name for got in granted.values() for name in got)
    if set(holders) != set(names) or max(holders.values()) != 1:
        doubled = sorted(name for name, n in holders.items() if n > 1)
        raise AssertionError(
            f"names granted to several owners at once: {doubled[:5]}; "
            f"never granted: {sorted(set(names) - set(holders))[:5]}"
        )


@_check
def check_inbox_keeps_events_in_order_once_until_removed(store: IndexStore) -> None:
    """The webhook inbox (optional: skipped for a store without it): items come back as
    added, oldest first, paged by ``after``/``limit``; a key held already is dropped; a
    removal removes only the seqs named, of that sync; seqs are never reused; a bad item
    stores nothing of its call; ``delete_sync`` empties a sync's inbox only."""
    if not keeps_inbox(store):
        return
    at = T0.astimezone(_PLUS_0530)

    def item(key: str, sync_id: str = A, side: Side = Side.HUB, payload: str = "{}") -> InboxItem:
        return InboxItem(sync_id, side, key, payload, at)

    def keys(sync_id: str, **page: int) -> list[str]:
        return [i.key for i in store.inbox(sync_id, **page)]

    odd = '{"name":"Zoë \\u0000","tab":"\t"}' + "\x00\x01é"
    added = store.inbox_add(
        [item("k1"), item("k2", side=Side.APP, payload=odd), item("k1"), item("k1", B)]
    )
    if added != 3:
        raise AssertionError(f"inbox_add of 3 new keys (and a repeat) returned {added}")
    first, second = store.inbox(A)
    if (first.key, second.key) != ("k1", "k2") or not 0 < first.seq < second.seq:
        raise AssertionError(f"inbox returned {first!r}, {second!r}: expected k1 then k2")
    if second.side is not Side.APP or second.payload != odd or second.sync_id != A:
        raise AssertionError(f"an inbox item came back changed: {second!r}")
    if not _same_instant(at, second.received_at):
        raise AssertionError(f"received_at came back as {second.received_at!r}, not {at!r}")
    if keys(A, after=first.seq) != ["k2"] or keys(A, limit=1) != ["k1"]:
        raise AssertionError("inbox(after=…, limit=…) does not page in seq order")
    if store.inbox_add([item("k1")]) != 0 or store.inbox_count(A) != 2:
        raise AssertionError("a key the inbox holds was added again")
    store.inbox_remove(B, [first.seq, second.seq])  # seqs of another sync: no effect
    if store.inbox_count(A) != 2 or store.inbox_count(B) != 1:
        raise AssertionError("inbox_remove removed another sync's events")
    store.inbox_remove(A, [first.seq, 10**12])
    if keys(A) != ["k2"]:
        raise AssertionError(f"after removing k1 the inbox holds {keys(A)}")
    store.inbox_add([item("k3")])
    (k3,) = store.inbox(A, after=second.seq)
    store.inbox_remove(A, [k3.seq])
    store.inbox_add([item("k1")])  # removed once: a later delivery is new
    (again,) = store.inbox(A, after=second.seq)
    if again.key != "k1" or again.seq <= k3.seq:
        raise AssertionError(f"a seq was reused: {again.seq} after {k3.seq} was removed")
    before = store.inbox_count(A)
    _expect_refusal(lambda: store.inbox_add([item("k9"), "not an item"]), "a bad inbox item")  # type: ignore[list-item]
    _expect_refusal(
        lambda: store.inbox_add(
            [item("k9"), attrs.evolve(item("k8"), received_at=T0.replace(tzinfo=None))]
        ),
        "a naive received_at",
    )
    if store.inbox_count(A) != before:
        raise AssertionError("a refused inbox_add stored part of its items")
    store.delete_sync(A)
    if store.inbox_count(A) != 0 or keys(B) != ["k1"]:
        raise AssertionError("delete_sync did not empty exactly that sync's inbox")


def _pass_record(
    sync_id: str, n: int, *, outcome: str = "completed", detail: str = "", number: int = 0
) -> PassRecord:
    return PassRecord(
        sync_id=sync_id,
        kind=("initial", "incremental", "events", "reconcile")[n % 4],
        started_at=(T0 + timedelta(minutes=n)).astimezone(_PLUS_0530),
        finished_at=T0 + timedelta(minutes=n, seconds=n, microseconds=7),
        outcome=outcome,
        detail=detail,
        counts={
            CONTACTS: {"hub": SideCounts(created=n, failed=1), "app": SideCounts(updated=2)},
            DEALS: {"app": SideCounts(unchanged=n * 1000, excluded=3, queued=1)},
        },
        dry_run=n % 3 == 0,
        number=number,
    )


@_check
def check_pass_history_keeps_the_newest_passes_in_order(store: IndexStore) -> None:
    """The pass history (optional: skipped for a store without it): ``add_pass`` numbers
    a sync's records 1, 2, 3… (ignoring the record's own number) and returns them so;
    ``passes`` gives them back equal (times in UTC), newest first, paged by ``limit`` and
    ``before``; only the newest ``keep_passes`` stay; a bad record stores nothing;
    ``delete_sync`` empties one sync's history only."""
    if not keeps_history(store):
        return
    if store.passes(A) != []:
        raise AssertionError(f"a new store holds passes: {store.passes(A)!r}")
    odd = "stopped: Zoë \x00 <b>&amp; \u2028 'quoted' \"double\""
    written = [
        _pass_record(A, 1, number=99),
        _pass_record(A, 2, outcome="stopped", detail=odd),
        _pass_record(B, 3, outcome="failed", detail="AdapterError: boom"),
        _pass_record(A, 4, outcome="skipped", detail="the sync is disabled"),
    ]
    returned = [store.add_pass(record) for record in written]
    numbers = [record.number for record in returned]
    if numbers != [1, 2, 1, 3]:
        raise AssertionError(f"add_pass numbered the records {numbers}, expected [1, 2, 1, 3]")
    for record, back in zip(written, returned, strict=True):
        if back != attrs.evolve(record, number=back.number):
            raise AssertionError(f"add_pass returned {back!r} for {record!r}")
    kept = store.passes(A)
    expected = [returned[3], returned[1], returned[0]]
    if kept != expected:
        raise AssertionError(f"passes(A) returned {kept!r}, expected {expected!r}")
    for record in kept:
        for at in (record.started_at, record.finished_at):
            if at.utcoffset() != timedelta(0):
                raise AssertionError(f"a pass time came back as {at!r}, not in UTC")
    if store.passes(B) != [returned[2]]:
        raise AssertionError("one sync's passes show in another's")
    paged = [r.number for r in store.passes(A, limit=1)]
    paged += [r.number for r in store.passes(A, limit=1, before=paged[-1])]
    paged += [r.number for r in store.passes(A, limit=5, before=paged[-1])]
    if paged != [3, 2, 1] or store.passes(A, before=1) != [] or store.passes(A, limit=0):
        raise AssertionError(f"passes(limit=…, before=…) paged {paged}, expected [3, 2, 1]")
    _expect_refusal(lambda: store.add_pass("not a record"), "a pass that is not a PassRecord")  # type: ignore[arg-type]
    naive = attrs.evolve(written[0], finished_at=T0.replace(tzinfo=None))
    _expect_refusal(lambda: store.add_pass(naive), "a pass with a naive finished_at")
    bad = attrs.evolve(written[0], outcome="exploded")
    _expect_refusal(lambda: store.add_pass(bad), "a pass with an unknown outcome")
    if [r.number for r in store.passes(A)] != [3, 2, 1]:
        raise AssertionError("a refused add_pass stored something")
    keep = store.keep_passes
    store.keep_passes = 2
    try:
        for n in range(5, 9):
            store.add_pass(_pass_record(A, n))
    finally:
        store.keep_passes = keep
    if [r.number for r in store.passes(A, limit=10)] != [7, 6]:
        raise AssertionError(
            f"with keep_passes=2 the store kept {[r.number for r in store.passes(A)]}, "
            "expected the newest two, [7, 6]"
        )
    store.delete_sync(A)
    if store.passes(A) != [] or store.passes(B) != [returned[2]]:
        raise AssertionError("delete_sync did not empty exactly that sync's pass history")


@_check
def check_sync_ids_are_isolated(store: IndexStore) -> None:
    """Two syncs with the same ids, keys, cursors, settings, leases never mix (S1, S7)."""

    def population(sync_id: str) -> list[Entry]:
        return [
            _entry(
                f"e{i}",
                sync_id=sync_id,
                object_type=object_type,
                hub_id=f"h{i}",
                app_id=f"a{i}",
                keys=frozenset({f"k{i}", "shared"}),
                message=sync_id,
                state=RecordState.SYNCED if sync_id == A else RecordState.FAILED,
            )
            for i in range(3)
            for object_type in (CONTACTS, DEALS)
        ]

    entries = {A: population(A), B: population(B)}
    store.write([*entries[A], *entries[B]])
    for sync_id in (A, B):
        store.set_cursor(sync_id, Side.HUB, CONTACTS, f"cursor-{sync_id}")
        store.set_meta(sync_id, "switch", f"meta-{sync_id}")
        granted = store.acquire(
            sync_id, CONTACTS, ["r1"], f"owner-{sync_id}", until=T0 + timedelta(hours=1), now=T0
        )
        if granted != {"r1"}:
            raise AssertionError(f"a lease in {sync_id} was refused because of the other sync")

    def expect_intact(sync_id: str, where: str) -> None:
        mine = entries[sync_id]
        contacts = [e for e in mine if e.object_type == CONTACTS]
        _assert_entries(mine, list(store.entries(sync_id)), f"{where}: entries({sync_id})")
        got = store.get(sync_id, CONTACTS, ["e0", "e1", "e2"])
        if set(got) != {e.entry_id for e in contacts}:
            raise AssertionError(f"{where}: get({sync_id}) found {sorted(got)}")
        for e in contacts:
            assert_same_entry(e, got[e.entry_id], f"{where}: get({sync_id})")
        for side in Side:
            found = store.by_record_ids(
                sync_id, CONTACTS, side, [e.id_on(side) or "" for e in contacts]
            )
            for e in contacts:
                assert_same_entry(e, found.get(e.id_on(side) or ""), f"{where}: by {side.value} id")
        shared = store.by_keys(sync_id, CONTACTS, ["shared", "k1"])
        _assert_entries(contacts, shared.get("shared", []), f"{where}: by_keys({sync_id})")
        if _normal_counts(store.counts(sync_id)) != _counted(mine):
            raise AssertionError(f"{where}: counts({sync_id}) is {store.counts(sync_id)}")
        if store.cursor(sync_id, Side.HUB, CONTACTS) != f"cursor-{sync_id}":
            raise AssertionError(f"{where}: the cursor of {sync_id} is wrong")
        if store.get_meta(sync_id, "switch") != f"meta-{sync_id}":
            raise AssertionError(f"{where}: the setting of {sync_id} is wrong")
        took = store.acquire(
            sync_id, CONTACTS, ["r1"], "intruder", until=T0 + timedelta(hours=1), now=T0
        )
        if took:
            raise AssertionError(f"{where}: the lease of {sync_id} was lost")

    expect_intact(A, "two syncs")
    expect_intact(B, "two syncs")
    store.write(delete=[(A, CONTACTS, "e0")])
    entries[A] = [e for e in entries[A] if (e.object_type, e.entry_id) != (CONTACTS, "e0")]
    store.write([_entry("e0", sync_id=A, message="again")], delete=[(A, CONTACTS, "e0")])
    expect_intact(B, "a delete in the other sync")
    store.release(A, "owner-kit-sync-b")  # B's owner name, in A: frees nothing in B
    expect_intact(B, "a release in the other sync")
    store.delete_sync(A)
    expect_intact(B, "after delete_sync of the other sync")
    if (
        list(store.entries(A))
        or store.get(A, CONTACTS, ["e1"])
        or store.by_keys(A, CONTACTS, ["shared"])
        or store.by_record_ids(A, CONTACTS, Side.HUB, ["h1"])
        or _normal_counts(store.counts(A))
        or store.cursor(A, Side.HUB, CONTACTS) is not None
        or store.get_meta(A, "switch") is not None
    ):
        raise AssertionError("delete_sync left entries, keys, counts, cursors or settings")
    took = store.acquire(A, CONTACTS, ["r1"], "someone", until=T0 + timedelta(hours=1), now=T0)
    if took != {"r1"}:
        raise AssertionError("delete_sync left a lease behind")
    store.write([_entry("fresh", sync_id=A)])
    _assert_entries([_entry("fresh", sync_id=A)], list(store.entries(A)), "a new start")


# =====================================================================================
# The state machine: the store against a dict-based model of the contract
# =====================================================================================
_OBJECT_TYPES: Final = (CONTACTS, DEALS)
_ENTRY_IDS: Final = tuple(f"e{i}" for i in range(6))
_RECORD_IDS: Final = ("r0", "r1", "r2", "r3")
_KEYS: Final = ("0:a@x", "0:b@x", "1:acme", "1:globex")
_TIMES: Final = tuple(T0 + timedelta(minutes=m) for m in range(4))
_LEASE_NAMES: Final = ("n0", "n1", "n2")
_OWNERS: Final = ("o1", "o2")
_machines = itertools.count()


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=6),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.dates(),
        st.datetimes(timezones=st.sampled_from([UTC, _PLUS_0530, _MINUS_0800])),
    )


def value_strategy() -> st.SearchStrategy[Any]:
    """Any value a store must round-trip (see ``syncengine.index._codec``)."""
    hashable = st.recursive(
        _scalars(),
        lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
        max_leaves=4,
    )
    return st.recursive(
        _scalars() | st.frozensets(hashable, max_size=3),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(
                st.text(max_size=3) | st.sampled_from(["$t", "$o", "$s"]), inner, max_size=3
            ),
        ),
        max_leaves=8,
    )


def values_strategy(*, light: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping of property names to values, as in ``hub_values``.

    ``light`` draws values from :data:`TRICKY_VALUES` and small scalars only: cheap to
    generate, which matters to the state machine.
    """
    names = st.sampled_from(["email", "name", "n", "$t", "$o"]) | st.text(max_size=4)
    if light:
        values: st.SearchStrategy[Any] = st.one_of(
            st.sampled_from(list(TRICKY_VALUES.values())),
            st.integers(-3, 3),
            st.sampled_from(["", "a", "b"]),
        )
    else:
        values = value_strategy()
    return st.dictionaries(names, values, max_size=4)


@st.composite
def _value_pair(draw: st.DrawFn) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    hub = draw(st.none() | values_strategy(light=True))
    kind = draw(st.sampled_from(["none", "same", "renamed", "independent"]))
    if kind == "none" or (hub is None and kind != "independent"):
        return hub, None
    if kind == "same":
        return hub, dict(hub) if hub is not None else None
    if kind == "renamed" and hub is not None:
        app = {name.upper() + "_": value for name, value in hub.items()}
        for name in draw(st.lists(st.sampled_from(sorted(app) or ["x"]), max_size=2)):
            app[name] = draw(st.sampled_from(list(TRICKY_VALUES.values())))
        return hub, app
    return hub, draw(values_strategy(light=True))


@st.composite
def _copies(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """New hub and app copies of a synced pair, as the engine merges them: mostly the
    same text under two sets of names, sometimes other values or names."""
    names = draw(st.sampled_from([("email", "name"), ("email",), ("name", "email")]))
    text = st.sampled_from(["", "a", "b", "Ærø"]) | st.none()
    hub: dict[str, Any] = {name: draw(text) for name in names}
    app: dict[str, Any] = {name.upper(): value for name, value in hub.items()}
    if draw(st.booleans()):
        other_hub, other_app = draw(_value_pair())
        hub, app = other_hub or hub, other_app or app
    return hub, app


def entry_strategy(sync_ids: Sequence[str]) -> st.SearchStrategy[Entry]:
    """Entries of the given syncs drawn from small pools, so that they collide."""
    return st.builds(
        _build_entry,
        sync_id=st.sampled_from(sync_ids),
        object_type=st.sampled_from(_OBJECT_TYPES),
        entry_id=st.sampled_from(_ENTRY_IDS),
        updated_at=st.sampled_from(_TIMES),
        hub_id=st.none() | st.sampled_from(_RECORD_IDS),
        app_id=st.none() | st.sampled_from(_RECORD_IDS),
        state=st.sampled_from(RecordState),
        keys=st.frozensets(st.sampled_from(_KEYS), max_size=3),
        matched_by=st.none() | st.sampled_from(["0", "1"]),
        values=_value_pair(),
        category=st.none() | st.sampled_from(ErrorCategory),
        reason=st.none() | st.sampled_from(ExcludeReason),
        message=st.text(max_size=5),
        pending=st.none() | st.sampled_from(Side),
        pending_key=st.none() | st.text(max_size=5),
        attempts=st.integers(0, 5),
        mark=st.none() | st.text(max_size=3),
        links=st.dictionaries(
            st.sampled_from(["companies", "deals"]),
            st.frozensets(st.sampled_from(_RECORD_IDS), max_size=2),
            max_size=2,
        ),
        deleted=st.none() | st.sampled_from(Side),
        history=st.lists(
            st.builds(
                HistoryItem,
                st.sampled_from(_TIMES),
                st.text(max_size=5),
                st.text(max_size=5),
            ),
            max_size=2,
        ).map(tuple),
    )


def _build_entry(
    values: tuple[dict[str, Any] | None, dict[str, Any] | None], **fields: Any
) -> Entry:
    return Entry(hub_values=values[0], app_values=values[1], **fields)


def cursor_strategy(sync_ids: Sequence[str]) -> st.SearchStrategy[CursorUpdate]:
    """Cursor updates of the given syncs, colliding often, sometimes removing."""
    return st.builds(
        CursorUpdate,
        sync_id=st.sampled_from(sync_ids),
        side=st.sampled_from(Side),
        object_type=st.sampled_from(_OBJECT_TYPES),
        value=st.none() | st.text(max_size=4),
        name=st.sampled_from(["poll", "other"]),
    )


#: How many passes per sync the state machine has a store keep (``keep_passes``).
_MACHINE_KEEPS: Final = 2


def _bad_entry_strategy() -> st.SearchStrategy[Any]:
    return st.sampled_from([bad for _, bad in _bad_entries()])


@attrs.define
class _Model:
    """The contract, as plainly as it can be said: dicts in first-written order."""

    entries: dict[tuple[str, str, str], Entry] = attrs.Factory(dict)
    cursors: dict[tuple[str, Side, str, str], str] = attrs.Factory(dict)
    meta: dict[tuple[str, str], str] = attrs.Factory(dict)
    leases: dict[tuple[str, str, str], tuple[str, datetime]] = attrs.Factory(dict)
    #: The pass history per sync, oldest first (the newest ``keep`` kept).
    passes: dict[str, list[PassRecord]] = attrs.Factory(dict)

    def add_pass(self, record: PassRecord, keep: int) -> PassRecord:
        kept = self.passes.setdefault(record.sync_id, [])
        record = attrs.evolve(record, number=kept[-1].number + 1 if kept else 1)
        kept.append(record)
        del kept[: max(0, len(kept) - keep)]
        return record

    def passes_of(self, sync_id: str, limit: int, before: int | None) -> list[PassRecord]:
        kept = [r for r in self.passes.get(sync_id, []) if before is None or r.number < before]
        return kept[::-1][: max(0, limit)]

    def write(
        self,
        entries: Sequence[Entry],
        delete: Sequence[tuple[str, str, str]],
        cursors: Sequence[CursorUpdate],
    ) -> None:
        for entry in entries:
            self.entries[(entry.sync_id, entry.object_type, entry.entry_id)] = entry
        for triple in delete:
            self.entries.pop(triple, None)
        for update in cursors:
            where = (update.sync_id, update.side, update.object_type, update.name)
            if update.value is None:
                self.cursors.pop(where, None)
            else:
                self.cursors[where] = update.value

    def of(self, sync_id: str, object_type: str | None = None) -> list[Entry]:
        return [
            e
            for (s, t, _), e in self.entries.items()
            if s == sync_id and (object_type is None or t == object_type)
        ]

    def acquire(
        self,
        sync_id: str,
        object_type: str,
        names: Iterable[str],
        owner: str,
        until: datetime,
        now: datetime,
    ) -> set[str]:
        granted = set()
        for name in names:
            held = self.leases.get((sync_id, object_type, name))
            if held is None or held[1] <= now or held[0] == owner:
                self.leases[(sync_id, object_type, name)] = (owner, until)
                granted.add(name)
        return granted

    def release(
        self, sync_id: str, owner: str, names: Iterable[str] | None, object_type: str | None
    ) -> None:
        wanted = None if names is None else set(names)
        for (s, t, name), (holder, _) in list(self.leases.items()):
            if (
                s == sync_id
                and holder == owner
                and (object_type is None or t == object_type)
                and (wanted is None or name in wanted)
            ):
                del self.leases[(s, t, name)]

    def delete_sync(self, sync_id: str) -> None:
        self.entries = {w: e for w, e in self.entries.items() if w[0] != sync_id}
        self.cursors = {w: c for w, c in self.cursors.items() if w[0] != sync_id}
        self.meta = {w: m for w, m in self.meta.items() if w[0] != sync_id}
        self.leases = {w: lease for w, lease in self.leases.items() if w[0] != sync_id}
        self.passes.pop(sync_id, None)


class IndexStoreMachine(RuleBasedStateMachine):
    """Drives a store and :class:`_Model` through the same random operations.

    Every read is compared with the model. Each machine uses two sync ids of its own,
    so one store can serve many machines; it deletes them when it ends.
    """

    def __init__(self, make_store: StoreFactory, *, close: bool = True) -> None:
        super().__init__()
        self.store = make_store()
        self.close_store = close
        number = next(_machines)
        self.syncs = (f"machine-{number}-a", f"machine-{number}-b")
        self.model = _Model()
        # The pass history keeps 2 passes per sync here, so that programs reach the bound.
        self.history = keeps_history(self.store)
        if self.history:
            self.keep_passes = self.store.keep_passes
            self.store.keep_passes = _MACHINE_KEEPS

    @override
    def teardown(self) -> None:
        """Remove this machine's syncs, and close the store if the machine opened it."""
        try:
            if self.history:
                self.store.keep_passes = self.keep_passes
            for sync_id in self.syncs:
                self.store.delete_sync(sync_id)
        finally:
            if self.close_store:
                self.store.close()

    # ---- writes -------------------------------------------------------------------
    @rule(data=st.data())
    def write(self, data: st.DataObject) -> None:
        """A write of a few entries, deletes and cursors."""
        entries = data.draw(st.lists(entry_strategy(self.syncs), max_size=5), "entries")
        delete = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(self.syncs),
                    st.sampled_from(_OBJECT_TYPES),
                    st.sampled_from(_ENTRY_IDS),
                ),
                max_size=3,
            ),
            "delete",
        )
        cursors = data.draw(st.lists(cursor_strategy(self.syncs), max_size=2), "cursors")
        self.store.write(entries, delete=delete, cursors=cursors)
        self.model.write(entries, delete, cursors)

    @rule(data=st.data())
    def replace_unchanged(self, data: st.DataObject) -> None:
        """A compare-and-set of a few entries as read, some written again (by another
        pass) in between: only those still stored as read are replaced."""
        sync_id = data.draw(st.sampled_from(self.syncs), "sync")
        object_type = data.draw(st.sampled_from(_OBJECT_TYPES), "object type")
        ids = data.draw(
            st.lists(st.sampled_from(_ENTRY_IDS), min_size=1, max_size=4, unique=True), "ids"
        )
        read = self.store.get(sync_id, object_type, ids)
        changes: list[tuple[Entry, Entry]] = []
        expected: dict[str, Entry | None] = {}
        for entry_id in ids:
            new = attrs.evolve(
                data.draw(entry_strategy(self.syncs), "new"),
                sync_id=sync_id,
                object_type=object_type,
                entry_id=entry_id,
            )
            stored = read.get(entry_id)
            before = stored if stored is not None else attrs.evolve(new, message="?")
            if stored is None:  # never stored: nothing is written
                expected[entry_id] = None
            elif data.draw(st.booleans(), "written since it was read"):
                since = attrs.evolve(stored, message=stored.message + "!", attempts=7)
                self.store.write([since])
                self.model.write([since], (), ())
                expected[entry_id] = since
            changes.append((before, new))
        lost = self.store.replace_unchanged(sync_id, object_type, changes)
        if set(lost) != set(expected):
            raise AssertionError(
                f"replace_unchanged answered {sorted(lost)} for the entries it did not "
                f"write; expected {sorted(expected)} (changed since they were read, or "
                f"not stored)"
            )
        for entry_id, want in expected.items():
            if want is None:
                if lost[entry_id] is not None:
                    raise AssertionError(
                        f"replace_unchanged answered {lost[entry_id]!r:.200} for no entry"
                    )
            else:
                assert_same_entry(want, lost[entry_id], "replace_unchanged's answer")
        self.model.write([new for _, new in changes if new.entry_id not in expected], (), ())
        self._compare_get(sync_id, object_type, ids)

    @rule(data=st.data())
    def write_synced(self, data: st.DataObject) -> None:
        """New copies of a few entries as read (synced pairs or not), some written again
        or deleted (by another pass) in between: what synced_copy makes of each is
        stored, as write_built would store it. Half the time it starts from a stored
        entry."""
        sync_id, object_type, ids = self._draw_ids(data, keyed=False)
        read = self.store.get(sync_id, object_type, ids)
        when = data.draw(st.sampled_from(_TIMES), "updated_at")
        size = data.draw(st.integers(1, 3), "history size")
        copies: list[tuple[Entry, dict[str, Any], dict[str, Any], HistoryItem | None]] = []
        for entry_id in ids:
            entry = read.get(entry_id)
            if entry is None:
                continue
            hub, app = data.draw(_copies(), "copies")
            item = data.draw(
                st.none()
                | st.builds(
                    HistoryItem,
                    st.just(when) | st.sampled_from(_TIMES),
                    st.sampled_from(["synced", "x"]),
                    st.text(max_size=4),
                ),
                "item",
            )
            copies.append((entry, hub, app, item))
            since = data.draw(st.sampled_from(["as read", "written", "deleted"]), "since")
            if since == "written":
                again = attrs.evolve(
                    data.draw(entry_strategy(self.syncs), "written since"),
                    sync_id=sync_id,
                    object_type=object_type,
                    entry_id=entry_id,
                )
                self.store.write([again])
                self.model.write([again], (), ())
            elif since == "deleted":
                self.store.write(delete=[(sync_id, object_type, entry_id)])
                self.model.write((), [(sync_id, object_type, entry_id)], ())
        cursors = data.draw(st.lists(cursor_strategy(self.syncs), max_size=1), "cursors")
        self.store.write_synced(copies, when, size, cursors=cursors)
        self.model.write([synced_copy(*copy, when, size) for copy in copies], (), cursors)
        self._compare_get(sync_id, object_type, sorted(set(ids)))
        for update in cursors:
            self._compare_cursor(update.sync_id, update.side, update.object_type, update.name)

    @rule(data=st.data())
    def write_matched(self, data: st.DataObject) -> None:
        """Pairs of a few entries viewed by by_keys_rows (bare or not), some written
        again or deleted (by another pass) in between: what matched_entry makes of each
        is stored, as write_built would store it. Half the time it starts from a stored
        entry holding keys (without one, by_keys_rows views nothing and the rule checks
        little)."""
        sync_id, object_type, ids = self._draw_ids(data, keyed=True)
        read = self.store.get(sync_id, object_type, ids)
        keys = sorted({k for entry in read.values() for k in entry.keys})
        views, _ = self.store.by_keys_rows(sync_id, object_type, keys, "t")
        viewed = {v.entry_id: v for held in views.values() for v in held}
        when = data.draw(st.sampled_from(_TIMES), "updated_at")
        size = data.draw(st.integers(1, 3), "history size")
        matched: list[Any] = []
        for entry_id in sorted(viewed):
            view = viewed[entry_id]
            stored = self.model.entries.get((sync_id, object_type, entry_id))
            if stored is not None:
                assert_same_entry(stored, view.entry(), "RowView.entry of by_keys_rows")
            hub, app = data.draw(_copies(), "copies")
            new_keys = data.draw(st.sampled_from([view.keys, view.keys | {"0:kit-more"}]), "keys")
            items = data.draw(
                st.lists(
                    st.builds(
                        HistoryItem,
                        st.just(when) | st.sampled_from(_TIMES),
                        st.sampled_from(["matched", "synced"]),
                        st.sampled_from(["by email", "x"]),
                    ),
                    max_size=2,
                ),
                "items",
            )
            by = data.draw(st.sampled_from([*sorted(new_keys), "other"]), "matched_by")
            matched.append((view, f"a-{entry_id}", new_keys, by, hub, app, tuple(items)))
            since = data.draw(st.sampled_from(["as read", "written", "deleted"]), "since")
            if since == "written":
                again = attrs.evolve(
                    data.draw(entry_strategy(self.syncs), "written since"),
                    sync_id=sync_id,
                    object_type=object_type,
                    entry_id=entry_id,
                )
                self.store.write([again])
                self.model.write([again], (), ())
            elif since == "deleted":
                self.store.write(delete=[(sync_id, object_type, entry_id)])
                self.model.write((), [(sync_id, object_type, entry_id)], ())
        cursors = data.draw(st.lists(cursor_strategy(self.syncs), max_size=1), "cursors")
        mark = data.draw(st.sampled_from([None, "m1"]), "mark")
        self.store.write_matched(
            matched, mark=mark, updated_at=when, history_size=size, cursors=cursors
        )
        done = [
            matched_entry(view.entry(), app_id, ks, by, hub, app, items, mark, when, size)
            for view, app_id, ks, by, hub, app, items in matched
        ]
        self.model.write(done, (), cursors)
        self._compare_get(sync_id, object_type, sorted(set(ids) | set(viewed)))
        for update in cursors:
            self._compare_cursor(update.sync_id, update.side, update.object_type, update.name)

    @rule(data=st.data())
    def write_with_a_bad_entry(self, data: st.DataObject) -> None:
        """A write holding one unstorable entry is refused whole."""
        entries = data.draw(st.lists(entry_strategy(self.syncs), max_size=4), "entries")
        bad = data.draw(_bad_entry_strategy(), "bad entry")
        entries.insert(data.draw(st.integers(0, len(entries)), "position"), bad)
        delete = [(e.sync_id, e.object_type, e.entry_id) for e in entries[:1] if e is not bad]
        cursors = data.draw(st.lists(cursor_strategy(self.syncs), max_size=2), "cursors")
        _expect_refusal(
            lambda: self.store.write(entries, delete=delete, cursors=cursors),
            "a write with an unstorable entry",
        )
        for entry in entries:
            if entry is not bad and isinstance(entry, Entry):
                self._compare_get(entry.sync_id, entry.object_type, [entry.entry_id])
        for update in cursors:
            self._compare_cursor(update.sync_id, update.side, update.object_type, update.name)

    @rule(data=st.data())
    def set_cursor(self, data: st.DataObject) -> None:
        """set_cursor alone."""
        update = data.draw(cursor_strategy(self.syncs))
        self.store.set_cursor(
            update.sync_id, update.side, update.object_type, update.value, update.name
        )
        self.model.write([], [], [update])

    @rule(data=st.data())
    def set_meta(self, data: st.DataObject) -> None:
        """set_meta, then get_meta."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        key = data.draw(st.sampled_from(["enabled", "run"]))
        value = data.draw(st.none() | st.text(max_size=4))
        self.store.set_meta(sync_id, key, value)
        if value is None:
            self.model.meta.pop((sync_id, key), None)
        else:
            self.model.meta[(sync_id, key)] = value
        for sync in self.syncs:
            got = self.store.get_meta(sync, key)
            if got != self.model.meta.get((sync, key)):
                raise AssertionError(f"get_meta({sync!r}, {key!r}) is {got!r}")

    # ---- the pass history -----------------------------------------------------------
    @rule(data=st.data())
    def pass_history(self, data: st.DataObject) -> None:
        """add_pass of a few records numbers each after the sync's last and keeps the
        newest 2; passes(limit=…, before=…) then reads the model's, newest first."""
        if not self.history:
            return
        sync_id = data.draw(st.sampled_from(self.syncs), "sync")
        for _ in range(data.draw(st.integers(0, 3), "added")):
            record = _pass_record(
                sync_id,
                data.draw(st.integers(0, 40), "n"),
                outcome=data.draw(st.sampled_from(["completed", "skipped", "stopped", "failed"])),
                detail=data.draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=12)),
                number=data.draw(st.integers(0, 5), "number"),
            )
            got = self.store.add_pass(record)
            want = self.model.add_pass(record, _MACHINE_KEEPS)
            if got != want:
                raise AssertionError(f"add_pass returned {got!r}, expected {want!r}")
        limit = data.draw(st.integers(0, 4), "limit")
        before = data.draw(st.none() | st.integers(0, 12), "before")
        for page_limit, page_before in ((10, None), (limit, before)):
            got_page = self.store.passes(sync_id, limit=page_limit, before=page_before)
            want_page = self.model.passes_of(sync_id, page_limit, page_before)
            if got_page != want_page:
                raise AssertionError(
                    f"passes({sync_id!r}, limit={page_limit}, before={page_before}) is "
                    f"{[r.number for r in got_page]}, expected {[r.number for r in want_page]}"
                )

    @rule(data=st.data())
    def delete_sync(self, data: st.DataObject) -> None:
        """delete_sync of one of the two syncs."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        self.store.delete_sync(sync_id)
        self.model.delete_sync(sync_id)

    # ---- leases -------------------------------------------------------------------
    @rule(data=st.data())
    def acquire(self, data: st.DataObject) -> None:
        """acquire grants what the model grants."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        object_type = data.draw(st.sampled_from(_OBJECT_TYPES))
        names = data.draw(st.lists(st.sampled_from(_LEASE_NAMES), max_size=3))
        owner = data.draw(st.sampled_from(_OWNERS))
        now = data.draw(st.sampled_from(_TIMES))
        until = now + data.draw(
            st.sampled_from([timedelta(0), timedelta(minutes=1), timedelta(minutes=2)])
        )
        got = self.store.acquire(sync_id, object_type, names, owner, until=until, now=now)
        want = self.model.acquire(sync_id, object_type, names, owner, until, now)
        if got != want:
            raise AssertionError(f"acquire({names}, {owner}) granted {got}, expected {want}")

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """release some names, or all, of an owner."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        owner = data.draw(st.sampled_from(_OWNERS))
        names = data.draw(st.none() | st.lists(st.sampled_from(_LEASE_NAMES), max_size=2))
        object_type = data.draw(st.none() | st.sampled_from(_OBJECT_TYPES))
        self.store.release(sync_id, owner, names, object_type)
        self.model.release(sync_id, owner, names, object_type)

    @rule(data=st.data())
    def list_leases(self, data: st.DataObject) -> None:
        """leases lists what the model holds of one object type (if the store has it)."""
        if type(self.store).leases is IndexStore.leases:
            return
        sync_id = data.draw(st.sampled_from(self.syncs))
        object_type = data.draw(st.sampled_from(_OBJECT_TYPES))
        got = self.store.leases(sync_id, object_type)
        want = {
            name: held
            for (s, t, name), held in self.model.leases.items()
            if s == sync_id and t == object_type
        }
        if got != want:
            raise AssertionError(f"leases({sync_id!r}, {object_type!r}) is {got}, expected {want}")

    # ---- reads --------------------------------------------------------------------
    def _draw_ids(self, data: st.DataObject, *, keyed: bool) -> tuple[str, str, list[str]]:
        """A sync, an object type and a few entry ids; half the time (when the model holds
        one) starting from a stored entry, with keys if ``keyed``: drawn from the constants
        alone, the ids mostly miss the few entries stored, and the rule checks little."""
        held = sorted(at for at, entry in self.model.entries.items() if entry.keys or not keyed)
        from_stored = bool(held) and data.draw(st.booleans(), "from a stored entry")
        if from_stored:
            sync_id, object_type, first = data.draw(st.sampled_from(held), "stored entry")
            more = data.draw(st.lists(st.sampled_from(_ENTRY_IDS), max_size=3), "ids")
            return sync_id, object_type, [first, *more]
        sync_id = data.draw(st.sampled_from(self.syncs), "sync")
        object_type = data.draw(st.sampled_from(_OBJECT_TYPES), "object type")
        return (
            sync_id,
            object_type,
            data.draw(st.lists(st.sampled_from(_ENTRY_IDS), max_size=4), "ids"),
        )

    def _compare_get(self, sync_id: str, object_type: str, entry_ids: list[str]) -> None:
        got = self.store.get(sync_id, object_type, entry_ids)
        want = {
            i: self.model.entries[(sync_id, object_type, i)]
            for i in entry_ids
            if (sync_id, object_type, i) in self.model.entries
        }
        if set(got) != set(want):
            raise AssertionError(f"get({entry_ids}) found {sorted(got)}, expected {sorted(want)}")
        for entry_id, entry in want.items():
            assert_same_entry(entry, got[entry_id], "get")

    def _compare_cursor(self, sync_id: str, side: Side, object_type: str, name: str) -> None:
        got = self.store.cursor(sync_id, side, object_type, name)
        want = self.model.cursors.get((sync_id, side, object_type, name))
        if got != want:
            raise AssertionError(
                f"cursor {(sync_id, side, object_type, name)} is {got!r}, expected {want!r}"
            )

    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        """get by entry ids."""
        ids = data.draw(st.lists(st.sampled_from([*_ENTRY_IDS, "missing"]), max_size=6))
        self._compare_get(
            data.draw(st.sampled_from(self.syncs)), data.draw(st.sampled_from(_OBJECT_TYPES)), ids
        )

    @rule(data=st.data())
    def by_record_ids(self, data: st.DataObject) -> None:
        """by_record_ids returns one of the entries holding each id."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        object_type = data.draw(st.sampled_from(_OBJECT_TYPES))
        side = data.draw(st.sampled_from(Side))
        ids = data.draw(st.lists(st.sampled_from(_RECORD_IDS), max_size=4))
        got = self.store.by_record_ids(sync_id, object_type, side, ids)
        holders = {
            i: [e for e in self.model.of(sync_id, object_type) if e.id_on(side) == i] for i in ids
        }
        want = {i for i, found in holders.items() if found}
        if set(got) != want:
            raise AssertionError(
                f"by_record_ids({side}, {ids}) found {sorted(got)}, expected {sorted(want)}"
            )
        for record_id, entry in got.items():
            if all(entry_difference(e, entry) for e in holders[record_id]):
                raise AssertionError(f"by_record_ids({record_id!r}) returned {entry!r:.300}")
        hot = self.store.record_keys(sync_id, object_type, side, ids)
        if set(hot) != want:
            raise AssertionError(
                f"record_keys({side}, {ids}) found {sorted(hot)}, expected {sorted(want)}"
            )
        for record_id, found in hot.items():
            if found not in [(e.id_on(side.other), e.keys) for e in holders[record_id]]:
                raise AssertionError(f"record_keys({record_id!r}) returned {found!r:.300}")

    @rule(data=st.data())
    def by_keys(self, data: st.DataObject) -> None:
        """by_keys lists the holders of each key in first-written order."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        object_type = data.draw(st.sampled_from(_OBJECT_TYPES))
        keys = data.draw(st.lists(st.sampled_from([*_KEYS, "9:none"]), max_size=4))
        self._check_by_keys(sync_id, object_type, keys)

    @rule(data=st.data())
    def the_same_record_in_both_syncs(self, data: st.DataObject) -> None:
        """An entry and its twin in the other sync (same type, id, record ids and keys):
        each sync's reads find its own alone."""
        first = data.draw(entry_strategy(self.syncs[:1]), "entry")
        keys = data.draw(st.frozensets(st.sampled_from(_KEYS), min_size=1, max_size=3), "keys")
        first = attrs.evolve(first, keys=keys)
        twin = data.draw(entry_strategy(self.syncs[1:]), "twin")
        twin = attrs.evolve(
            twin,
            object_type=first.object_type,
            entry_id=first.entry_id,
            hub_id=first.hub_id,
            app_id=first.app_id,
            keys=first.keys,
        )
        self.store.write([first, twin])
        self.model.write([first, twin], [], [])
        for sync_id in self.syncs:
            self._check_by_keys(sync_id, first.object_type, sorted(first.keys))
            got = self.store.get(sync_id, first.object_type, [first.entry_id])
            _assert_entries(
                [
                    e
                    for e in self.model.of(sync_id, first.object_type)
                    if e.entry_id == first.entry_id
                ],
                list(got.values()),
                f"get({first.entry_id!r}) of sync {sync_id!r}",
            )

    def _check_by_keys(self, sync_id: str, object_type: str, keys: list[str]) -> None:
        got = self.store.by_keys(sync_id, object_type, keys)
        want = {k: [e for e in self.model.of(sync_id, object_type) if k in e.keys] for k in keys}
        want = {k: found for k, found in want.items() if found}
        if set(got) != set(want):
            raise AssertionError(f"by_keys({keys}) found {sorted(got)}, expected {sorted(want)}")
        for key, entries in want.items():
            _assert_entries(entries, got[key], f"by_keys({key!r})")

    @rule(data=st.data())
    def entries(self, data: st.DataObject) -> None:
        """entries() with random filters lists what the model lists, in order."""
        sync_id = data.draw(st.sampled_from(self.syncs))
        object_type = data.draw(st.none() | st.sampled_from(_OBJECT_TYPES))
        states = data.draw(st.none() | st.frozensets(st.sampled_from(RecordState)))
        since = data.draw(st.none() | st.sampled_from(_TIMES))
        until = data.draw(st.none() | st.sampled_from(_TIMES))
        pending = data.draw(st.none() | st.booleans())
        want = [
            e
            for e in self.model.of(sync_id, object_type)
            if (states is None or e.state in states)
            and (since is None or e.updated_at >= since)
            and (until is None or e.updated_at < until)
            and (pending is None or (e.pending is not None) == pending)
        ]
        got = list(
            self.store.entries(
                sync_id, object_type, states=states, since=since, until=until, pending=pending
            )
        )
        _assert_entries(want, got, "entries()")

    @rule(data=st.data())
    def cursor(self, data: st.DataObject) -> None:
        """cursor reads what the model holds."""
        self._compare_cursor(
            data.draw(st.sampled_from(self.syncs)),
            data.draw(st.sampled_from(Side)),
            data.draw(st.sampled_from(_OBJECT_TYPES)),
            data.draw(st.sampled_from(["poll", "other"])),
        )

    @invariant()
    def counts_agree(self) -> None:
        """counts() of each sync agrees with the model."""
        for sync_id in self.syncs:
            got = _normal_counts(self.store.counts(sync_id))
            want = _counted(self.model.of(sync_id))
            if got != want:
                raise AssertionError(f"counts({sync_id!r}) is {got}, expected {want}")


def _machine_settings(max_examples: int | None, shrink: bool) -> settings:
    chosen: dict[str, Any] = {}
    if max_examples is not None:
        chosen["max_examples"] = max_examples
    if not shrink:
        chosen["phases"] = [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(
        deadline=None,
        stateful_step_count=25,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **chosen,
    )


def run_state_machine(
    make_store: StoreFactory,
    *,
    close: bool = True,
    max_examples: int | None = None,
    shrink: bool = True,
) -> None:
    """Run :class:`IndexStoreMachine` on stores from ``make_store``.

    Args:
        make_store: Returns the store of one example (a fresh one, or always the same).
        close: Close each example's store when the example ends.
        max_examples: How many random programs; ``None``: the active profile's.
        shrink: Shrink a failing program to a minimal one (slow, but clear).
    """
    machine = cast(  # hypothesis takes any factory; its annotation says "class"
        "type[RuleBasedStateMachine]", lambda: IndexStoreMachine(make_store, close=close)
    )
    run_state_machine_as_test(
        machine,
        settings=_machine_settings(max_examples, shrink),
    )


# =====================================================================================
# The two runners
# =====================================================================================
def _checks() -> Iterator[tuple[str, Callable[[IndexStore], None]]]:
    for check in _CHECKS:
        yield check.__name__, check


def check_index_store(factory: StoreFactory, *, max_examples: int = 50) -> None:
    """Run the whole conformance kit against stores made by ``factory``.

    Works without pytest. Each check gets a fresh store from ``factory`` (which must
    return a new, empty store on every call) and closes it afterwards; the state machine
    gets one per example.

    Args:
        factory: Returns a fresh, empty store.
        max_examples: How many random programs the state machine runs.

    Raises:
        AssertionError: naming the first check that failed, and why.

    Example::

        from syncengine.testing import check_index_store

        def test_my_store_conforms(tmp_path):
            paths = (tmp_path / f"{n}.db" for n in itertools.count())
            check_index_store(lambda: MyStore(next(paths)))

    .. versionadded:: 0.1
    """
    for name, check in _checks():
        store = factory()
        try:
            check(store)
        except AssertionError as error:
            raise AssertionError(f"{name} failed: {error}") from error
        except Exception as error:
            raise AssertionError(f"{name} failed with {type(error).__name__}: {error}") from error
        finally:
            store.close()
    try:
        run_state_machine(factory, max_examples=max_examples)
    except AssertionError as error:
        raise AssertionError(f"the index store state machine failed: {error}") from error


class IndexStoreTests:
    """The conformance kit as a pytest mixin.

    Subclass it in a test module and provide a ``store`` fixture returning a fresh,
    empty store (close it in the fixture's teardown if it needs closing). Each check is
    one ``test_…`` method; override one to adapt or skip it. Set
    ``state_machine_max_examples`` to change how many random programs
    :meth:`test_state_machine` runs (default: the active Hypothesis profile's).

    Example::

        class TestMyStore(IndexStoreTests):
            @pytest.fixture
            def store(self):
                with MyStore(":memory:") as store:
                    yield store

    .. versionadded:: 0.1
    """

    state_machine_max_examples: ClassVar[int | None] = None

    def test_write_then_get_round_trips_every_field(self, store: IndexStore) -> None:
        """Every field of an entry comes back exactly as written."""
        check_write_then_get_round_trips_every_field(store)

    def test_values_keep_their_python_types(self, store: IndexStore) -> None:
        """Each value type (int vs float vs bool, tuple, frozenset, offsets, NaN) survives."""
        check_values_keep_their_python_types(store)

    def test_text_that_is_not_valid_unicode_round_trips(self, store: IndexStore) -> None:
        """Values, messages and history holding lone surrogates come back as written."""
        check_text_that_is_not_valid_unicode_round_trips(store)

    def test_upsert_replaces_and_keeps_iteration_order(self, store: IndexStore) -> None:
        """A rewritten entry replaces the old one and keeps its place in iteration order."""
        check_upsert_replaces_and_keeps_iteration_order(store)

    def test_lookups_by_id_record_id_and_key_agree_with_writes(self, store: IndexStore) -> None:
        """get, by_record_ids and by_keys find what was written, in batches of any size."""
        check_lookups_by_id_record_id_and_key_agree_with_writes(store)

    def test_record_keys_agree_with_by_record_ids(self, store: IndexStore) -> None:
        """record_keys gives each found record's counterpart id and keys, as the entries hold."""
        check_record_keys_agree_with_by_record_ids(store)

    def test_changed_keys_and_record_ids_move_the_entry(self, store: IndexStore) -> None:
        """Keys and record ids an entry no longer holds no longer find it."""
        check_changed_keys_and_record_ids_move_the_entry(store)

    def test_write_indexed_writes_what_write_writes(self, store: IndexStore) -> None:
        """write_indexed stores what write would; kept values come back until rewritten."""
        check_write_indexed_writes_what_write_writes(store)

    def test_write_built_writes_what_write_writes(self, store: IndexStore) -> None:
        """write_built stores what write (or write_indexed) would, in one call."""
        check_write_built_writes_what_write_writes(store)

    def test_write_new_writes_what_write_built_writes(self, store: IndexStore) -> None:
        """write_new stores what write_built would, stored entries of the same ids too."""
        check_write_new_writes_what_write_built_writes(store)

    def test_write_indexed_new_writes_what_write_built_writes(self, store: IndexStore) -> None:
        """write_indexed_new stores indexed_entry's entries, as write_built would."""
        check_write_indexed_new_writes_what_write_built_writes(store)

    def test_write_created_writes_what_write_built_writes(self, store: IndexStore) -> None:
        """write_created stores what write_built would of the completed entries."""
        check_write_created_writes_what_write_built_writes(store)

    def test_write_announced_writes_what_write_new_writes(self, store: IndexStore) -> None:
        """write_announced and write_announced_created store announced_entry's entries,
        then created_entry's, as write_new and write_created would."""
        check_write_announced_writes_what_write_new_writes(store)

    def test_write_synced_writes_what_write_built_writes(self, store: IndexStore) -> None:
        """write_synced stores synced_copy's entries, as write_built would."""
        check_write_synced_writes_what_write_built_writes(store)

    def test_write_synced_rows_writes_what_write_synced_writes(self, store: IndexStore) -> None:
        """by_record_ids_rows views what by_record_ids finds; write_synced_rows stores
        synced_copy's entries of the views' entries, as write_synced would."""
        check_write_synced_rows_writes_what_write_synced_writes(store)

    def test_write_matched_writes_what_write_built_writes(self, store: IndexStore) -> None:
        """by_keys_rows views what by_keys_indexed finds; write_matched stores
        matched_entry's entries, as write_built would."""
        check_write_matched_writes_what_write_built_writes(store)

    def test_replace_unchanged_writes_only_unchanged_entries(self, store: IndexStore) -> None:
        """replace_unchanged writes only the entries stored as they were read."""
        check_replace_unchanged_writes_only_unchanged_entries(store)

    def test_delete_removes_the_entry_and_its_keys(self, store: IndexStore) -> None:
        """write(delete=…) removes the entry from every lookup, and nothing else."""
        check_delete_removes_the_entry_and_its_keys(store)

    def test_failed_write_stores_nothing(self, store: IndexStore) -> None:
        """A write that fails anywhere raises IndexStoreError and stores none of the call."""
        check_failed_write_stores_nothing(store)

    def test_cursors_are_independent_and_written_with_entries(self, store: IndexStore) -> None:
        """Cursors per (sync, side, object type, name) are independent; set with entries."""
        check_cursors_are_independent_and_written_with_entries(store)

    def test_meta_get_set_remove(self, store: IndexStore) -> None:
        """Settings are per sync: get, set, overwrite, remove."""
        check_meta_get_set_remove(store)

    def test_entries_filters_by_type_state_time_and_pending(self, store: IndexStore) -> None:
        """entries() filters by object type, states, [since, until) and pending, in order."""
        check_entries_filters_by_type_state_time_and_pending(store)

    def test_entries_pages_follow_entries(self, store: IndexStore) -> None:
        """entries_page() pages through what entries() yields, in order, each entry once."""
        check_entries_pages_follow_entries(store)

    def test_entries_stays_correct_while_writing(self, store: IndexStore) -> None:
        """Writes during iteration: lasting entries come once, none twice, all as written."""
        check_entries_stays_correct_while_writing(store)

    def test_counts_agree_with_entries(self, store: IndexStore) -> None:
        """counts() agrees with iterating, after inserts, state changes and deletes."""
        check_counts_agree_with_entries(store)

    def test_leases_grant_refuse_extend_expire_release(self, store: IndexStore) -> None:
        """Leases: granted when free, refused to others, extended, taken over, released."""
        check_leases_grant_refuse_extend_expire_release(store)

    def test_lease_holders_name_each_owner(self, store: IndexStore) -> None:
        """``holders`` names the owner of each leased name asked about (S8, S9)."""
        check_lease_holders_name_each_owner(store)

    def test_leases_list_one_object_type(self, store: IndexStore) -> None:
        """``leases`` lists one object type's leases with owners and expiries (S9)."""
        check_leases_list_one_object_type(store)

    def test_concurrent_acquires_grant_each_name_once(self, store: IndexStore) -> None:
        """Threads racing for the same names: every name goes to exactly one owner."""
        check_concurrent_acquires_grant_each_name_once(store)

    def test_inbox_keeps_events_in_order_once_until_removed(self, store: IndexStore) -> None:
        """The webhook inbox: in order, duplicates dropped, removed by seq, never reused."""
        check_inbox_keeps_events_in_order_once_until_removed(store)

    def test_pass_history_keeps_the_newest_passes_in_order(self, store: IndexStore) -> None:
        """The pass history: numbered per sync, newest first, paged, bounded, refused whole."""
        check_pass_history_keeps_the_newest_passes_in_order(store)

    def test_sync_ids_are_isolated(self, store: IndexStore) -> None:
        """Two syncs with the same ids, keys, cursors, settings, leases never mix (S1, S7)."""
        check_sync_ids_are_isolated(store)

    def test_state_machine(self, store: IndexStore) -> None:
        """Random programs of writes, deletes, cursors, leases agree with a simple model."""
        run_state_machine(lambda: store, close=False, max_examples=self.state_machine_max_examples)
