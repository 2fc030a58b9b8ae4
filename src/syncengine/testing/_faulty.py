"""FaultyAdapter: wrap any adapter and make it misbehave on purpose.

Connector authors and our own tests use it to show that a sync converges and loses
nothing when an app fails. It injects, on a schedule or at random (seeded):

* whole calls that raise :class:`~syncengine.AdapterError` before doing anything
  (:meth:`~FaultyAdapter.fail_next`, :meth:`~FaultyAdapter.rate_limit`): the app is
  down, throttled, or refuses the credentials;
* single items of a ``create``/``update``/``associate`` call that fail with any
  :class:`~syncengine.ErrorCategory` (:meth:`~FaultyAdapter.fail_items`);
* writes that succeed remotely but whose confirmation is lost
  (:meth:`~FaultyAdapter.lose_confirmation`), including the process dying right after
  the remote write (pass :class:`Crash`);
* scans that end early (:meth:`~FaultyAdapter.truncate_scans`);
* slow calls (:meth:`~FaultyAdapter.latency`, with an injectable ``sleep`` so tests
  need not really wait);
* duplicated and out-of-order change events (:meth:`~FaultyAdapter.scramble_events`),
  for webhook-driven passes;
* seeded random faults of all those kinds (:meth:`~FaultyAdapter.random_faults`).

Scheduled faults make a test read as a story; random ones suit soak tests and state
machines. :meth:`~FaultyAdapter.on_call` runs a hook around every call (to stop a child
process at an exact point, or to count), and :attr:`~FaultyAdapter.created` lists what
the engine created through the wrapper.

Example::

    from syncengine import AdapterError, ErrorCategory, SyncEngine
    from syncengine.testing import Crash, FaultyAdapter

    app = FaultyAdapter(MyAdapter(...), seed=7)
    engine = SyncEngine(hub, app, index, config)

    app.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "503"))
    app.lose_confirmation("create", Crash())     # the create happens, the process dies
    try:
        engine.initial_sync()
    except Crash:
        engine = SyncEngine(hub, app, index, config)   # a restarted process
    engine.initial_sync()                              # settles the lost create
    assert no_duplicates(app.inner)

It must not know anything about syncing: it only wraps an adapter.

.. versionadded:: 0.1
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, final

import attrs
from typing_extensions import override

from syncengine.adapters.base import Adapter
from syncengine.errors import AdapterError
from syncengine.records import (
    AssociationChange,
    ChangeEvent,
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
    nothing catches ``SIGKILL``. A test catches it and builds a new
    :class:`~syncengine.SyncEngine` on the same apps and index, like a restarted process.

    .. versionadded:: 0.1
    """


@attrs.define
class _Scheduled:
    error: BaseException
    times: int
    after: bool  # raise after performing the call (a lost confirmation)


@attrs.define
class _ItemFault:
    method: str
    predicate: Callable[[Any], bool]
    category: ErrorCategory
    message: str
    times: int | None  # None: for as long as the fault is in place


#: The adapter methods faults can be scheduled on.
_METHODS: Final = frozenset(
    {
        "scan",
        "fetch",
        "create",
        "update",
        "associate",
        "pipelines",
        "schema",
        "lookup_idempotency_keys",
    }
)
_WRITES: Final = frozenset({"create", "update", "associate"})
#: The kinds of fault :meth:`FaultyAdapter.random_faults` draws from.
_RANDOM_KINDS: Final = frozenset({"unavailable", "rate_limited", "lost_confirmation", "items"})
#: The categories a random per-item fault uses: what an adapter may fail an item for,
#: not ``deleted`` nor ``index`` (the engine's own: a deletion, an unreadable entry).
_ITEM_CATEGORIES: Final = tuple(
    c for c in ErrorCategory if c not in (ErrorCategory.DELETED, ErrorCategory.INDEX)
)

Hook = Callable[[str, int], None]
#: A hook registered with ``with_type=True``: also given the call's object type.
TypedHook = Callable[[str, int, str | None], None]


