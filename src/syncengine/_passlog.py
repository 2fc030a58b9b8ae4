"""Recording each pass: its record in the pass history and its log lines.

Loggers (all under ``syncengine``): ``syncengine.engine`` logs each pass's start and end
(INFO; the end at WARNING when the pass was stopped or failed) and problems keeping the
pass history (WARNING); ``syncengine.engine.records`` logs each record that fails
(WARNING: object type, record ids, category, message); ``syncengine.engine.batches``
logs each batch a pass processes (DEBUG). No line holds a record's values or a
credential: messages are cut to one line, credentials hidden, and the values the index
holds for the record, e-mail addresses and long token-like words masked.

The engine's public pass methods (``initial_sync``, ``incremental_sync``,
``handle_events``, ``drain_inbox``, ``reconcile``, ``restore``) are wrapped with
:func:`recorded`. The outermost call on a thread records one
:class:`~syncengine.history.PassRecord` when it returns or raises; calls it makes itself
(an incremental pass that resumes the initial sync, the dry pass a guarded pass plans
first) are part of it. ``SyncEngine._begin`` hands the report it starts to :func:`began`,
so a pass that raises is recorded with what it had done by then.

Nothing here may break a pass: a store that cannot keep the record gets a WARNING (once
per engine for a store without a pass history), and the pass's own result or exception
goes on unchanged; a record the store failed to keep is also named in the returned
report's ``errors``, for programs that read reports and configure no logging.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import attrs

from syncengine._redact import redact_text
from syncengine.entry import Entry
from syncengine.errors import SafetyStop, SyncDisabledError
from syncengine.history import PassRecord, one_line
from syncengine.index.base import IndexStore, keeps_history
from syncengine.records import Side
from syncengine.report import SyncReport
from syncengine.states import ErrorCategory

__all__ = ["batch", "began", "describe_error", "record_failed", "recorded"]

# A library's loggers print nothing until the application configures logging (Python's
# logging guide, "Configuring Logging for a Library"): without this, every failed record
# would reach standard error through logging's last-resort handler, in the middle of the
# command's own output.
logging.getLogger("syncengine").addHandler(logging.NullHandler())

logger = logging.getLogger("syncengine.engine")
records_logger = logging.getLogger("syncengine.engine.records")
batches_logger = logging.getLogger("syncengine.engine.batches")

_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[A-Za-z]{2,}")
_TOKEN = re.compile(r"\b[A-Za-z0-9_\-+/=.]{32,}")
#: What replaces a masked value in a logged message.
MASKED = "[value]"
#: The shortest text value of a record masked in a message (shorter ones are too common),
#: and the shortest number (as written).
_SHORTEST = 3
_SHORTEST_NUMBER = 5


class SyncEngine(Protocol):
    """What this module reads of a :class:`~syncengine.SyncEngine` (not imported: the
    engine imports this module)."""

    clock: Callable[[], datetime]

    @property
    def sync_id(self) -> str: ...

    @property
    def index(self) -> IndexStore: ...


_P = ParamSpec("_P")
_E = TypeVar("_E", bound=SyncEngine)


@attrs.define
class _Frame:
    """The pass running on this thread for one engine."""

    kind: str
    started_at: datetime
    #: A pass that may find nothing to do every few seconds (an inbox drain, a webhook
    #: batch): when it did nothing, it is neither recorded nor logged above DEBUG.
    frequent: bool = False
    report: SyncReport | None = None


class _Running(threading.local):
    def __init__(self) -> None:
        self.frames: dict[int, _Frame] = {}


_running = _Running()
#: Engines that were told once that their store keeps no pass history.
_warned: weakref.WeakSet[Any] = weakref.WeakSet()


def describe_error(error: BaseException) -> str:
    """An exception as one line for logs and the pass history, credentials hidden."""
    text = str(error)
    return one_line(
        redact_text(f"{type(error).__name__}: {text}" if text else type(error).__name__)
    )


def began(engine: SyncEngine, report: SyncReport) -> None:
    """``SyncEngine._begin`` started ``report`` (a real pass, not a preflight)."""
    frame = _running.frames.get(id(engine))
    if frame is not None and frame.report is None:
        frame.report = report
    logger.log(
        logging.DEBUG if frame is not None and frame.frequent else logging.INFO,
        "pass started: sync=%s kind=%s%s",
        report.sync_id,
        report.kind,
        _dry(report.dry_run),
    )


def _dry(dry_run: bool) -> str:
    return " dry_run" if dry_run else ""


def recorded(
    kind: str, *, frequent: bool = False
) -> Callable[
    [Callable[Concatenate[_E, _P], SyncReport]], Callable[Concatenate[_E, _P], SyncReport]
]:
    """Wrap a public pass method of :class:`~syncengine.SyncEngine` (``kind`` names its
    passes when no report was started: a pass refused before it began).

    ``frequent``: a method called every few seconds (``drain_inbox``, a webhook
    receiver's ``handle_events``); a pass of it that did nothing (skipped, or completed
    without counting a record or noting a problem) is not recorded, and its lines are
    logged at DEBUG, so that an idle loop neither floods the logs nor pushes the passes
    that did something out of the bounded history.
    """

    def wrap(
        method: Callable[Concatenate[_E, _P], SyncReport],
    ) -> Callable[Concatenate[_E, _P], SyncReport]:
        signature = inspect.signature(method)

        def asked_dry_run(engine: _E, args: Any, kwargs: Any) -> bool:
            try:
                bound = signature.bind(engine, *args, **kwargs)
            except TypeError:
                return False
            return bound.arguments.get("dry_run", False) is True

        @functools.wraps(method)
        def run(engine: _E, /, *args: _P.args, **kwargs: _P.kwargs) -> SyncReport:
            key = id(engine)
            if key in _running.frames:  # part of the pass that is running
                return method(engine, *args, **kwargs)
            frame = _running.frames[key] = _Frame(kind, engine.clock(), frequent)
            try:
                report = method(engine, *args, **kwargs)
            except BaseException as error:
                _running.frames.pop(key, None)
                _finish(engine, frame, None, error, asked_dry_run(engine, args, kwargs))
                raise
            _running.frames.pop(key, None)
            _finish(engine, frame, report, None, report.dry_run)
            return report

        return run

    return wrap


def _finish(
    engine: SyncEngine,
    frame: _Frame,
    report: SyncReport | None,
    error: BaseException | None,
    dry_run: bool,
) -> None:
    """Log the pass's end and keep its record; never raise."""
    try:
        record = _record(engine, frame, report, error, dry_run)
    except Exception as exc:  # a clock or report that cannot be read: still no harm done
        logger.warning("pass not recorded: %s", describe_error(exc))
        return
    ran = report if report is not None else frame.report
    idle = frame.frequent and _did_nothing(record, ran)
    _log_end(record, ran.errors if ran is not None else [], idle)
    if idle:
        return
    store = engine.index
    if not keeps_history(store):
        if engine not in _warned:
            _warned.add(engine)
            logger.warning(
                "sync=%s: the index store %s keeps no pass history; passes are not recorded",
                record.sync_id,
                type(store).__name__,
            )
        return
    try:
        store.add_pass(record)
    except Exception as exc:
        problem = f"the {record.kind} pass was not recorded in the pass history: "
        problem += describe_error(exc)
        logger.warning("sync=%s: %s", record.sync_id, problem)
        if report is not None:  # the caller reads it: nothing fails only in the logs
            report.errors.append(problem)


