"""The ``syncengine`` command: run, inspect and operate a sync described by a config file.

Subcommands: ``demo``, ``run``, ``status``, ``records``, ``export``, ``restore``,
``explain`` and ``serve`` (``syncengine --help``; the reference is ``docs/cli.md``). Each
reads a TOML config file (:mod:`syncengine.configfile`) and drives a
:class:`~syncengine.SyncEngine`.

Output: tables and progress bars through rich, coloured only on a terminal (and never when
``NO_COLOR`` is set). Errors are one line on standard error. Exit codes: 0 success, 1 an
operation failed (an app is down, a safety stop, an unknown record), 2 a bad config file
or bad command-line usage.

Only this module, its printing (:mod:`syncengine._console`, shared with the demo) and the
demo import click and rich; the library never does.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typing_extensions import override

from syncengine._console import ProgressDisplay as ProgressDisplay
from syncengine._console import print_report as print_report
from syncengine._console import print_status as print_status
from syncengine.configfile import INDEX_RECOVERY, SyncSetup, load
from syncengine.engine import SyncEngine
from syncengine.errors import ConfigError, IndexStoreError, SafetyStop, SyncEngineError
from syncengine.records import Side
from syncengine.report import SyncEvent, SyncReport
from syncengine.states import RecordState
from syncengine.status import shown_properties

__all__ = ["ProgressDisplay", "main", "print_report", "print_status"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _fail(message: str, code: int) -> None:
    """Print one error line on standard error and exit with ``code``."""
    line = " ".join(message.split())
    click.echo(click.style("error: ", fg="red", bold=True) + line, err=True)
    raise SystemExit(code)


def _errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn syncengine's exceptions into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), 2)
        except SafetyStop as exc:
            _fail(f"{exc} (run again with --allow-mass-changes if it is intended)", 1)
        except IndexStoreError as exc:
            _fail(f"the index failed: {exc}; if the index is damaged, {INDEX_RECOVERY}", 1)
        except SyncEngineError as exc:
            _fail(str(exc), 1)
        except KeyError as exc:
            _fail(str(exc.args[0]) if exc.args else "not found", 1)
        except OSError as exc:  # a file the command was told to read or write
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", 1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(130) from None
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _console() -> Console:
    """Where commands print: colours and live bars only on a terminal.

    Lines never wrap (a long path stays one line, for copying); off a terminal, tables
    get 120 columns instead of 80, so logs stay readable.
    """
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and not console.is_jupyter:
        console.width = 120
    return console


@contextmanager
def _opened(config: Path, *, new: bool = False, writes: bool = False) -> Iterator[SyncSetup]:
    """The config's adapters and index; a missing index file is refused unless ``new``.

    ``writes``: the command writes to the index, so a SQLite index this user cannot write
    is refused before anything runs (exit code 2, naming the file), not met by the
    pass's first write (exit code 1, the file unnamed, the advice for a damaged index).
    """
    setup = load(config, create_index=new)
    try:
        if writes:
            _check_writable(setup)
        yield setup
    finally:
        setup.close()


def _check_writable(setup: SyncSetup) -> None:
    try:
        setup.file.index.check_writable()
    except ConfigError as exc:
        raise setup.file.error(exc) from None


if TYPE_CHECKING:
    _ParamType = click.ParamType[datetime]
else:  # click < 8.2 has no generic ParamType at run time
    _ParamType = click.ParamType


class _IsoTime(_ParamType):
    """An ISO 8601 date or datetime; without an offset it is taken as UTC."""

    name = "ISO-TIME"

    @override
    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time (2024-05-01T12:00Z)", param, ctx)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_CONFIG = click.argument(
    "config", type=click.Path(dir_okay=False, path_type=Path), metavar="CONFIG"
)
_STATES = click.Choice([s.value for s in RecordState])
#: The config file ``syncengine demo`` writes.
_DEMO_CONFIG: Final = "syncengine.toml"


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """The listing filters shared by ``records`` and ``export`` (rule R5)."""
    func = click.option("--until", type=_IsoTime(), help="Only entries changed before this.")(func)
    func = click.option("--since", type=_IsoTime(), help="Only entries changed at or after this.")(
        func
    )
    func = click.option(
        "--state", "states", type=_STATES, multiple=True, help="Only this state (repeatable)."
    )(func)
    func = click.option(
        "--object", "object_type", metavar="TYPE", help="Only this object type (hub or app name)."
    )(func)
    return func


def _config_hint(name: str | None, args: list[str]) -> str | None:
    """What to type when a command taking CONFIG first was not given one (a usage error),
    or None when a config file was given."""
    if any(arg.endswith(".toml") and Path(arg).is_file() for arg in args):
        return None
    command = f"syncengine {name}" if name else "syncengine"
    for i, arg in enumerate(args):
        folder = Path(arg)
        if not arg.startswith("-") and folder.is_dir() and (folder / _DEMO_CONFIG).is_file():
            fixed = [*args[:i], str(folder / _DEMO_CONFIG), *args[i + 1 :]]
            return f"CONFIG is the config file, not its folder: try `{command} {shlex.join(fixed)}`"
    if Path(_DEMO_CONFIG).is_file():
        return (
            f"CONFIG, the sync's config file, comes first; this folder holds {_DEMO_CONFIG}: "
            f"try `{command} {shlex.join([_DEMO_CONFIG, *args])}`"
        )
    return (
        f"CONFIG is the sync's config file, such as the {_DEMO_CONFIG} that `syncengine demo` "
        "writes (it prints the folder)"
    )


class _Command(click.Command):
    """A command whose usage errors say what to type when CONFIG is missing or misplaced
    (a new user in the demo's folder types `syncengine status`)."""

    @override
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if any(param.name == "config" for param in self.params):
                hint = _config_hint(ctx.info_name, given)
                if hint is not None:
                    said = exc.format_message().rstrip(".")
                    raise click.UsageError(f"{said}. {hint}", ctx=exc.ctx) from None
            raise


class _Group(click.Group):
    """The command group; its commands are :class:`_Command`."""

    command_class = _Command


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    cls=_Group,
)
@click.version_option(package_name="syncengine-hub", prog_name="syncengine")
def main() -> None:
    """Keep the records of two apps in sync.

    Start with `syncengine demo`; then point the other commands at its config file.
    Messages cite the rules they follow (rule D6); docs/rules.md explains each rule.
    """


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to build the demo's apps, index and config file "
    "[default: syncengine/demo in your user cache folder, such as ~/.cache/syncengine/demo].",
)
@click.option(
    "--contacts",
    type=click.IntRange(min=20, max=200_000),
    default=2000,
    show_default=True,
    help="Contacts in the CRM (20 to 200,000).",
)
@click.option("--seed", default=7, show_default=True, help="Random seed (the demo is repeatable).")
@_errors
def demo(directory: Path | None, contacts: int, seed: int) -> None:
    """Build two apps on disk, sync them, change both, sync again, show the status.

    The apps are SQLite databases: a CRM (the hub) and a sales app, with overlapping
    people spelt differently, duplicates, contacts without e-mail, conflicting values and
    deals in unmapped stages. Files of an earlier demo in the folder are replaced, other
    files are left alone; a folder holding a syncengine.toml, index.db, crm.db or
    sales.db the demo did not make is refused (exit code 2), nothing removed. The folder
    is printed first, and the commands to try next name its config file.
    """
    from syncengine.demo import run_demo

    run_demo(directory, _console(), contacts=contacts, seed=seed)


