"""Config and command edges (rules R5, X2; issue 17 §5): the demo never deletes someone
else's files; exports are safe for spreadsheets and line readers, and never left half-written."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine import RecordState, SyncConfig, SyncEngine
from syncengine.adapters import InMemoryAdapter
from syncengine.errors import IndexStoreError
from syncengine.index import Entry, MemoryIndexStore

from .conftest import CONTACTS_APP, CONTACTS_HUB, contacts_sync

# ---- the demo ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        {"syncengine.toml": 'sync_id = "mine"\n', "index.db": "my index"},
        {"index.db": "my index"},
        {"crm.db": "my crm", "notes.txt": "mine"},
    ],
)
def test_the_demo_refuses_a_folder_holding_files_it_did_not_make(tmp_path, files):
    """`syncengine demo --dir .` in a folder with the user's own syncengine.toml or
    index.db: exit 2 naming the folder and the files, and every file left as it was."""
    from syncengine.cli import main

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path), "--contacts", "60"])
    assert 2 == result.exit_code, result.output
    flat = " ".join(result.output.split())
    assert "--dir" in flat
    assert str(tmp_path) in flat
    for name in files:
        if name != "notes.txt":
            assert name in flat
    assert files == {p.name: p.read_text() for p in tmp_path.iterdir()}


# ---- exports ----------------------------------------------------------------------------

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def engine_over(index: MemoryIndexStore) -> SyncEngine:
    """An engine whose index is ``index`` (filled by the test, as entries)."""
    hub = InMemoryAdapter([CONTACTS_HUB], name="hub")
    app = InMemoryAdapter([CONTACTS_APP], name="app")
    return SyncEngine(hub, app, index, SyncConfig("s", [contacts_sync()]))


def put_entries(index: MemoryIndexStore, texts: list[tuple[str, str]]) -> None:
    """Failed entries whose app id and message are the given texts."""
    index.write(
        [
            Entry(
                "s",
                "contacts",
                f"e{i}",
                NOW,
                hub_id=f"h{i}",
                app_id=app_id,
                state=RecordState.FAILED,
                message=message,
            )
            for i, (app_id, message) in enumerate(texts)
        ]
    )


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet may run as a formula (OWASP CSV injection), checked on its own:
    after blanks and characters that show nothing (format and control characters: a
    zero-width space, a byte order mark, a direction mark), a character that normalizes
    to = + - @ (or is the minus sign U+2212); a leading tab or line break; or = + @ after
    a separator."""
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    shown = "".join(
        ch
        for ch in unicodedata.normalize("NFKC", cell)
        if ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    stripped = shown.lstrip()
    if stripped and stripped[0] in "=+-@\u2212":
        return True
    return re.search(r"[;,|\t\r\n]\s*[=+@]", shown) is not None


HOSTILE = st.one_of(
    st.sampled_from(
        [
            "=HYPERLINK(1)",
            "\n=1+1",
            " =1+1",
            "\t=1",
            "\r=1",
            "＝1+1",
            "﹢1",
            "a;=cmd()",
            "x,@SUM(1)",
            "-2+3",
            "@x",
            "+1",
            "plain",
            "a, b",
            "x@y.com",
            "line\u2028break",
            "para\u2029graph",
            "next\x85line",
            # Characters that show nothing before the =: written raw until the probe.
            "\u200b=1+1",
            "\ufeff=1+1",
            "\u202e=1+1",
            "\x01@x",
            "a;\u2060=cmd()",
            "\u22121+2",
        ]
    ),
    st.text(
        alphabet=st.sampled_from(
            "=+-@;, \t\r\n\u3000＝＋－＠﹦\u2028\u2029\x85ab1"
            "\u200b\ufeff\u200e\u202e\u00ad\x01\u2212"
        )
    ),
    st.text(),
).filter(lambda text: "\x00" not in text)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.tuples(HOSTILE, HOSTILE), min_size=1, max_size=8))
def test_csv_export_neutralizes_every_cell_a_spreadsheet_would_run(texts):
    """Issue 17: cells starting with \\n=, ' =', ＝, or holding ;= were written raw. Every
    cell that could run as a formula starts with ', and nothing else is changed."""
    index = MemoryIndexStore()
    put_entries(index, texts)
    out = io.StringIO()
    count = engine_over(index).export(out, "csv", columns=["app_id", "message"])
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert len(texts) == count == len(rows) - 1
    for (app_id, message), row in zip(texts, rows[1:], strict=True):
        for original, cell in zip((app_id, message), row, strict=True):
            if runs_as_formula(original):
                assert "'" + original == cell
            else:
                assert original == cell


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.tuples(HOSTILE, HOSTILE), min_size=1, max_size=8))
def test_jsonl_export_is_one_line_per_row_for_every_line_reader(texts):
    """Issue 17: U+2028, U+2029 and NEL were written raw, and str.splitlines split a
    record in two. Each row is one line by any reader's rule, and reads back exactly."""
    index = MemoryIndexStore()
    put_entries(index, texts)
    out = io.StringIO()
    count = engine_over(index).export(out, "jsonl", columns=["app_id", "message"])
    lines = out.getvalue().splitlines()
    assert len(texts) == count == len(lines)
    assert [{"app_id": a, "message": m} for a, m in texts] == [json.loads(x) for x in lines]


