"""Passes on a schedule, one at a time, in a background thread.

:class:`PassRunner` owns the one lock that serializes everything in this process that
writes through the engine: scheduled passes, and the console's actions (restore, retry).
Two passes of one sync never run at once here; across processes, the engine's leases
(rule S9) already keep two passes off the same records.

No web library is imported here.

.. versionadded:: 0.2
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Final, TypeVar

import attrs

from syncengine._redact import scrub_secrets
from syncengine.engine import SyncEngine
from syncengine.errors import SafetyStop, SyncEngineError
from syncengine.report import SyncEvent, SyncReport

__all__ = ["PassRunner", "Progress", "RunnerBusy"]

logger = logging.getLogger("syncengine.server")

_T = TypeVar("_T")

#: The longest wait between two scheduled passes: a week.
MAX_INTERVAL: Final = 7 * 24 * 3600


class RunnerBusy(RuntimeError):
    """A pass (or another action) is running in this process; nothing was done."""


@attrs.frozen
class Progress:
    """What the running pass is doing, for the overview.

    Attributes:
        kind: ``"initial"``, ``"incremental"``, … or the action (``"restore"``).
        started_at: When it started.
        phase: Its current phase (``"index_hub"``, …), if it said.
        object_type: The object type of that phase.
        processed: Records processed in that phase so far.
    """

    kind: str
    started_at: datetime
    phase: str | None = None
    object_type: str | None = None
    processed: int = 0


class PassRunner:
    """Runs passes of one engine every ``interval`` seconds, never two at once.

    A pass runs the initial sync while it is not finished, then incremental passes
    (which also drain the webhook inbox). A pass that fails (an app is down, a safety
    stop) is logged and kept as :attr:`last_error`; the schedule goes on.

    Args:
        engine: The sync, or ``None`` to give it later (:attr:`engine`): build the engine
            with ``on_event=runner.on_event`` for the console to show a running pass's
            progress (:attr:`progress`), then set ``runner.engine = engine``.
        interval: Seconds between the end of a pass and the start of the next; ``0``: no
            scheduled passes (only :meth:`run_pass` and the console's actions).
        secrets: Texts never to show in :attr:`last_error` (besides connection-string
            passwords, which are always hidden).
    """

    def __init__(
        self,
        engine: SyncEngine | None = None,
        interval: float = 0,
        *,
        secrets: tuple[str, ...] = (),
    ) -> None:
        """See the class docstring."""
        if not (0 <= interval <= MAX_INTERVAL):  # also false for nan
            raise ValueError(f"interval must be 0 to {MAX_INTERVAL} seconds, got {interval!r}")
        self._engine = engine
        self.interval = float(interval)
        self._secrets = secrets
        self._lock = threading.Lock()
        self._state = threading.Lock()  # guards the fields below
        self._progress: Progress | None = None
        self._last_error: str | None = None
        self._last_report: SyncReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def engine(self) -> SyncEngine:
        """The sync this runner runs passes of.

        Raises:
            RuntimeError: when it was not given yet.
        """
        if self._engine is None:
            raise RuntimeError("this PassRunner has no engine yet: set runner.engine first")
        return self._engine

    @engine.setter
    def engine(self, engine: SyncEngine) -> None:
        if self._engine is not None and self._engine is not engine:
            raise ValueError("this PassRunner already runs another engine's passes")
        self._engine = engine

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """More texts never to show in :attr:`last_error`."""
        self._secrets = (*self._secrets, *(s for s in secrets if s))

    # ---- what the console shows ----------------------------------------------------
    @property
    def progress(self) -> Progress | None:
        """The running pass or action, or ``None`` when idle."""
        with self._state:
            return self._progress

    @property
    def last_error(self) -> str | None:
        """Why the last scheduled pass failed (secrets hidden), or ``None``."""
        with self._state:
            return self._last_error

    @property
    def last_report(self) -> SyncReport | None:
        """The report of the last pass this runner ran."""
        with self._state:
            return self._last_report

    @property
    def busy(self) -> bool:
        """Whether a pass or an action holds the lock now."""
        return self._lock.locked()

    def on_event(self, event: SyncEvent) -> None:
        """The engine's progress events (pass ``on_event=runner.on_event`` to the engine)."""
        with self._state:
            if self._progress is None:
                return
            if event.kind in ("phase_started", "phase_progress", "phase_finished"):
                self._progress = attrs.evolve(
                    self._progress,
                    phase=event.phase,
                    object_type=event.object_type,
                    processed=event.processed,
                )

    # ---- running -------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self, kind: str, *, wait: bool) -> Iterator[None]:
        """Hold the runner's lock for one pass or action named ``kind``.

        Raises:
            RunnerBusy: ``wait`` is false and a pass or action runs.
        """
        if not self._lock.acquire(blocking=wait):
            raise RunnerBusy(f"a {self._running_kind()} is running; try again when it ends")
        try:
            with self._state:
                self._progress = Progress(kind, datetime.now(UTC))
            yield
        finally:
            with self._state:
                self._progress = None
            self._lock.release()

    def _running_kind(self) -> str:
        with self._state:
            return f"{self._progress.kind} pass" if self._progress is not None else "pass"

    def call(self, kind: str, action: Callable[[], _T]) -> _T:
        """Run ``action`` under the lock now, or raise :class:`RunnerBusy`."""
        with self.exclusive(kind, wait=False):
            return action()

    def run_pass(self, *, wait: bool = True) -> SyncReport | None:
        """Run one pass now; ``None`` if it failed (see :attr:`last_error`).

        Raises:
            RunnerBusy: ``wait`` is false and a pass or action runs.
        """
        engine = self.engine
        kind = "initial" if engine.initial_sync_running else "incremental"
        with self.exclusive(kind, wait=wait):
            try:
                report = (
                    engine.initial_sync()
                    if engine.initial_sync_running
                    else engine.incremental_sync()
                )
            except (SafetyStop, SyncEngineError) as exc:
                self._failed(kind, str(exc), exc)
                return None
            except Exception as exc:  # a bug or an adapter's surprise: keep serving
                self._failed(kind, f"{type(exc).__name__}: {exc}", exc)
                return None
        # The engine logs each pass's end on one line (syncengine.engine, INFO).
        logger.debug("scheduled %s pass ended: %s", kind, report.summary())
        with self._state:
            self._last_report = report
            self._last_error = None
        return report

    def _failed(self, kind: str, message: str, exc: BaseException) -> None:
        shown = scrub_secrets(message, self._secrets)
        # The engine logs the failed pass (WARNING); this line says the schedule goes on.
        # No traceback: it would quote the message unredacted.
        logger.warning("scheduled %s pass failed; the next runs on schedule: %s", kind, shown)
        with self._state:
            self._last_error = f"{kind} pass failed: {shown}"

    def start(self) -> None:
        """Start the schedule in a background thread (the first pass at once)."""
        if self.interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="syncengine-passes", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the schedule; wait up to ``timeout`` seconds for a running pass to end.

        A pass cut short by the process ending loses nothing: every finished batch is
        committed, and the next pass resumes (rule S8).
        """
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_pass()
            self._stop.wait(self.interval)