def _record(
    engine: SyncEngine,
    frame: _Frame,
    report: SyncReport | None,
    error: BaseException | None,
    dry_run: bool,
) -> PassRecord:
    finished_at = engine.clock()
    if error is None:
        assert report is not None
        outcome, detail = ("skipped", report.skipped) if report.skipped else ("completed", "")
        started_at = min(report.started_at, frame.started_at)
        return PassRecord.of(report, started_at, finished_at, outcome, detail)
    if isinstance(error, SyncDisabledError):
        outcome = "skipped"  # handle_events and restore raise it; nothing ran
    elif isinstance(error, SafetyStop):
        outcome = "stopped"
    else:
        outcome = "failed"
    begun = frame.report
    if begun is None:
        begun = SyncReport(
            kind=frame.kind, sync_id=engine.sync_id, started_at=frame.started_at, dry_run=dry_run
        )
    return PassRecord.of(begun, frame.started_at, finished_at, outcome, describe_error(error))


def _did_nothing(record: PassRecord, report: SyncReport | None) -> bool:
    if record.outcome == "skipped":
        return True
    return (
        record.outcome == "completed"
        and not record.counts
        and (report is None or not (report.errors or report.counts))
    )


def _log_end(record: PassRecord, errors: list[str], idle: bool = False) -> None:
    for error in errors:
        logger.warning(
            "pass problem: sync=%s kind=%s %s", record.sync_id, record.kind, masked(error)
        )
    counts = " ".join(
        f"{obj}.{side}=+{c.created}/~{c.updated}/!{c.failed}/-{c.excluded}"
        for obj, by_side in record.counts.items()
        for side, c in by_side.items()
    )
    seconds = record.duration.total_seconds()
    level = logging.INFO if record.outcome in ("completed", "skipped") else logging.WARNING
    if idle:
        level = logging.DEBUG
    logger.log(
        level,
        "pass %s: sync=%s kind=%s%s created=%d updated=%d failed=%d excluded=%d duration=%.3fs%s%s",
        record.outcome,
        record.sync_id,
        record.kind,
        _dry(record.dry_run),
        record.created,
        record.updated,
        record.failed,
        record.excluded,
        seconds,
        f" counts=[{counts}]" if counts else "",
        f" detail={masked(record.detail)}" if record.detail else "",
    )


