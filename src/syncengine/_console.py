"""What the ``syncengine`` command and the demo print: pass progress, reports, status.

Rich output shared by :mod:`syncengine.cli` (which re-exports these names) and
:mod:`syncengine.demo`, so that neither imports the other's internals: the command runs
the demo, the demo prints like the command. The library never imports this module.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from syncengine.engine import SyncEngine
from syncengine.history import PassRecord, UnreadablePass
from syncengine.index.base import keeps_history, keeps_inbox
from syncengine.report import SyncEvent, SyncReport
from syncengine.states import ErrorCategory, ExcludeReason, RecordState
from syncengine.status import shown_properties

__all__ = ["ProgressDisplay", "print_passes", "print_report", "print_status"]

#: What each phase of a pass is called on screen.
_PHASES: Final[dict[str, str]] = {
    "index_hub": "indexing the hub",
    "index_app_and_sync": "indexing the app and syncing",
    "sync_hub": "syncing the rest of the hub",
    "poll_hub": "changes in the hub",
    "poll_app": "changes in the app",
    "retry": "retrying failed records",
    "events": "change events",
    "reconcile_hub": "reconciling the hub",
    "reconcile_app": "reconciling the app",
    "restore": "restoring",
}
_COUNTERS: Final = ("created", "updated", "unchanged", "failed", "excluded", "queued")


class ProgressDisplay:
    """Shows a pass's progress from the engine's events (``on_event``).

    On a terminal: a live progress bar per phase and object type. Elsewhere: one line per
    finished phase, so logs stay readable.

    .. versionadded:: 0.1
    """

    def __init__(self, console: Console) -> None:
        """Draw on ``console``."""
        self._console = console
        self._live = console.is_terminal
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeElapsedColumn(),
            console=console,
            disable=not self._live,
        )
        self._tasks: dict[tuple[str | None, str | None], TaskID] = {}

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: SyncEvent) -> None:
        """Receive one engine event."""
        if event.kind not in ("phase_started", "phase_progress", "phase_finished"):
            return
        key = (event.object_type, event.phase)
        label = f"{event.object_type} · {_PHASES.get(event.phase or '', event.phase or '')}"
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = self._progress.add_task(escape(label), total=None)
        if event.kind == "phase_finished":
            self._progress.update(task, completed=event.processed, total=event.processed)
            if not self._live:
                self._console.print(f"  {label}: {event.processed:,} records", markup=False)
        else:
            self._progress.update(task, completed=event.processed)


def _report_table(report: SyncReport) -> Table:
    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column("object")
    table.add_column("side")
    for name in _COUNTERS:
        table.add_column(name, justify="right")
    for object_type, side, counts in report:
        values = counts.as_dict()
        table.add_row(
            escape(object_type),
            side.value,
            *(f"{values[n]:,}" if values[n] else "[dim]0[/]" for n in _COUNTERS),
        )
    return table


def print_report(console: Console, report: SyncReport) -> None:
    """Print what a pass did: counts per object type and side, then its one-line summary."""
    if report.skipped:
        console.print(f"[yellow]{report.kind} skipped:[/] {escape(report.skipped)}")
        return
    if report.counts:
        console.print(_report_table(report))
    took = ""
    if report.finished_at is not None:
        took = f" in {(report.finished_at - report.started_at).total_seconds():.1f}s"
    console.print(f"[bold]{escape(report.summary())}[/]{took}")
    for error in report.errors:
        console.print(f"[red]problem:[/] {escape(str(error))}")
    if report.dry_run:
        console.print(f"[yellow]dry run:[/] nothing was written; {len(report.planned):,} planned")
        for write in report.planned[:10]:
            target = write.record_id or "(new)"
            console.print(
                f"  {write.action} {write.object_type} in the {write.side.value} {target}: "
                f"{shown_properties(write.properties)}",
                markup=False,
            )
        if len(report.planned) > 10:
            console.print(f"  … and {len(report.planned) - 10:,} more")


def print_status(console: Console, engine: SyncEngine, *, passes: int = 10) -> None:
    """Print the status overview (R4), failures by category and exclusions by reason,
    the webhook events waiting in the inbox and the last ``passes`` passes."""
    overview = engine.status()
    table = Table(show_edge=False, header_style="bold")
    table.add_column("object")
    for name in ("synced", "failed", "excluded", "queued", "initial"):
        table.add_column(name, justify="right")
    style = {"failed": "red", "excluded": "yellow", "queued": "cyan"}
    for name, status in overview.items():
        cells = []
        for column in ("synced", "failed", "excluded", "queued", "initial"):
            value = getattr(status, column)
            colour = style.get(column) if value else None
            cells.append(f"[{colour}]{value:,}[/]" if colour else f"{value:,}")
        table.add_row(escape(name), *cells)
    console.print(table)
    running = any(s.initial_running for s in overview.values())
    console.print("initial sync: " + ("[yellow]not finished[/]" if running else "[green]done[/]"))
    failed: Counter[tuple[str, ErrorCategory]] = Counter()
    excluded: Counter[tuple[str, ExcludeReason]] = Counter()
    for row in engine.records(state=[RecordState.FAILED, RecordState.EXCLUDED]):
        if row.state is RecordState.FAILED and row.category is not None:
            failed[row.object_type, row.category] += 1
        elif row.state is RecordState.EXCLUDED and row.reason is not None:
            excluded[row.object_type, row.reason] += 1
    if failed:
        console.print("\n[bold]Failures by category[/]")
        fail_table = Table(show_edge=False, show_header=False, box=None, padding=(0, 2))
        for (object_type, category), count in sorted(failed.items()):
            fail_table.add_row(
                escape(object_type),
                f"[red]{category.value}[/]",
                f"{count:,}",
                f"[dim]{escape(category.hint)}[/]",
            )
        console.print(fail_table)
    if excluded:
        console.print("\n[bold]Exclusions by reason[/]")
        excl_table = Table(show_edge=False, show_header=False, box=None, padding=(0, 2))
        for (object_type, reason), count in sorted(excluded.items()):
            excl_table.add_row(escape(object_type), f"[yellow]{reason.value}[/]", f"{count:,}")
        console.print(excl_table)
    store = engine.index
    if keeps_inbox(store):
        waiting = store.inbox_count(engine.sync_id)
        console.print(
            f"\nwebhook inbox: {waiting:,} event{'' if waiting == 1 else 's'} waiting"
            + (" [dim](the next pass processes them)[/]" if waiting else "")
        )
    if passes > 0:
        print_passes(console, engine, passes)


#: What each outcome of a pass looks like in the passes table.
_OUTCOME_STYLE: Final = {
    "completed": "green",
    "skipped": "yellow",
    "stopped": "red",
    "failed": "red",
    "unreadable": "red",
}


def _took(record: PassRecord) -> str:
    seconds = record.duration.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def print_passes(console: Console, engine: SyncEngine, limit: int = 10) -> None:
    """Print the sync's last ``limit`` passes from the pass history, newest first."""
    store = engine.index
    if not keeps_history(store):
        console.print(f"\n[dim]no pass history: {escape(type(store).__name__)} keeps none[/]")
        return
    records = store.passes(engine.sync_id, limit=limit)
    if not records:
        console.print("\nlast passes: none yet")
        return
    console.print(f"\n[bold]Last passes[/] (newest first, {len(records)} shown)")
    table = Table(show_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("started (UTC)")
    table.add_column("kind")
    table.add_column("took", justify="right")
    for name in ("created", "updated", "failed"):
        table.add_column(name, justify="right")
    table.add_column("outcome")
    for record in records:
        outcome = f"[{_OUTCOME_STYLE.get(record.outcome, 'white')}]{record.outcome}[/]"
        unread = type(record) is UnreadablePass  # its row could not be read: no times
        table.add_row(
            str(record.number),
            "?" if unread else record.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(record.kind) + (" [yellow](dry run)[/]" if record.dry_run else ""),
            "?" if unread else _took(record),
            f"{record.created:,}",
            f"{record.updated:,}",
            f"[red]{record.failed:,}[/]" if record.failed else "0",
            outcome,
        )
    console.print(table)
    for record in records:
        if record.detail:  # why it was skipped, stopped or failed: one line, as text
            console.print(f"  #{record.number} {record.outcome}: {record.detail}", markup=False)