@final
class FaultyAdapter(Adapter):
    """An adapter that delegates to ``inner`` and injects faults.

    Every fault applies to calls the *engine* makes through this wrapper; change the app's
    data through ``inner`` (a test playing the app's users). Capabilities
    (``supports_idempotency_keys`` and the others) and ``max_batch_size`` are the inner
    adapter's.

    Args:
        inner: The adapter to wrap.
        seed: Seed of the random generator behind :meth:`random_faults` and
            :meth:`scramble_events`; the same seed and the same calls give the same faults.
        sleep: How :meth:`latency` waits; pass a fake (a clock's ``advance``) so tests
            never really sleep.

    Attributes:
        inner: The wrapped adapter.
        injected: How many faults were injected so far (every kind counts).
        calls: How many times each method was called through the wrapper, faults
            included (``calls["create"]``), and how many scan pages were delivered
            (``calls["page"]``).
        created: ``(object_type, record_id, properties)`` of each record the inner adapter
            created through the wrapper, including creates whose confirmation was lost;
            a create replayed with a known idempotency key is listed once.
        slept: Seconds of latency injected so far.

    Example::

        app = FaultyAdapter(InMemoryAdapter([...]), seed=1)
        app.fail_next("update", AdapterError(ErrorCategory.UNAVAILABLE, "503"))
        app.rate_limit("fetch", retry_after=2.0)      # one fetch: 429, retry in 2 s
        app.lose_confirmation("create")               # the create happens, the reply is lost
        app.fail_items("create", lambda item: "bad" in str(item.properties),
                       ErrorCategory.VALIDATION, "email: invalid")
        app.truncate_scans(2)                         # scans die after two pages
        app.latency(0.5, sleep=clock.advance)         # every call takes half a second
        app.random_faults(0.2)                        # and a fifth of calls fail at random
        events = app.scramble_events(events)          # duplicated and shuffled webhooks
        app.clear()                                   # behave again

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        inner: Adapter,
        *,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.name = f"faulty({inner.name})"
        self.max_batch_size = inner.max_batch_size
        self.injected = 0
        self.calls: Counter[str] = Counter()
        self.created: list[tuple[str, str, Mapping[str, Any]]] = []
        self.slept = 0.0
        self._scheduled: dict[str, list[_Scheduled]] = {}
        self._item_faults: list[_ItemFault] = []
        self._random = random.Random(seed)
        self._events_random = random.Random(seed)
        self._rate = 0.0
        self._random_methods: frozenset[str] = frozenset()
        self._random_kinds: frozenset[str] = frozenset()
        self._page_limit: int | None = None
        self._latency = 0.0
        self._latency_methods: frozenset[str] = _METHODS
        self._sleep = sleep
        self._hooks: list[tuple[Callable[..., None], bool, bool]] = []
        self._keys: set[tuple[str, str]] = set()
        self._made_keys: set[str] = set()
        # Capabilities are those of the wrapped adapter.
        for flag in (
            "supports_idempotency_keys",
            "supports_idempotency_lookup",
            "supports_pipelines",
            "supports_associations",
        ):
            setattr(self, flag, getattr(inner, flag))

    @override
    def __repr__(self) -> str:
        return f"<FaultyAdapter {self.inner!r} injected={self.injected}>"

    # ---- scheduling ---------------------------------------------------------------
    def fail_next(self, method: str, error: BaseException | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` without doing anything.

        Args:
            method: ``"scan"``, ``"fetch"``, ``"create"``, ``"update"``, ``"associate"``,
                ``"pipelines"`` or ``"schema"``.
            error: What to raise; an ``AdapterError`` of category ``UNAVAILABLE`` by
                default. Pass :class:`Crash` to simulate the process dying before the
                call.
            times: How many calls fail.

        Raises:
            ValueError: for an unknown method.
        """
        self._schedule(method, error, times, after=False)

    def rate_limit(self, method: str, retry_after: float | None = 1.0, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail as throttled (HTTP 429).

        The error is an ``AdapterError`` of category ``RATE_LIMITED`` carrying
        ``retry_after`` (seconds), as an app's ``Retry-After`` header would.
        """
        error = AdapterError(
            ErrorCategory.RATE_LIMITED, "rate limited (injected)", retry_after=retry_after
        )
        self._schedule(method, error, times, after=False)

    def lose_confirmation(
        self, method: str, error: BaseException | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``method`` happen, then raise ``error``.

        This is a write that succeeded remotely whose reply never arrived: a timeout after
        the request was sent. Pass ``Crash()`` to simulate the process dying right after
        the remote write, before the engine could record it.
        """
        self._schedule(method, error, times, after=True)

    def fail_items(
        self,
        method: str,
        predicate: Callable[[Any], bool],
        category: ErrorCategory,
        message: str,
        *,
        times: int | None = None,
    ) -> None:
        """Fail the items of ``create``/``update``/``associate`` calls that match.

        Matching items get ``WriteResult.failed(category, message)`` and never reach the
        inner adapter; the others are written as usual, and the results keep the items'
        order. A create retried with an idempotency key the inner adapter already made a
        record for is never failed: an idempotent app answers it with that record.

        Args:
            method: ``"create"``, ``"update"`` or ``"associate"``.
            predicate: Called with each item (a ``NewRecord``, ``RecordUpdate`` or
                ``AssociationChange``); ``True`` fails it.
            category: Any :class:`~syncengine.ErrorCategory`.
            message: The failure's message; name the field, as an app would.
            times: How many items fail before the fault goes away; ``None``: until
                :meth:`clear`.

        Raises:
            ValueError: for a method that has no items.
        """
        if method not in _WRITES:
            raise ValueError(f"fail_items works on {sorted(_WRITES)}, not {method!r}")
        self._item_faults.append(
            _ItemFault(method, predicate, ErrorCategory(category), message, times)
        )

    def truncate_scans(self, pages: int | None) -> None:
        """End every scan after ``pages`` pages (``None`` to stop).

        The scan raises ``AdapterError(UNAVAILABLE)`` where the next page would have come,
        like a connection that drops mid-scan; the pages before it were delivered.
        """
        self._page_limit = pages

    def latency(
        self,
        seconds: float,
        methods: Iterable[str] | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Make calls slow: wait ``seconds`` before each call, and before each scan page.

        Args:
            seconds: The delay; ``0`` removes it.
            methods: Which methods are slow; all by default.
            sleep: Replaces the ``sleep`` given to the constructor.
        """
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds!r}")
        self._latency = seconds
        self._latency_methods = _METHODS if methods is None else self._methods(methods)
        if sleep is not None:
            self._sleep = sleep

    def random_faults(
        self,
        rate: float,
        methods: Iterable[str] = ("fetch", "create", "update"),
        *,
        kinds: Iterable[str] = ("unavailable",),
    ) -> None:
        """Fail a share ``rate`` of the calls of ``methods`` at random (seeded).

        Args:
            rate: The probability that a call gets a fault, in ``[0, 1]``.
            methods: Which methods may fail.
            kinds: Which faults to draw from, each with equal chance:
                ``"unavailable"`` (the call raises ``UNAVAILABLE`` before doing anything),
                ``"rate_limited"`` (it raises ``RATE_LIMITED`` with a ``retry_after``),
                ``"lost_confirmation"`` (a write happens, then ``UNAVAILABLE`` is raised),
                ``"items"`` (one item of a write fails with a random non-transient or
                transient category). Kinds that do not apply to a method (a lost
                confirmation of a fetch) are not drawn for it.

        Raises:
            ValueError: for a rate outside ``[0, 1]``, an unknown method or kind.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate!r}")
        chosen = frozenset(kinds)
        unknown = chosen - _RANDOM_KINDS
        if unknown or not chosen:
            raise ValueError(
                f"unknown fault kinds {sorted(unknown)}; expected some of {sorted(_RANDOM_KINDS)}"
            )
        self._rate = rate
        self._random_methods = self._methods(methods)
        self._random_kinds = chosen

    def on_call(
        self, hook: Hook | TypedHook, *, after: bool = False, with_type: bool = False
    ) -> None:
        """Call ``hook(method, n)`` around every call made through the wrapper.

        ``n`` counts the calls of ``method`` so far, this one included (1 for the first).
        With ``after=True`` the hook runs once the inner call returned (and before any
        lost-confirmation fault is raised), which is the moment between a remote write
        and the engine's index commit. A hook may raise (``Crash``) or end the process.

        With ``with_type=True`` the hook is called ``hook(method, n, object_type)``: the
        object type of the call (the scanned type for ``"page"``, the ``from_type`` of
        the pairs for ``associate``, ``None`` for an ``associate`` of no pairs).

        Scans also call hooks once per page, with the method ``"page"``: before the page
        is handed to the engine, and (``after=True``) when the engine asks for the next
        one, that is once it has processed and committed this page.

        Example::

            # die after the third create call, as a SIGKILL would
            app.on_call(lambda m, n: os.kill(os.getpid(), signal.SIGKILL)
                        if m == "create" and n == 3 else None, after=True)

        .. versionchanged:: 0.3 ``with_type``.
        """
        self._hooks.append((hook, after, with_type))

    def _run_hooks(self, method: str, n: int, object_type: str | None, after: bool) -> None:
        for hook, when, typed in self._hooks:
            if when is after:
                if typed:
                    hook(method, n, object_type)
                else:
                    hook(method, n)

    def scramble_events(
        self, events: Sequence[ChangeEvent], *, duplicates: float = 0.5
    ) -> list[ChangeEvent]:
        """Return ``events`` duplicated and shuffled, as webhooks arrive in practice.

        Each event is repeated with probability ``duplicates`` (once more, sometimes twice),
        then the whole list is shuffled, with this adapter's seeded generator. Nothing is
        lost: every event of ``events`` is in the result at least once.
        """
        rng = self._events_random
        out: list[ChangeEvent] = []
        for event in events:
            out.append(event)
            while rng.random() < duplicates and len(out) < 3 * len(events):
                out.append(event)
                if rng.random() < 0.5:
                    break
        rng.shuffle(out)
        return out

    def clear(self) -> None:
        """Remove every scheduled, per-item, random, truncation and latency fault.

        Hooks stay, and so do the counters.
        """
        self._scheduled.clear()
        self._item_faults.clear()
        self._rate = 0.0
        self._random_methods = frozenset()
        self._page_limit = None
        self._latency = 0.0

    @property
    def faulty(self) -> bool:
        """Whether any fault is in place."""
        return bool(
            any(self._scheduled.values())
            or self._item_faults
            or self._rate
            or self._page_limit is not None
            or self._latency
        )

    # ---- internals ------------------------------------------------------------------
    @staticmethod
    def _methods(methods: Iterable[str]) -> frozenset[str]:
        chosen = frozenset([methods] if isinstance(methods, str) else methods)
        unknown = chosen - _METHODS
        if unknown:
            raise ValueError(
                f"unknown methods {sorted(unknown)}; expected some of {sorted(_METHODS)}"
            )
        return chosen

    def _schedule(self, method: str, error: BaseException | None, times: int, after: bool) -> None:
        self._methods([method])
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        error = error if error is not None else AdapterError(ErrorCategory.UNAVAILABLE, "injected")
        self._scheduled.setdefault(method, []).append(_Scheduled(error, times, after))

    def _take(self, method: str) -> tuple[_Scheduled | None, bool]:
        """The fault of this call (if any) and whether one random item must fail."""
        queue = self._scheduled.get(method)
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            self.injected += 1
            return fault, False
        if method not in self._random_methods or self._random.random() >= self._rate:
            return None, False
        kinds = sorted(
            k
            for k in self._random_kinds
            if method in _WRITES or k in ("unavailable", "rate_limited")
        )
        if not kinds:
            return None, False
        self.injected += 1
        kind = self._random.choice(kinds)
        if kind == "items":
            return None, True
        if kind == "rate_limited":
            retry = round(self._random.uniform(0.1, 5.0), 1)
            error = AdapterError(ErrorCategory.RATE_LIMITED, "random 429", retry_after=retry)
            return _Scheduled(error, 1, False), False
        error = AdapterError(ErrorCategory.UNAVAILABLE, f"random fault ({kind})")
        return _Scheduled(error, 1, kind == "lost_confirmation"), False

    def _wait(self, method: str) -> None:
        if self._latency and method in self._latency_methods:
            self.slept += self._latency
            self._sleep(self._latency)

    def _call(
        self, method: str, call: Callable[[bool], Any], object_type: str | None = None
    ) -> Any:
        self.calls[method] += 1
        n = self.calls[method]
        self._run_hooks(method, n, object_type, False)
        self._wait(method)
        fault, random_item = self._take(method)
        if fault is not None and not fault.after:
            raise fault.error
        result = call(random_item)
        self._run_hooks(method, n, object_type, True)
        if fault is not None:
            raise fault.error
        return result

    def _items(
        self,
        method: str,
        items: Sequence[Any],
        random_item: bool,
        call: Callable[[Sequence[Any]], Sequence[WriteResult]],
    ) -> list[WriteResult]:
        failed: dict[int, WriteResult] = {}
        for i, item in enumerate(items):
            if self._replayed(method, item):
                continue
            for fault in self._item_faults:
                if fault.method == method and fault.times != 0 and fault.predicate(item):
                    failed[i] = WriteResult.failed(fault.category, fault.message)
                    if fault.times is not None:
                        fault.times -= 1
                    self.injected += 1
                    break
        if random_item and items:
            i = self._random.randrange(len(items))
            if not self._replayed(method, items[i]):
                category = self._random.choice(_ITEM_CATEGORIES)
                message = f"random {category.value} (item)"
                failed.setdefault(i, WriteResult.failed(category, message))
        passing = [item for i, item in enumerate(items) if i not in failed]
        results = list(call(passing)) if passing else []
        it = iter(results)
        return [failed[i] if i in failed else next(it) for i in range(len(items))]

    def _replayed(self, method: str, item: Any) -> bool:
        """Whether ``item`` is a create the inner adapter already made with its key.

        An app that keeps idempotency keys answers such a retry with the record it made;
        per-item faults are not injected into it, so the wrapper never makes an app break
        that promise (whole-call faults still apply: the retry may not get through).
        """
        return (
            method == "create"
            and bool(item.idempotency_key)
            and item.idempotency_key in self._made_keys
        )

    def _note_created(
        self, object_type: str, items: Sequence[NewRecord], results: Sequence[WriteResult]
    ) -> None:
        for item, result in zip(items, results, strict=False):
            if not result.succeeded or result.record_id is None:
                continue
            if item.idempotency_key:
                self._made_keys.add(item.idempotency_key)
            marker = (object_type, result.record_id)
            if marker in self._keys:
                continue  # an idempotent replay of a create listed before
            self._keys.add(marker)
            self.created.append((object_type, result.record_id, dict(item.properties)))

    # ---- the adapter interface --------------------------------------------------------
    @override
    def schema(self, object_type: str) -> ObjectSchema:
        return self._call("schema", lambda _: self.inner.schema(object_type), object_type)  # type: ignore[no-any-return]

    @override
    def scan(self, object_type: str, since: str | None = None) -> Iterable[Page]:
        pages: Iterator[Page] = iter(
            self._call("scan", lambda _: self.inner.scan(object_type, since), object_type)
        )
        return self._limited(pages, object_type)

    def _limited(self, pages: Iterator[Page], object_type: str) -> Iterator[Page]:
        n = 0
        while True:
            if self._page_limit is not None and n >= self._page_limit:
                self.injected += 1
                raise AdapterError(ErrorCategory.UNAVAILABLE, "scan ended early (injected)")
            page = next(pages, None)
            if page is None:
                return
            if n:
                self._wait("scan")  # the first page waited with the call
            self.calls["page"] += 1
            number = self.calls["page"]
            self._run_hooks("page", number, object_type, False)
            yield page
            # The engine asks for the next page once it has processed (and committed) this one.
            self._run_hooks("page", number, object_type, True)
            n += 1

    @override
    def fetch(self, object_type: str, ids: Sequence[str]) -> Mapping[str, Record]:
        return self._call("fetch", lambda _: self.inner.fetch(object_type, ids), object_type)  # type: ignore[no-any-return]

    @override
    def create(self, object_type: str, items: Sequence[NewRecord]) -> Sequence[WriteResult]:
        def call(random_item: bool) -> list[WriteResult]:
            results = self._items(
                "create", items, random_item, lambda xs: self.inner.create(object_type, xs)
            )
            self._note_created(object_type, items, results)
            return results

        return self._call("create", call, object_type)  # type: ignore[no-any-return]

    @override
    def lookup_idempotency_keys(
        self, object_type: str, items: Sequence[NewRecord]
    ) -> Mapping[str, str] | None:
        return self._call(  # type: ignore[no-any-return]
            "lookup_idempotency_keys",
            lambda _: self.inner.lookup_idempotency_keys(object_type, items),
            object_type,
        )

    @override
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> Sequence[WriteResult]:
        return self._call(  # type: ignore[no-any-return]
            "update",
            lambda r: self._items(
                "update", items, r, lambda xs: self.inner.update(object_type, xs)
            ),
            object_type,
        )

    @override
    def pipelines(self, object_type: str) -> Sequence[Pipeline]:
        return self._call("pipelines", lambda _: self.inner.pipelines(object_type), object_type)  # type: ignore[no-any-return]

    @override
    def associate(self, pairs: Sequence[AssociationChange]) -> Sequence[WriteResult]:
        return self._call(  # type: ignore[no-any-return]
            "associate",
            lambda r: self._items("associate", pairs, r, self.inner.associate),
            pairs[0].from_type if pairs else None,
        )

    @override
    def include_associations(self, object_type: str, to_types: Sequence[str]) -> None:
        self.inner.include_associations(object_type, to_types)

    @override
    def include_properties(self, object_type: str, names: Sequence[str]) -> None:
        self.inner.include_properties(object_type, names)

    @override
    def close(self) -> None:
        self.inner.close()
