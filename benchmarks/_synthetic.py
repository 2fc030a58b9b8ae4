"""SyntheticAdapter: an app of N contacts generated from their index, for benchmarks.

Not a script: ``benchmarks/run.py`` imports it. (CI runs every ``benchmarks/*.py`` with
``--smoke``; run directly, this module does nothing and exits 0.)

Why: a benchmark of a million records must measure the engine, not a million Python
dicts held by a test double. This adapter holds no records. A record is *rendered* when a
scan or a fetch asks for it, from its person number and, per field, a one-byte *variant*
code:

==========  =========================================================================
variant     value of a field of person ``i``
==========  =========================================================================
``HUB``     the hub's spelling (lower-case e-mail ``ada.lovelace.7@example.com``)
``APP``     the app's spelling: the same e-mail with other case or surrounding spaces,
            and for odd ``i`` another job title (the field that differs)
``HUB_EDIT``  the hub spelling with ``" (hub edit)"`` appended (a change by a user)
``APP_EDIT``  the hub spelling with ``" (app edit)"`` appended
==========  =========================================================================

Records an app started with (its *native* records, slots ``0 … native-1``) use its own
variant for every field until something writes them. Writes are recorded compactly: a
written value that equals one of the variants of that person and field is stored as
its code (one byte per record per field, allocated on the first write of a field); any
other value goes into an overlay dict, and a cleared value has a code of its own. A
create appends a slot whose person is read from the e-mail's number (an overlay dict
holds the values when there is none). Every change appends the slot to a change log (4
bytes), so ``scan(since=…)`` yields the changed records without a full scan.

Memory at N = 1,000,000: at most 8 bytes per record per side once every field has been
written, 4 bytes per change, and nothing for records nobody wrote.

The adapter honours the :class:`~syncengine.adapters.Adapter` contract the engine relies
on: stable full scans with resumable page cursors (``"f:<slot>:<seq>"``, the last page
``"c:<seq>"`` where ``<seq>`` is the change number when the scan started), change scans
(``"c:<seq>"``) that yield every record changed after the cursor (possibly more than once
across pages), ``max_batch_size`` enforced on every call, one result per written item in
order, and no-op updates that are not changes.
"""

from __future__ import annotations

import pickle
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from typing_extensions import override

from syncengine import AdapterError, ErrorCategory, PropertySpec, PropertyType, Record
from syncengine.adapters import (
    Adapter,
    AdapterStats,
    NewRecord,
    Page,
    RecordUpdate,
    WriteResult,
)
from syncengine.schema import ObjectSchema

__all__ = [
    "APP",
    "APP_EDIT",
    "APP_NAMES",
    "HUB",
    "HUB_EDIT",
    "HUB_NAMES",
    "TYPE",
    "SyntheticAdapter",
    "scenario_changes",
    "values_of",
]

TYPE: Final = "contacts"
HUB_NAMES: Final = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "jobtitle",
    "city",
    "country",
)
APP_NAMES: Final = (
    "Email",
    "FirstName",
    "LastName",
    "Phone",
    "CompanyName",
    "Title",
    "City",
    "Country",
)
FIELDS: Final = len(HUB_NAMES)

# Variant codes (see the module docstring), and two codes that are not variants.
HUB: Final = 0
APP: Final = 1
HUB_EDIT: Final = 2
APP_EDIT: Final = 3
_VARIANTS: Final = (HUB, APP, HUB_EDIT, APP_EDIT)
_CLEARED: Final = 254  # the field is blank (absent from the record)
_OVERLAY: Final = 255  # the value is in the overlay dict
#: Half of a UTF-16 surrogate pair: text that is not valid Unicode (issue 17).
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_FIRST: Final = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Joan")
_LAST: Final = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Clarke")
_FIRST_LOWER: Final = tuple(name.lower() for name in _FIRST)
_LAST_LOWER: Final = tuple(name.lower() for name in _LAST)
_CITY: Final = ("London", "Copenhagen", "Aarhus", "Berlin", "New York", "Zürich", "Oslo", "Paris")
_COUNTRY: Final = ("United Kingdom", "Denmark", "Germany", "United States", "Switzerland", "Norway")
_TITLE: Final = ("Engineer", "CTO", "Head of Sales", "Account Manager", "Founder", "Analyst")
_DOMAIN: Final = ("example.com", "mail.example.org", "acme.io", "globex.dk", "initech.co.uk")
_DOMAIN_UPPER: Final = tuple(domain.upper() for domain in _DOMAIN)
_COMPANY: Final = tuple(f"{last} & {first} ApS" for last in _LAST for first in _FIRST)
_SUFFIX: Final = {HUB_EDIT: " (hub edit)", APP_EDIT: " (app edit)"}
_PERSON: Final = re.compile(r"[^@.]+\.[^@.]+\.([0-9]+)@")
_CURSOR: Final = re.compile(r"c:(?P<seq>[0-9]+)|f:(?P<slot>[0-9]+):(?P<fseq>[0-9]+)")