class _BreaksAfter(MemoryIndexStore):
    """An index whose listing fails after ``good`` entries (a disk error, a lost server)."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def entries(self, *args, **kwargs):
        for n, entry in enumerate(super().entries(*args, **kwargs)):
            if n == self.good:
                raise IndexStoreError("reading the index failed: disk I/O error")
            yield entry


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_that_fails_half_way_leaves_the_earlier_file_and_no_partial_one(tmp_path, fmt):
    """Issue 17: the file was truncated, then half-written. Now it is written to a
    temporary file beside it and renamed only when complete."""
    index = _BreaksAfter(good=3)
    put_entries(index, [(f"a{i}", "ok") for i in range(10)])
    target = tmp_path / f"listing.{fmt}"
    target.write_text("the export of yesterday\n")
    with pytest.raises(IndexStoreError):
        engine_over(index).export(target, fmt)
    assert "the export of yesterday\n" == target.read_text()
    assert [target.name] == [p.name for p in tmp_path.iterdir()]
    index.good = 100
    assert 10 == engine_over(index).export(target, fmt)
    assert [target.name] == [p.name for p in tmp_path.iterdir()]


def test_an_id_that_is_not_valid_unicode_does_not_stop_the_export(tmp_path):
    """A lone surrogate in one id stopped the export half-way; it is written escaped."""
    index = MemoryIndexStore()
    put_entries(index, [("a1", "ok"), ("bad\ud800id", "ok"), ("a3", "ok")])
    target = tmp_path / "listing.csv"
    assert 3 == engine_over(index).export(target, "csv", columns=["app_id"])
    assert ["app_id", "a1", "bad\\ud800id", "a3"] == target.read_text("utf-8").split()


# ---- config and flag edges: exit 2 naming the file and key (or flag), no traceback --------

CONFIG = """\
sync_id = "s"

[hub]
kind = "{hub_kind}"
path = "crm.db"
{hub_extra}
schemas.contacts.properties = [{{name = "email", unique = true}}, {{name = "firstname"}}]

[app]
kind = "sqlite"
path = "sales.db"
schemas.people.properties = [{{name = "mail", unique = true}}, {{name = "first_name"}}]

[index]
{index}