def _pass(
    engine: SyncEngine,
    *,
    dry_run: bool,
    reconcile: bool,
    allow_mass_changes: bool,
    partition: tuple[int, int] | None = None,
) -> SyncReport:
    if partition is not None and partition[0] > 0 and not engine.initial_sync_running:
        # Scale-out splits the initial sync; the passes after it are proportional to the
        # changes and run in worker 0 alone (docs/scale-out.md).
        now = datetime.now(UTC)
        kind = "reconcile" if reconcile else "incremental"
        why = f"worker {partition[0]}/{partition[1]}: passes after the initial sync run in worker 0"
        return SyncReport(kind, engine.sync_id, now, now, dry_run=dry_run, skipped=why)
    if reconcile:
        return engine.reconcile(dry_run, allow_mass_changes=allow_mass_changes)
    if engine.initial_sync_running:
        return engine.initial_sync(dry_run, allow_mass_changes=allow_mass_changes)
    return engine.incremental_sync(dry_run, allow_mass_changes=allow_mass_changes)


#: The longest wait between two --watch passes: a week (time.sleep refuses far less than
#: 1e308, and a longer wait is a mistake, not a schedule).
MAX_INTERVAL: Final = 7 * 24 * 3600
#: The most worker processes --workers starts on one machine.
MAX_WORKERS: Final = 64
#: The most partitions of --partition K/N (each is a worker's share of the initial sync).
MAX_PARTITIONS: Final = 4096


