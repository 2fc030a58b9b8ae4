"""A PostgreSQL server for the tests: the one CI started, or a throwaway one of our own.

``SYNCENGINE_POSTGRES_DSN`` set (``.ci/postgres.sh`` sets it): the tests use that server.
Unset, but PostgreSQL binaries on this machine (``initdb``/``pg_ctl`` in ``PATH`` or under
``/usr/lib/postgresql/*/bin``): :func:`start` runs ``initdb`` and ``pg_ctl`` in a temporary
folder, on a unix socket only, as a non-root user (PostgreSQL refuses root: as root it
uses the user ``pgtest``, created if missing), and :func:`stop` removes it all. Neither:
:func:`dsn_or_skip_reason` says why the PostgreSQL tests skip.

Every test gets a fresh PostgreSQL schema (:func:`fresh_schema`), so tests never see each
other's tables and may run in parallel (pytest-xdist) on one server.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["drop_schema", "dsn_or_skip_reason", "fresh_schema", "server_dsn", "start", "stop"]

ENV: str = "SYNCENGINE_POSTGRES_DSN"
_counter = itertools.count()


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``, or ``None``."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    folders = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [
            int(part) if part.isdigit() else 0 for part in Path(p).parent.name.split(".")
        ],
    )
    for folder in reversed(folders):
        if os.access(Path(folder) / "initdb", os.X_OK):
            return Path(folder)
    return None


def dsn_or_skip_reason() -> tuple[str | None, str]:
    """(the DSN from the environment, "") or (None, why there is none)."""
    dsn = os.environ.get(ENV)
    if dsn:
        return dsn, ""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install 'psycopg[binary]>=3.1')"
    if binaries() is None:
        return None, (
            f"no PostgreSQL server: {ENV} is unset and no PostgreSQL binaries "
            "(initdb, pg_ctl) are on this machine; run `source .ci/postgres.sh` to start one"
        )
    return None, ""


class Server:
    """A throwaway server started by :func:`start`."""

    def __init__(self, folder: Path, bin_dir: Path, runner: list[str]) -> None:
        self.folder = folder
        self.bin_dir = bin_dir
        self.runner = runner

    @property
    def dsn(self) -> str:
        """How to connect: the unix socket in the server's folder."""
        return f"host={self.folder} dbname=postgres user=postgres"


def start() -> Server:
    """initdb and start a server on a unix socket in a temporary folder (see module doc)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries")
    folder = Path(tempfile.mkdtemp(prefix="syncengine-pg-"))
    folder.chmod(0o755)
    runner: list[str] = []
    if os.geteuid() == 0:
        user = os.environ.get("PG_USER", "pgtest")
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-M", user], check=True, capture_output=True)
        shutil.chown(folder, user)
        runner = ["runuser", "-u", user, "--"]
    subprocess.run(
        [
            *runner,
            str(bin_dir / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [
            *runner,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-t",
            # How long pg_ctl may wait for the server to accept connections: a loaded
            # machine (CI's two cores) can take far longer than an idle one.
            "300",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return Server(folder, bin_dir, runner)


def stop(server: Server) -> None:
    """Stop the server and remove its folder."""
    subprocess.run(
        [
            *server.runner,
            str(server.bin_dir / "pg_ctl"),
            "-D",
            str(server.folder / "data"),
            "-m",
            "immediate",
            "-w",
            "stop",
        ],
        capture_output=True,
    )
    shutil.rmtree(server.folder, ignore_errors=True)


def fresh_schema() -> str:
    """A schema name no other test (or xdist worker) uses."""
    return f"t_{uuid.uuid4().hex[:12]}_{next(_counter)}"


def drop_schema(dsn: str, schema: str) -> None:
    """Remove a test's schema and everything in it."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


_started: list[Server] = []


def server_dsn() -> str | None:
    """The DSN of the server the tests use, starting one if needed; ``None``: skip.

    A server this module starts is one per process (per pytest-xdist worker), stopped
    when the process exits.
    """
    dsn, reason = dsn_or_skip_reason()
    if dsn is not None or reason:
        return dsn
    if not _started:
        _started.append(start())
        atexit.register(stop, _started[0])
    return _started[0].dsn


def stored_rows(dsn: str, schema: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of a store's tables of entries, keys, cursors, counts and interned
    texts, sorted, to compare two ways of writing the same thing (the fast-path
    property tests). An entry's ``id`` comes from a sequence, whose values a rolled-back
    transaction skips: ids are replaced by their rank (the order they keep), in
    ``entries`` and in ``keys``. Counts are summed over their shards (each store writes
    to a random one)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:

        def fetch(sql: str) -> list[tuple[object, ...]]:
            return [tuple(row) for row in conn.execute(sql.replace("{s}", f'"{schema}"'))]

        entries = fetch("SELECT * FROM {s}.entries ORDER BY id")
        rank = {row[0]: n for n, row in enumerate(entries)}
        return {
            "entries": [(rank[row[0]], *row[1:]) for row in entries],
            "keys": sorted(
                ((*row[:3], rank[row[3]]) for row in fetch("SELECT * FROM {s}.keys")), key=repr
            ),
            "counts": fetch(
                "SELECT sync, ot, state, sum(n) FROM {s}.counts GROUP BY sync, ot, state "
                "HAVING sum(n) <> 0 ORDER BY sync, ot, state"
            ),
            "cursors": sorted(fetch("SELECT * FROM {s}.cursors"), key=repr),
            "shapes": fetch("SELECT * FROM {s}.shapes ORDER BY id"),
            "items": fetch("SELECT * FROM {s}.items ORDER BY id"),
        }
