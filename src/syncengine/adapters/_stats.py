"""AdapterStats: what an engine asked of an adapter, per method and object type.

A value, no I/O. :class:`~syncengine.adapters.InMemoryAdapter` keeps one up to date
(:meth:`~syncengine.adapters.InMemoryAdapter.stats`); any adapter may build one.
Rate-limited apps charge by the call and by the record, so tests and benchmarks use it
to pin how many of each a pass costs (rule S3: each side's records read once).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

__all__ = ["READ_METHODS", "AdapterStats"]

#: The methods whose ``records`` are records read from the app.
READ_METHODS: Final = ("scan_full", "scan_since", "fetch")

_Counts = Mapping[tuple[str, str], int]


def _frozen(counts: _Counts) -> _Counts:
    return MappingProxyType({key: n for key, n in counts.items() if n})


def _total(counts: _Counts, methods: Iterable[str] | None, object_type: str | None) -> int:
    wanted = None if methods is None else frozenset(methods)
    return sum(
        n
        for (method, of_type), n in counts.items()
        if (wanted is None or method in wanted) and (object_type is None or of_type == object_type)
    )


@attrs.frozen
class AdapterStats:
    """A snapshot of the calls an adapter answered and the records they carried.

    Every count is keyed by ``(method, object_type)``. Methods are the adapter's
    engine-facing ones, with scans split by kind: ``"schema"``, ``"scan_full"`` (``since``
    is ``None`` or resumes a full scan), ``"scan_since"`` (a change cursor), ``"fetch"``,
    ``"create"``, ``"update"``, ``"associate"`` (counted under each pair's ``from_type``),
    ``"lookup"`` (``lookup_idempotency_keys``) and ``"pipelines"``. Missing keys count 0;
    zero counts are dropped.

    Snapshots subtract: ``after - before`` is what happened in between, so a test can
    measure one pass without resetting anything::

        before = app.stats()
        engine.incremental_sync()
        used = app.stats() - before
        assert used.records_read("contacts") <= 2 * changed

    Args:
        calls: How many times each method was called. A scan is one call however many
            pages it yields (resuming a full scan from a page cursor is a new call).
        pages: How many pages each scan yielded (the requests an HTTP app would answer).
        records: For scans, the records the pages carried (deleted ids not included);
            for ``fetch``, the records returned; for ``create``, ``update``,
            ``associate`` and ``lookup``, the items passed in (failed and no-op ones
            included).

    .. versionadded:: 0.1
    """

    calls: _Counts = attrs.field(factory=dict, converter=_frozen)
    pages: _Counts = attrs.field(factory=dict, converter=_frozen)
    records: _Counts = attrs.field(factory=dict, converter=_frozen)

    def count_calls(
        self, method: str | Iterable[str] | None = None, object_type: str | None = None
    ) -> int:
        """Calls of ``method`` (one name, several, or all) for ``object_type`` (or all)."""
        return _total(self.calls, _methods(method), object_type)

    def count_pages(
        self, method: str | Iterable[str] | None = None, object_type: str | None = None
    ) -> int:
        """Scan pages yielded, like :meth:`count_calls`."""
        return _total(self.pages, _methods(method), object_type)

    def count_records(
        self, method: str | Iterable[str] | None = None, object_type: str | None = None
    ) -> int:
        """Records carried by ``method``'s calls, like :meth:`count_calls`."""
        return _total(self.records, _methods(method), object_type)

    def records_read(self, object_type: str | None = None) -> int:
        """Records the app returned to scans and fetches (:data:`READ_METHODS`)."""
        return _total(self.records, READ_METHODS, object_type)

    def reads(self, object_type: str | None = None) -> int:
        """Read requests: scan pages plus fetch calls (what an HTTP app is charged)."""
        return _total(self.pages, READ_METHODS, object_type) + _total(
            self.calls, ("fetch",), object_type
        )

    def as_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{object_type: {method: {"calls": …, "pages": …, "records": …}}}``, for JSON."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for name, counts in (("calls", self.calls), ("pages", self.pages)):
            for (method, object_type), n in counts.items():
                out.setdefault(object_type, {}).setdefault(method, {})[name] = n
        for (method, object_type), n in self.records.items():
            out.setdefault(object_type, {}).setdefault(method, {})["records"] = n
        return out

    def __sub__(self, other: AdapterStats) -> AdapterStats:
        """The counts added since the snapshot ``other`` was taken."""
        if not isinstance(other, AdapterStats):
            return NotImplemented

        def minus(mine: _Counts, theirs: _Counts) -> dict[tuple[str, str], int]:
            keys = set(mine) | set(theirs)
            return {key: mine.get(key, 0) - theirs.get(key, 0) for key in keys}

        return AdapterStats(
            minus(self.calls, other.calls),
            minus(self.pages, other.pages),
            minus(self.records, other.records),
        )


def _methods(method: str | Iterable[str] | None) -> Iterable[str] | None:
    return (method,) if isinstance(method, str) else method