def masked(
    message: str, entry: Entry | None = None, shown: Sequence[Mapping[str, Any] | None] = ()
) -> str:
    """``message`` on one line for a log: credentials hidden, and the values the index
    holds for ``entry`` (and those in ``shown``), e-mail addresses and long token-like
    words masked."""
    text = redact_text(one_line(message))
    copies = [*shown, *((entry.hub_values, entry.app_values) if entry is not None else ())]
    values: set[str] = set()
    for copy in copies:
        for value in (copy or {}).values():
            if isinstance(value, str) and len(shown_value := one_line(value, 10**6)) >= _SHORTEST:
                values.add(shown_value)  # as the message, folded onto one line
            elif type(value) in (int, float) and len(repr(value)) >= _SHORTEST_NUMBER:
                values.add(repr(value))
    for value in sorted(values, key=len, reverse=True):
        # Whole words only: the value "lead" leaves the field name "lead_score" alone.
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASKED, text)
    text = _EMAIL.sub(MASKED, text)
    return _TOKEN.sub(MASKED, text)


def record_failed(
    sync_id: str,
    entry: Entry,
    category: ErrorCategory | None,
    message: str,
    shown: Sequence[Mapping[str, Any] | None] = (),
    *,
    quiet: bool = False,
) -> None:
    """One WARNING for a record that failed in a pass (not while ``quiet``: the dry pass a
    guarded pass plans first)."""
    if quiet or not records_logger.isEnabledFor(logging.WARNING):
        return
    records_logger.warning(
        "record failed: sync=%s object=%s hub_id=%s app_id=%s category=%s message=%s",
        sync_id,
        entry.object_type,
        entry.hub_id or "-",
        entry.app_id or "-",
        category.value if category is not None else "unknown",
        masked(message, entry, shown),
    )


def batch(
    report: SyncReport,
    object_type: str,
    side: Side,
    phase: str | None,
    records: int,
    deleted: int,
    *,
    quiet: bool = False,
) -> None:
    """One DEBUG line per batch of records a pass processes."""
    if quiet or not batches_logger.isEnabledFor(logging.DEBUG):
        return
    batches_logger.debug(
        "batch: sync=%s kind=%s%s object=%s side=%s phase=%s records=%d deleted=%d",
        report.sync_id,
        report.kind,
        _dry(report.dry_run),
        object_type,
        side.value,
        phase or "-",
        records,
        deleted,
    )