def _hub_values(i: int) -> list[str]:
    """The hub spelling of person ``i``'s eight fields, in field order."""
    return [
        f"{_FIRST_LOWER[i % 9]}.{_LAST_LOWER[i % 8]}.{i}@{_DOMAIN[i % 5]}",
        _FIRST[i % 9],
        _LAST[i % 8],
        f"+45 {20000000 + i * 7 % 79999999}",
        _COMPANY[(i >> 3) % 72],
        _TITLE[i % 6],
        _CITY[i % 8],
        _COUNTRY[i % 6],
    ]


def _app_values(i: int) -> list[str]:
    """The app spelling: the e-mail spelled differently, another title for odd ``i``."""
    values = _hub_values(i)
    kind = i & 3
    if kind == 0:
        values[0] = f"{_FIRST_LOWER[i % 9]}.{_LAST_LOWER[i % 8]}.{i}@{_DOMAIN_UPPER[i % 5]}"
    elif kind == 1:
        values[0] = f"{_FIRST[i % 9]}.{_LAST[i % 8]}.{i}@{_DOMAIN[i % 5]}"
    elif kind == 2:
        values[0] = f"  {values[0]} "
    else:
        values[0] = values[0].upper()
    if i & 1:
        values[5] = _TITLE[(i + 1) % 6]
    return values


def _hub_properties(i: int) -> dict[str, Any]:
    """``dict(zip(HUB_NAMES, _hub_values(i)))``, built directly (the hot path of scans)."""
    first = i % 9
    last = i & 7
    return {
        "email": f"{_FIRST_LOWER[first]}.{_LAST_LOWER[last]}.{i}@{_DOMAIN[i % 5]}",
        "firstname": _FIRST[first],
        "lastname": _LAST[last],
        "phone": f"+45 {20000000 + i * 7 % 79999999}",
        "company": _COMPANY[(i >> 3) % 72],
        "jobtitle": _TITLE[i % 6],
        "city": _CITY[last],
        "country": _COUNTRY[i % 6],
    }


def _app_properties(i: int) -> dict[str, Any]:
    """``dict(zip(APP_NAMES, _app_values(i)))``, built directly."""
    first = i % 9
    last = i & 7
    kind = i & 3
    if kind == 0:
        email = f"{_FIRST_LOWER[first]}.{_LAST_LOWER[last]}.{i}@{_DOMAIN_UPPER[i % 5]}"
    elif kind == 1:
        email = f"{_FIRST[first]}.{_LAST[last]}.{i}@{_DOMAIN[i % 5]}"
    elif kind == 2:
        email = f"  {_FIRST_LOWER[first]}.{_LAST_LOWER[last]}.{i}@{_DOMAIN[i % 5]} "
    else:
        email = f"{_FIRST_LOWER[first]}.{_LAST_LOWER[last]}.{i}@{_DOMAIN[i % 5]}".upper()
    return {
        "Email": email,
        "FirstName": _FIRST[first],
        "LastName": _LAST[last],
        "Phone": f"+45 {20000000 + i * 7 % 79999999}",
        "CompanyName": _COMPANY[(i >> 3) % 72],
        "Title": _TITLE[(i + (i & 1)) % 6],
        "City": _CITY[last],
        "Country": _COUNTRY[i % 6],
    }


def values_of(person: int, variant: int) -> list[str]:
    """Person ``person``'s eight field values in ``variant`` (see the module docstring)."""
    if variant == HUB:
        return _hub_values(person)
    if variant == APP:
        return _app_values(person)
    suffix = _SUFFIX[variant]
    return [value + suffix for value in _hub_values(person)]


def _schema(names: Sequence[str]) -> ObjectSchema:
    return ObjectSchema(TYPE, [PropertySpec(name, PropertyType.STRING) for name in names])


