"""FaultyAdapter: wrap any adapter and make it misbehave on purpose.

Connector authors and our own tests use it to show that a sync converges and loses
nothing when an app fails: whole calls that raise, single items that fail, writes that
succeed remotely but whose confirmation is lost, and scans that stop early.

Faults are scheduled explicitly (``fail_next``, ``lose_confirmation``, ``fail_items``) so
a test reads as a story. ``random_faults`` adds seeded random failures for soak tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, final

import attrs
from typing_extensions import override

from syncengine.adapters.base import Adapter
from syncengine.errors import AdapterError
from syncengine.records import (
    AssociationChange,
    NewRecord,
    Page,
    Pipeline,
    Record,
    RecordUpdate,
    WriteResult,
)
from syncengine.schema import ObjectSchema
from syncengine.states import ErrorCategory

__all__ = ["Crash", "FaultyAdapter"]


class Crash(BaseException):
    """Raised by :class:`FaultyAdapter` to simulate the process dying mid-call.

    It derives from ``BaseException`` so that nothing in the engine catches it, exactly as
    nothing catches ``SIGKILL``.
    """


@attrs.define
class _Scheduled:
    error: BaseException
    times: int
    after: bool  # raise after performing the call (a lost confirmation)


_METHODS = frozenset({"scan", "fetch", "create", "update", "associate", "pipelines", "schema"})


@final
class FaultyAdapter(Adapter):
    """An adapter that delegates to ``inner`` and injects faults.

    Args:
        inner: The adapter to wrap.
        seed: Seed for :meth:`random_faults`.

    Example::

        app = FaultyAdapter(InMemoryAdapter([...]))
        app.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "503"))
        app.lose_confirmation("create")        # the create happens, the reply is lost
        app.fail_items("create", lambda item: "bad" in str(item),
                       ErrorCategory.VALIDATION, "email: invalid")

    .. versionadded:: 0.1
    """

    def __init__(self, inner: Adapter, *, seed: int | None = None) -> None:
        self.inner = inner
        self.name = f"faulty({inner.name})"
        self.max_batch_size = inner.max_batch_size
        self._scheduled: dict[str, list[_Scheduled]] = {}
        self._item_faults: list[tuple[str, Callable[[Any], bool], ErrorCategory, str]] = []
        self._random: random.Random = random.Random(seed)
        self._rate = 0.0
        self._random_methods: frozenset[str] = frozenset()
        self._page_limit: int | None = None
        self.injected = 0
        # Capabilities are those of the wrapped adapter.
        for flag in ("supports_idempotency_keys", "supports_pipelines", "supports_associations"):
            setattr(self, flag, getattr(inner, flag))

    # ---- scheduling ---------------------------------------------------------------
    def fail_next(self, method: str, error: BaseException | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` without doing anything.

        The default error is an ``AdapterError`` of category ``UNAVAILABLE``.
        """
        self._schedule(method, error, times, after=False)

    def lose_confirmation(
        self, method: str, error: BaseException | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``method`` happen, then raise ``error``.

        This is a write that succeeded remotely whose reply never arrived. Pass
        ``Crash()`` to simulate the process dying right after the remote write.
        """
        self._schedule(method, error, times, after=True)

    def fail_items(
        self,
        method: str,
        predicate: Callable[[Any], bool],
        category: ErrorCategory,
        message: str,
    ) -> None:
        """Fail the items of ``create``/``update``/``associate`` calls that match."""
        self._item_faults.append((method, predicate, category, message))

    def truncate_scans(self, pages: int | None) -> None:
        """End every scan after ``pages`` pages (``None`` to stop)."""
        self._page_limit = pages

    def random_faults(
        self, rate: float, methods: Iterable[str] = ("fetch", "create", "update")
    ) -> None:
        """Fail a share ``rate`` of calls of ``methods`` at random (seeded)."""
        self._rate = rate
        self._random_methods = frozenset(methods)

    def clear(self) -> None:
        """Remove every scheduled and random fault."""
        self._scheduled.clear()
        self._item_faults.clear()
        self._rate = 0.0
        self._page_limit = None

    def _schedule(self, method: str, error: BaseException | None, times: int, after: bool) -> None:
        if method not in _METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {sorted(_METHODS)}")
        error = error if error is not None else AdapterError(ErrorCategory.UNAVAILABLE, "injected")
        self._scheduled.setdefault(method, []).append(_Scheduled(error, times, after))

    def _take(self, method: str) -> _Scheduled | None:
        queue = self._scheduled.get(method)
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            self.injected += 1
            return fault
        if method in self._random_methods and self._random.random() < self._rate:
            self.injected += 1
            return _Scheduled(AdapterError(ErrorCategory.UNAVAILABLE, "random fault"), 1, False)
        return None

    def _call(self, method: str, call: Callable[[], Any]) -> Any:
        fault = self._take(method)
        if fault is not None and not fault.after:
            raise fault.error
        result = call()
        if fault is not None:
            raise fault.error
        return result

    def _items(
        self,
        method: str,
        items: Sequence[Any],
        call: Callable[[Sequence[Any]], Sequence[WriteResult]],
    ) -> Sequence[WriteResult]:
        failed: dict[int, WriteResult] = {}
        for i, item in enumerate(items):
            for m, predicate, category, message in self._item_faults:
                if m == method and predicate(item):
                    failed[i] = WriteResult.failed(category, message)
                    break
        passing = [item for i, item in enumerate(items) if i not in failed]
        results = iter(call(passing) if passing else [])
        return [failed[i] if i in failed else next(results) for i in range(len(items))]

    # ---- the adapter interface --------------------------------------------------------
    @override
    def schema(self, object_type: str) -> ObjectSchema:
        return self._call("schema", lambda: self.inner.schema(object_type))  # type: ignore[no-any-return]

    @override
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        pages: Iterator[Page] = iter(
            self._call("scan", lambda: self.inner.scan(object_type, since))
        )
        return self._limited(pages)

    def _limited(self, pages: Iterator[Page]) -> Iterator[Page]:
        for n, page in enumerate(pages):
            if self._page_limit is not None and n >= self._page_limit:
                raise AdapterError(ErrorCategory.UNAVAILABLE, "scan ended early (injected)")
            yield page

    @override
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        return self._call("fetch", lambda: self.inner.fetch(object_type, ids))  # type: ignore[no-any-return]

    @override
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        return self._call(  # type: ignore[no-any-return]
            "create",
            lambda: self._items("create", items, lambda xs: self.inner.create(object_type, xs)),
        )

    @override
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        return self._call(  # type: ignore[no-any-return]
            "update",
            lambda: self._items("update", items, lambda xs: self.inner.update(object_type, xs)),
        )

    @override
    def pipelines(self, object_type: str) -> Sequence[Pipeline]:
        return self._call("pipelines", lambda: self.inner.pipelines(object_type))  # type: ignore[no-any-return]

    @override
    def associate(self, pairs: Sequence[AssociationChange]) -> Sequence[WriteResult]:
        return self._call(  # type: ignore[no-any-return]
            "associate", lambda: self._items("associate", pairs, self.inner.associate)
        )

    @override
    def close(self) -> None:
        self.inner.close()