[[objects]]
hub_type = "contacts"
app_type = "people"
mappings = [["email", "mail"], ["firstname", "first_name"]]
"""


def write_config(folder, *, hub_kind="sqlite", hub_extra="", index='kind = "memory"'):
    """A config file of two SQLite apps; its path."""
    path = folder / "sync.toml"
    path.write_text(
        CONFIG.format(hub_kind=hub_kind, hub_extra=hub_extra, index=index), encoding="utf-8"
    )
    return path


def command(*args: str):
    """``syncengine ARGS`` in this process; its result."""
    from syncengine.cli import main

    return CliRunner().invoke(main, list(args))


def one_error_line(result, code: int = 2) -> str:
    """The command failed with ``code`` and one line on standard error, no traceback."""
    assert code == result.exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    return line


def test_the_config_works_as_written(tmp_path):
    """The baseline the edges below change one thing of."""
    result = command("run", str(write_config(tmp_path)))
    assert 0 == result.exit_code, result.output


def test_a_plugin_module_that_raises_at_import_is_one_line(tmp_path, monkeypatch):
    """Issue 17: a 55-line traceback and exit 1. Now exit 2 naming hub.kind."""
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    line = one_error_line(
        command("run", str(write_config(tmp_path, hub_kind="broken_plugin:NotesAdapter")))
    )
    assert f"{tmp_path / 'sync.toml'}: hub.kind:" in line
    assert "RuntimeError: half-installed" in line


@pytest.mark.parametrize("target", ["os:system", "recorder:record", "recorder:NOT_A_CLASS"])
def test_a_module_path_kind_must_name_an_adapter_class(tmp_path, monkeypatch, target):
    """Issue 17: `kind = "os:system"` imported os and called system(options). A kind
    written module:Name is loaded only if Name is an Adapter subclass; nothing is called."""
    (tmp_path / "recorder.py").write_text(
        "import pathlib\nNOT_A_CLASS = 3\n"
        "def record(options, *, base_dir):\n"
        "    pathlib.Path(base_dir, 'called').write_text('yes')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    line = one_error_line(command("run", str(write_config(tmp_path, hub_kind=target))))
    assert "hub.kind:" in line
    assert "not an adapter class" in line
    assert not (tmp_path / "called").exists()


@pytest.mark.parametrize(
    ("hub_extra", "key"),
    [
        ("page_size = 99999999999999999999", "hub.page_size"),
        ("max_batch_size = 99999999999999999999", "hub.max_batch_size"),
        # Fits 64 bits, but a scan asked SQLite for page_size + 1 rows: OverflowError,
        # exit 1 ("unknown") in the pass. A page is held in memory: at most a million.
        ("page_size = 9223372036854775807", "hub.page_size"),
        ("page_size = 1000001", "hub.page_size"),
    ],
)
def test_an_integer_option_beyond_any_store_is_refused(tmp_path, hub_extra, key):
    """Issue 17: page_size = 99999999999999999999 was accepted, then failed in a pass."""
    line = one_error_line(command("run", str(write_config(tmp_path, hub_extra=hub_extra))))
    assert f"{tmp_path / 'sync.toml'}: {key}: expected an integer ≤" in line


def test_an_index_path_that_cannot_be_opened_names_the_file_and_key(tmp_path):
    """A folder where the index file should be: exit 2 naming index.path."""
    (tmp_path / "index.db").mkdir()
    config = write_config(tmp_path, index='kind = "sqlite"\npath = "index.db"')
    line = one_error_line(command("run", str(config), "--new"))
    assert f"{config}: index.path: cannot open the index file" in line


@pytest.mark.parametrize(
    "dsn", ["host=x password=hunter2 port", "postgresql://me:hunter2@localhost:notaport/db"]
)
def test_a_bad_dsn_names_the_file_and_key(tmp_path, dsn):
    """A malformed DSN: exit 2 naming index.dsn (and never the password)."""
    pytest.importorskip("psycopg")
    config = write_config(tmp_path, index=f'kind = "postgres"\ndsn = "{dsn}"')
    line = one_error_line(command("status", str(config)))
    assert f"{config}: index.dsn: cannot open the index database" in line
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--interval", "1e308"),
        ("--interval", "inf"),
        ("--interval", "nan"),
        ("--interval", "-1"),
        ("--workers", "100000"),
        ("--partition", "0/99999999999999999999"),
    ],
)
def test_a_flag_value_out_of_range_is_a_usage_error(tmp_path, flag, value):
    """Issue 17: --interval 1e308, inf or nan crashed time.sleep with a traceback, and
    --workers started as many processes as asked. Exit 2 naming the flag, before anything
    runs."""
    config = write_config(tmp_path)
    result = command("run", str(config), "--watch", "--passes", "2", flag, value)
    assert 2 == result.exit_code, result.output
    assert flag in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "crm.db").exists()


@pytest.mark.parametrize("contacts", ["5", "19", "100000000"])
def test_the_demo_refuses_a_contact_count_it_cannot_build(tmp_path, contacts):
    """Fewer than 20 contacts crashed the demo half-way with a traceback; a huge count
    would run for hours. Exit 2 naming --contacts, nothing built."""
    result = command("demo", "--dir", str(tmp_path / "demo"), "--contacts", contacts)
    assert 2 == result.exit_code, result.output
    assert "--contacts" in result.output
    assert not (tmp_path / "demo").exists()