class SyntheticAdapter(Adapter):
    """A lazily generated app of contacts; see the module docstring.

    Args:
        variant: The app's own spelling: :data:`HUB` for the hub, :data:`APP` for the app.
        native: How many records the app starts with (persons ``0 … native-1``).
        name: A short name.
        id_prefix: Put in front of record ids (the id of slot ``s`` is ``f"{prefix}{s}"``).
        page_size: Records per page of a scan.
        max_batch_size: The most items one fetch/create/update call accepts.
    """

    def __init__(
        self,
        variant: int,
        native: int,
        *,
        name: str,
        id_prefix: str,
        page_size: int = 1000,
        max_batch_size: int = 100,
    ) -> None:
        self.name = name
        self.max_batch_size = max_batch_size
        self.page_size = page_size
        self._variant = variant
        self._names = HUB_NAMES if variant == HUB else APP_NAMES
        self._field_of = {name: f for f, name in enumerate(self._names)}
        self._schema = _schema(self._names)
        self._prefix = id_prefix
        self._native = native
        self._slots = native  # native records plus created ones
        self._person = array("I")  # person of each created slot
        # Per field: the variant code of every slot, or None while no slot deviates.
        self._codes: list[bytearray | None] = [None] * FIELDS
        # 1 for slots whose codes (or overlay) must be read; None while there are none.
        self._dirty: bytearray | None = None
        self._overlay: dict[int, dict[int, str]] = {}
        self._log = array("I")  # the slot of change number k + 1 at index k
        #: Calls and items, for the benchmark's sanity checks.
        self.calls: dict[str, int] = {}
        # Scan pages, and records read (scans, fetches) or written, per method: stats().
        self._pages: dict[str, int] = {}
        self._records: dict[str, int] = {}

    # ---- state -------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the adapter's state (its writes, not its records) to ``path``."""
        state = (
            self._native,
            self._slots,
            self._person,
            self._codes,
            self._dirty,
            self._overlay,
            self._log,
        )
        with open(path, "wb") as out:
            pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, path: str) -> None:
        """Restore a state written by :meth:`save` (from an adapter built alike)."""
        with open(path, "rb") as source:
            state = pickle.load(source)  # our own file, written by save()
        (
            self._native,
            self._slots,
            self._person,
            self._codes,
            self._dirty,
            self._overlay,
            self._log,
        ) = state

    @property
    def size(self) -> int:
        """How many records the app holds."""
        return self._slots

    @property
    def changes(self) -> int:
        """How many changes the app has seen (its change sequence)."""
        return len(self._log)

    def stats(self) -> AdapterStats:
        """Calls, scan pages and records per method, as ``InMemoryAdapter.stats()``."""
        return AdapterStats(
            {(method, TYPE): n for method, n in self.calls.items()},
            {(method, TYPE): n for method, n in self._pages.items()},
            {(method, TYPE): n for method, n in self._records.items()},
        )

    # ---- rendering ----------------------------------------------------------------
    def _count(self, what: str, n: int = 1) -> None:
        self.calls[what] = self.calls.get(what, 0) + n

    def _tally(self, what: str, records: int, *, page: bool = False) -> None:
        self._records[what] = self._records.get(what, 0) + records
        if page:
            self._pages[what] = self._pages.get(what, 0) + 1

    def _person_of(self, slot: int) -> int:
        return slot if slot < self._native else self._person[slot - self._native]

    def _values(self, slot: int) -> dict[str, Any]:
        """The properties of the record in ``slot``."""
        dirty = self._dirty
        if slot < self._native and (dirty is None or not dirty[slot]):
            return _hub_properties(slot) if self._variant == HUB else _app_properties(slot)
        person = self._person_of(slot)
        native = slot < self._native
        props: dict[str, Any] = {}
        if native:  # the native rendering, then the fields that differ from it
            props = _hub_properties(slot) if self._variant == HUB else _app_properties(slot)
        overlay = self._overlay.get(slot)
        hub: list[str] | None = None
        app: list[str] | None = None
        for f, name in enumerate(self._names):
            codes = self._codes[f]
            if codes is None:
                continue
            code = codes[slot]
            if native and code == self._variant:
                continue
            if code == _CLEARED or (code == _OVERLAY and (overlay is None or f not in overlay)):
                props.pop(name, None)
            elif code == _OVERLAY:
                assert overlay is not None
                props[name] = overlay[f]
            elif code == APP:
                app = app or _app_values(person)
                props[name] = app[f]
            else:
                hub = hub or _hub_values(person)
                props[name] = hub[f] + _SUFFIX.get(code, "")
        return props

    def _record(self, slot: int) -> Record:
        return Record(f"{self._prefix}{slot}", self._values(slot))

    def _slot(self, record_id: str) -> int | None:
        prefix = self._prefix
        if not record_id.startswith(prefix):
            return None
        digits = record_id[len(prefix) :]
        if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
            return None
        slot = int(digits)
        return slot if slot < self._slots else None

    # ---- writing ------------------------------------------------------------------
    def _codes_of(self, f: int) -> bytearray:
        codes = self._codes[f]
        if codes is None:
            codes = self._codes[f] = bytearray([self._variant]) * self._native
            codes.extend(b"\xff" * (self._slots - self._native))
        return codes

    def _grow(self, person: int) -> int:
        """Append a slot for a created record of ``person``; return it."""
        slot = self._slots
        self._slots += 1
        self._person.append(person)
        for f, codes in enumerate(self._codes):
            if codes is None:
                self._codes_of(f)  # allocated with the new slot
            else:
                codes.append(_OVERLAY)
        if self._dirty is None:
            self._mark_dirty(slot)
        else:
            self._dirty.append(1)
        return slot

    def _mark_dirty(self, slot: int) -> None:
        if self._dirty is None:
            self._dirty = bytearray(self._native)
            self._dirty.extend(b"\x01" * (self._slots - self._native))
        self._dirty[slot] = 1

    def _set(self, slot: int, person: int, properties: Mapping[str, Any]) -> bool:
        """Store ``properties`` into ``slot``; return whether anything changed."""
        changed = False
        hub = _hub_values(person)
        app: list[str] | None = None
        for name, value in properties.items():
            f = self._field_of[name]
            codes = self._codes_of(f)
            if value is None or value == "":
                code = _CLEARED
            elif value == hub[f]:
                code = HUB
            elif value == (app := app or _app_values(person))[f]:
                code = APP
            elif value == hub[f] + _SUFFIX[HUB_EDIT]:
                code = HUB_EDIT
            elif value == hub[f] + _SUFFIX[APP_EDIT]:
                code = APP_EDIT
            else:
                code = _OVERLAY
            overlay = self._overlay.get(slot)
            if code == _OVERLAY:
                if codes[slot] == _OVERLAY and overlay is not None and overlay.get(f) == value:
                    continue
                self._overlay.setdefault(slot, {})[f] = value
            elif codes[slot] == code:
                continue
            elif overlay is not None:
                overlay.pop(f, None)
                if not overlay:
                    del self._overlay[slot]
            codes[slot] = code
            changed = True
        if changed:
            self._mark_dirty(slot)
        return changed

    def _problem(self, properties: Mapping[str, Any]) -> WriteResult | None:
        for name, value in properties.items():
            if name not in self._field_of:
                return WriteResult.failed(
                    ErrorCategory.VALIDATION, f"unknown property {name!r} of {TYPE!r}"
                )
            if value is not None and type(value) is not str:
                return WriteResult.failed(
                    ErrorCategory.VALIDATION, f"property {name!r} expects a str, got {value!r}"
                )
            if value is not None and not value.isascii() and _SURROGATE.search(value):
                return WriteResult.failed(
                    ErrorCategory.VALIDATION,
                    f"property {name!r} holds a lone surrogate (not valid Unicode): {value!r}",
                )
        return None

    def _check(self, object_type: str, what: str, size: int) -> None:
        if object_type != TYPE:
            raise AdapterError(ErrorCategory.NOT_FOUND, f"{self.name}: no type {object_type!r}")
        if size > self.max_batch_size:
            raise AdapterError(
                ErrorCategory.VALIDATION,
                f"{self.name}: {what} of {size} items; at most {self.max_batch_size} per call",
            )
        self._count(what)

    def edit(self, person_slot: int, field: int, variant: int) -> None:
        """Play a user: set one field of the record in ``person_slot`` to a variant."""
        person = self._person_of(person_slot)
        value = values_of(person, variant)[field]
        if self._set(person_slot, person, {self._names[field]: value}):
            self._log.append(person_slot)

    # ---- the Adapter interface ------------------------------------------------------
    @override
    def schema(self, object_type: str) -> ObjectSchema:
        if object_type != TYPE:
            raise AdapterError(ErrorCategory.NOT_FOUND, f"{self.name}: no type {object_type!r}")
        return self._schema

    @override
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        if object_type != TYPE:
            raise AdapterError(ErrorCategory.NOT_FOUND, f"{self.name}: no type {object_type!r}")
        if since is None:
            self._count("scan_full")
            return self._full_scan(0, len(self._log))
        match = _CURSOR.fullmatch(since)
        if match is None:
            raise ValueError(f"{self.name}: malformed cursor {since!r}")
        if match["seq"] is not None:
            seq = int(match["seq"])
            if seq > len(self._log):
                raise ValueError(f"{self.name}: unknown cursor {since!r}")
            self._count("scan_since")
            return self._change_scan(seq)
        slot, seq = int(match["slot"]), int(match["fseq"])
        if slot > self._slots or seq > len(self._log):
            raise ValueError(f"{self.name}: unknown cursor {since!r}")
        self._count("scan_full")
        return self._full_scan(slot, seq)

    def _full_scan(self, slot: int, start_seq: int) -> Iterator[Page]:
        # Slots never move and are never removed, so every record is yielded once; the
        # last cursor is the change number of the scan's start: nothing made during the
        # scan is lost to the next change scan.
        while True:
            end = min(slot + self.page_size, self._slots)
            records = [self._record(s) for s in range(slot, end)]
            self._tally("scan_full", len(records), page=True)
            slot = end
            if slot >= self._slots:
                yield Page(records, f"c:{start_seq}")
                return
            yield Page(records, f"f:{slot}:{start_seq}")

    def _change_scan(self, seq: int) -> Iterator[Page]:
        end = len(self._log)
        while True:
            stop = min(seq + self.page_size, end)
            slots = dict.fromkeys(self._log[seq:stop])
            records = [self._record(s) for s in slots]
            self._tally("scan_since", len(records), page=True)
            seq = stop
            yield Page(records, f"c:{seq}")
            if seq >= end:
                return

    @override
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        self._check(object_type, "fetch", len(ids))
        found: dict[str, Record] = {}
        for record_id in ids:
            slot = self._slot(record_id)
            if slot is not None:
                found[record_id] = Record(record_id, self._values(slot))
        self._tally("fetch", len(found))
        return found

    @override
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        self._check(object_type, "create", len(items))
        self._tally("create", len(items))
        results: list[WriteResult] = []
        for item in items:
            failure = self._problem(item.properties)
            if failure is not None:
                results.append(failure)
                continue
            properties = item.properties
            email = properties.get(self._names[0])
            found = _PERSON.match(email.strip().casefold()) if isinstance(email, str) else None
            person = int(found[1]) if found else 0
            slot = self._grow(person)
            if found and [*map(properties.get, self._names)] == _hub_values(person):
                # The hub's rendering of the person, field for field (a one-sided initial
                # sync creates nothing else): what _set would store, without comparing.
                for f in range(FIELDS):
                    self._codes_of(f)[slot] = HUB
            elif found:
                self._set(slot, person, properties)
            else:
                self._overlay[slot] = {
                    self._field_of[k]: v for k, v in item.properties.items() if v
                }
            self._log.append(slot)
            results.append(WriteResult.ok(f"{self._prefix}{slot}"))
        return results

    @override
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        self._check(object_type, "update", len(items))
        self._tally("update", len(items))
        results: list[WriteResult] = []
        for item in items:
            slot = self._slot(item.id)
            if slot is None:
                results.append(WriteResult.failed(ErrorCategory.NOT_FOUND, f"no {item.id!r}"))
                continue
            failure = self._problem(item.properties)
            if failure is not None:
                results.append(failure)
                continue
            if self._set(slot, self._person_of(slot), item.properties):
                self._log.append(slot)
            results.append(WriteResult.ok(item.id))
        return results