def _check_interval(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A finite number of seconds from 0 to a week: not nan, inf or 1e308."""
    if not (0 <= value <= MAX_INTERVAL):  # also false for nan
        raise click.BadParameter(
            f"expected seconds from 0 to {MAX_INTERVAL:,} (a week), got {value!r}"
        )
    return value


def _parse_partition(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, int] | None:
    """``K/N`` as ``(k, n)``, with ``0 <= k < n``."""
    if value is None:
        return None
    part, _, parts = value.partition("/")
    if not (
        part.isascii()
        and parts.isascii()
        and part.isdigit()
        and parts.isdigit()
        and int(part) < int(parts) <= MAX_PARTITIONS
    ):
        raise click.BadParameter(
            f"expected K/N with 0 <= K < N <= {MAX_PARTITIONS}, such as 0/4; got {value!r}"
        )
    return int(part), int(parts)


def _run_workers(count: int, arguments: list[str]) -> int:
    """Run ``syncengine run … --partition k/count`` in ``count`` processes; the worst exit code.

    Each worker's output lines are relayed prefixed with ``[k/count]``.
    """
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "syncengine", "run", *arguments, "--partition", f"{k}/{count}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(count)
    ]

    def relay(k: int, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            click.echo(f"[{k}/{count}] {line}", nl=False)

    threads = [
        threading.Thread(target=relay, args=(k, child), daemon=True)
        for k, child in enumerate(children)
    ]
    for thread in threads:
        thread.start()
    try:
        codes = [child.wait() for child in children]
    except KeyboardInterrupt:  # the workers got the same Ctrl-C: let them finish a batch
        codes = [child.wait() for child in children]
    for thread in threads:
        thread.join()
    return max(codes, key=abs)


@main.command()
@_CONFIG
@click.option("--once", "mode", flag_value="once", default=True, help="Run one pass (default).")
@click.option("--watch", "mode", flag_value="watch", help="Run a pass every --interval seconds.")
@click.option(
    "--interval",
    type=float,
    callback=_check_interval,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help=f"With --watch: seconds between passes (0 to {MAX_INTERVAL:,}).",
)
@click.option(
    "--passes", type=click.IntRange(min=1), default=None, help="With --watch: stop after N passes."
)
@click.option("--dry-run", is_flag=True, help="Decide and list the writes; write nothing.")
@click.option("--reconcile", is_flag=True, help="Compare everything (recovers lost changes).")
@click.option("--allow-mass-changes", is_flag=True, help="Pass the max_change_ratio safety stop.")
@click.option(
    "--new",
    is_flag=True,
    help="Start a new sync: its first run, when the index holds nothing of it yet.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=MAX_WORKERS),
    default=1,
    show_default=True,
    help=f"Split the initial sync between N worker processes on this machine (1 to {MAX_WORKERS}).",
)
@click.option(
    "--partition",
    metavar="K/N",
    callback=_parse_partition,
    help="Run as worker K of N sharing the index (one per machine or process).",
)
@_errors
def run(
    config: Path,
    mode: Literal["once", "watch"],
    interval: float,
    passes: int | None,
    dry_run: bool,
    reconcile: bool,
    allow_mass_changes: bool,
    new: bool,
    workers: int,
    partition: tuple[int, int] | None,
) -> None:
    """Sync once (the initial sync first, then what changed), or keep syncing with --watch.

    A pass before the initial sync has finished runs (or resumes) the initial sync; later
    passes process only what changed since the last one. The first run of a sync needs
    --new: without it, an index that holds nothing of the sync (a missing file, a mistyped
    path or sync_id) is an error, never a new initial sync over apps already in sync.

    Scale-out (docs/scale-out.md): --workers N starts N worker processes that split the
    initial sync; --partition K/N runs one such worker, so N machines sharing a PostgreSQL
    index can each run one. Passes after the initial sync run in worker 0.
    """
    if workers > 1:
        if partition is not None:
            _fail(
                "--workers and --partition cannot be combined: --workers starts the partitions", 2
            )
        if dry_run:
            _fail("a dry run is not split between workers: drop --workers", 2)
        arguments = [str(config), f"--{mode}", "--interval", str(interval)]
        arguments += ["--passes", str(passes)] if passes is not None else []
        arguments += ["--reconcile"] if reconcile else []
        arguments += ["--allow-mass-changes"] if allow_mass_changes else []
        arguments += ["--new"] if new else []
        raise SystemExit(_run_workers(workers, arguments))
    console = _console()
    with _opened(config, new=new, writes=not dry_run) as setup:
        progress = ProgressDisplay(console)

        def on_event(event: SyncEvent) -> None:
            progress(event)

        engine = setup.engine(on_event=on_event, partition=partition)
        if not new and not engine.started and setup.file.index.kind != "memory":
            spec = setup.file.index
            where = f"the index file {str(spec.path)!r}" if spec.path else "the index database"
            _fail(
                f"{config}: index: {where} holds no sync {engine.sync_id!r}: a run would start "
                "a new initial sync, which overwrites the edits of whichever side loses. If "
                "the index was replaced or the path or sync_id mistyped, restore it (from a "
                "backup) or fix the config; if this is the first run of this sync, start it "
                "with --new",
                2,
            )
        done = 0
        while True:
            progress = ProgressDisplay(console)  # fresh bars for every pass
            try:
                with progress:
                    report = _pass(
                        engine,
                        dry_run=dry_run,
                        reconcile=reconcile and done == 0,
                        allow_mass_changes=allow_mass_changes,
                        partition=partition,
                    )
            except KeyboardInterrupt:
                # Every finished batch is committed (S8): the next run resumes from there.
                click.echo("interrupted; the next run resumes where this one stopped", err=True)
                raise SystemExit(130) from None
            if mode == "watch":
                stamp = datetime.now(UTC).strftime("%H:%M:%S")
                console.print(f"[dim]{stamp}[/] {escape(report.summary())}")
            else:
                print_report(console, report)
            done += 1
            if mode == "once" or (passes is not None and done >= passes):
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                console.print("stopped")
                return


@main.command()
@_CONFIG
@click.option(
    "--passes",
    "shown_passes",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the last passes to show (0: none).",
)
@_errors
def status(config: Path, shown_passes: int) -> None:
    """Show counts per object type, failures by category, exclusions by reason, the
    webhook events waiting and the last passes."""
    console = _console()
    with _opened(config) as setup:
        engine = setup.engine()
        console.print(
            f"[bold]sync {escape(repr(engine.sync_id))}[/]: hub {escape(repr(engine.hub.name))} "
            f"↔ app {escape(repr(engine.app.name))}"
            + ("" if engine.enabled else " [yellow](disabled)[/]")
        )
        print_status(console, engine, passes=shown_passes)


@main.command()
@_CONFIG
@_filters
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="0: all.")
@_errors
def records(
    config: Path,
    object_type: str | None,
    states: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> None:
    """List index entries: each record or pair, its state and why."""
    console = _console()
    with _opened(config) as setup:
        engine = setup.engine()
        table = Table(show_edge=False, header_style="bold")
        # The headings are the column names `export --columns` takes.
        for column in ("object_type", "hub_id", "app_id", "state", "why", "message", "updated_at"):
            table.add_column(column, overflow="fold")
        shown = more = 0
        for row in engine.records(object_type, states or None, since, until):
            if limit and shown >= limit:
                more += 1
                continue
            table.add_row(
                escape(row.object_type),
                escape(row.hub_id or "-"),
                escape(row.app_id or "-"),
                row.state.value,
                row.why,
                escape(row.message),
                row.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
            shown += 1
        console.print(table)
        console.print(
            f"{shown:,} shown" + (f", {more:,} more (use --limit 0 or export)" if more else "")
        )


@main.command()
@_CONFIG
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default=None,
    help="Default: from FILE's suffix (.jsonl), else csv.",
)
@click.option(
    "--columns",
    help="Comma-separated columns, in order, named as `records` heads them (default: all).",
)
@_filters
@_errors
def export(
    config: Path,
    file: Path,
    fmt: Literal["csv", "jsonl"] | None,
    columns: str | None,
    object_type: str | None,
    states: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
) -> None:
    """Write the record listing to FILE as CSV or JSON lines."""
    chosen: Literal["csv", "jsonl"] = fmt or (
        "jsonl" if file.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    )
    with _opened(config) as setup:
        engine = setup.engine()
        try:
            count = engine.export(
                file,
                chosen,
                object_type=object_type,
                state=states or None,
                since=since,
                until=until,
                columns=[c.strip() for c in columns.split(",")] if columns else None,
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--columns") from None
    _console().print(f"wrote {count:,} rows to {file}", markup=False)


@main.command()
@_CONFIG
@click.option("--object", "object_type", required=True, metavar="TYPE", help="The object type.")
@click.option(
    "--to", "destination", type=click.Choice(["hub", "app"]), required=True, help="Re-create in."
)
@click.option("--yes", is_flag=True, help="Restore without asking.")
@_errors
def restore(config: Path, object_type: str, destination: str, yes: bool) -> None:
    """Re-create records deleted on one side from the surviving copy.

    Shows the list first and asks before restoring, unless --yes. Answering no (or
    giving no answer, as without a terminal) restores nothing and exits with code 1.
    """
    console = _console()
    with _opened(config, writes=True) as setup:
        progress = ProgressDisplay(console)
        engine = setup.engine(on_event=progress)
        plan = engine.plan_restore(object_type, Side(destination))
        if not len(plan):
            console.print(
                f"nothing to restore: no {escape(object_type)} record deleted in the {destination}"
            )
            return
        table = Table(show_edge=False, header_style="bold")
        for column in ("entry", "from", "values"):
            table.add_column(column, overflow="fold")
        for item in list(plan)[:20]:
            origin = (
                "index copy" if item.from_index_copy else f"{item.source.value} {item.source_id}"
            )
            table.add_row(
                escape(item.entry_id), escape(origin), escape(shown_properties(item.properties))
            )
        console.print(
            f"[bold]restore {len(plan):,} {escape(plan.object_type)} record(s) into the "
            f"{plan.destination.value}[/]"
        )
        console.print(table)
        if len(plan) > 20:
            console.print(f"… and {len(plan) - 20:,} more")
        if not yes:
            _confirm_restore(plan.object_type, plan.destination.value, len(plan))
        try:
            with progress:
                report = engine.restore(plan)
        except KeyboardInterrupt:
            # Each finished batch is committed: what was restored stays restored.
            click.echo(
                "interrupted: the records restored before the stop stay restored; "
                "run the same command again to list (and restore) the rest",
                err=True,
            )
            raise SystemExit(130) from None
        print_report(console, report)


def _confirm_restore(object_type: str, destination: str, count: int) -> None:
    """Ask before a restore; on no (or no answer), say what was not done and exit 1."""
    try:
        agreed = click.confirm(f"Restore these {count:,} records?", default=False)
        why = "you answered no"
    except click.Abort:  # end of input (no terminal, nothing piped) or Ctrl-C at the prompt
        click.echo(err=True)  # end the prompt's line
        agreed, why = False, "no answer"
    if not agreed:
        click.echo(
            f"nothing restored ({why}): the {count:,} {object_type} record(s) listed above "
            f"were not re-created in the {destination}. Run the command again and answer y, "
            "or add --yes to restore without asking.",
            err=True,
        )
        raise SystemExit(1)


@main.command()
@_CONFIG
@click.argument("side", type=click.Choice(["hub", "app"]))
@click.argument("object_type", metavar="TYPE")
@click.argument("record_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@_errors
def explain(config: Path, side: str, object_type: str, record_id: str, as_json: bool) -> None:
    """Explain one record: how it matched, how each field is decided, its history.

    Reasons cite the rules they follow (rule D6); docs/rules.md explains each rule.
    """
    with _opened(config) as setup:
        explanation = setup.engine().explain(Side(side), object_type, record_id)
    if as_json:
        click.echo(json.dumps(explanation.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(str(explanation))


@main.command()
@_CONFIG
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True, help="Port."
)
@click.option(
    "--token",
    envvar="SYNCENGINE_TOKEN",
    default=None,
    metavar="TOKEN",
    help="The console token (or set SYNCENGINE_TOKEN): every page and action needs it. "
    "Required to listen on an address other than this machine's.",
)
@click.option(
    "--interval",
    type=float,
    callback=lambda ctx, param, value: (
        None if value is None else _check_interval(ctx, param, value)
    ),
    default=None,
    metavar="SECONDS",
    help="Seconds between passes, instead of the config's serve.interval (default 60; 0: none).",
)
@_errors
def serve(config: Path, host: str, port: int, token: str | None, interval: float | None) -> None:
    """Serve the sync's console and webhook endpoint, and run its passes on a schedule.

    One process: the web pages (overview, failures, records, one record, actions), the
    HubSpot webhook endpoint when the config's [serve] table names the secret's variable,
    and a pass every serve.interval. Listens on 127.0.0.1 unless --host says otherwise;
    any other address needs --token (docs/console.md).
    """
    try:
        import uvicorn

        from syncengine.server import _serve
    except ImportError as exc:
        _fail(
            f"`syncengine serve` needs the server extra, syncengine-hub[server] ({exc.name} "
            "is not installed): in a clone of the repository, pip install '.[server]' (or "
            "pip install '/path/to/clone[server]')",
            2,
        )
    token = token or None
    if token is None and not _serve.is_local(host):
        _fail(
            f"--host {host} serves other machines, so the console needs a token: pass "
            f"--token TOKEN or set {_serve.TOKEN_ENV} (make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(24))')",
            2,
        )
    try:
        application = _serve.app_from_config(
            config, token=token, interval=interval, allowed_hosts=None
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise click.BadParameter(str(exc), param_hint="--token") from None
    if not logging.getLogger().handlers:  # one line per pass (and uvicorn's per request)
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:  # bound here, so that --port 0 prints the port it got
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        application.state.setup.close()
        _fail(f"cannot listen on {host} port {port}: {exc.strerror or exc}", 1)
    port = int(listener.getsockname()[1])
    shown = f"[{host}]" if ":" in host else host
    runner = application.state.runner
    webhook = application.state.setup.file.serve
    click.echo(f"console: http://{shown}:{port}/" + (" (token required)" if token else ""))
    if application.state.console.webhooks:
        click.echo(f"webhooks: POST http://{shown}:{port}{webhook.webhook_path}")
    click.echo(
        f"passes: every {runner.interval:g}s" if runner.interval else "passes: none scheduled"
    )
    server = uvicorn.Server(
        uvicorn.Config(application, host=host, port=port, log_level="info", lifespan="on")
    )
    with listener, contextlib.suppress(KeyboardInterrupt):
        # uvicorn shuts down cleanly on Ctrl-C, then raises it again: a normal end here.
        server.run(sockets=[listener])