if __name__ == "__main__":  # CI runs every benchmarks/*.py with --smoke: nothing to do
    pass


def scenario_changes(
    scenario: str, hub: SyntheticAdapter, app: SyntheticAdapter, n: int
) -> tuple[range, range]:
    """Make the changes of an incremental benchmark scenario (``run.py``, ``floor.py``)
    to a state of ``n`` people; return the person slots changed in the hub and in the app.

    ``incremental_1pct``: 1 % of the hub records change their city, 1 % other app records
    their title. ``conflict_1pct``: 1 % of the records change their city on both sides,
    to different values. ``incremental_noop``: nothing. Every 100th record: spread over
    the whole index.
    """
    city, title = HUB_NAMES.index("city"), HUB_NAMES.index("jobtitle")
    if scenario == "incremental_1pct":  # different records on each side
        hub_changes, app_changes = range(0, n, 100), range(50, n, 100)
        for i in hub_changes:
            hub.edit(i, city, HUB_EDIT)
        for i in app_changes:
            app.edit(i, title, APP_EDIT)
        return hub_changes, app_changes
    if scenario == "conflict_1pct":  # the same records and field on both sides
        changes = range(0, n, 100)
        for i in changes:
            hub.edit(i, city, HUB_EDIT)
            app.edit(i, city, APP_EDIT)
        return changes, changes
    if scenario == "incremental_noop":
        return range(0), range(0)
    raise ValueError(f"not an incremental scenario: {scenario!r}")
