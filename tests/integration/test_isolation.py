"""A bad record never fails its neighbours (issue 17 §1, SPEC X1).

Lone surrogates in values and ids, rows that are not UTF-8 in a SQLite app, adapters that
reject a whole batch for one record: each fails that record alone, named, and the rest
syncs.
"""

from __future__ import annotations

import math
import sqlite3

import pytest

from syncengine import (
    AdapterError,
    ConfigError,
    ErrorCategory,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    PropertyType,
    RecordState,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter, NewRecord, RecordUpdate, SQLiteAdapter
from syncengine.index import MemoryIndexStore, SQLiteIndexStore

CONTACTS = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, unique=True),
        PropertySpec("name", PropertyType.STRING),
    ],
)


def config() -> SyncConfig:
    return SyncConfig(
        "s",
        [
            ObjectSync(
                "contacts",
                "contacts",
                mappings=[FieldMapping("email", "email"), FieldMapping("name", "name")],
                match=MatchRule([("email", "email")]),
            )
        ],
    )


class PickyApp(InMemoryAdapter):
    """An app whose client fails a whole call when one value is bad, as many do.

    Its encoder raises for the whole batch (like a JSON encoder meeting a lone surrogate):
    the call writes nothing and names no item.
    """

    def __init__(self, *args, idempotent: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.idempotent = idempotent
        self.write_calls = 0

    @property
    def supports_idempotency_keys(self):  # type: ignore[override]
        return self.idempotent

    def _refuse(self, values_list):
        self.write_calls += 1
        for values in values_list:
            if "BAD" in str(values.get("name", "")):
                raise ValueError("the request could not be encoded")

    def create(self, object_type, items):
        self._refuse([i.properties for i in items])
        return super().create(object_type, items)

    def update(self, object_type, items):
        self._refuse([i.properties for i in items])
        return super().update(object_type, items)


@pytest.fixture(params=["memory", "sqlite"])
def index(request, tmp_path):
    store = MemoryIndexStore() if request.param == "memory" else SQLiteIndexStore(tmp_path / "i.db")
    yield store
    store.close()


class TestBatchesRejectedAsAWhole:
    def test_one_bad_record_among_100_fails_alone_for_about_2_log2_n_extra_calls(self, index):
        """A batch of 100 the app rejects for one record: 99 are written, 1 fails."""
        hub = InMemoryAdapter([CONTACTS])
        app = PickyApp([CONTACTS])
        for n in range(100):
            hub.put("contacts", email=f"u{n}@x.io", name="BAD" if n == 37 else f"n{n}")
        engine = SyncEngine(hub, app, index, config())
        report = engine.initial_sync()
        assert 99 == report.created
        assert 1 == report.failed
        extra = app.write_calls - 1
        assert extra <= 2 * math.ceil(math.log2(100)), extra
        (failed,) = list(engine.records("contacts", RecordState.FAILED))
        assert failed.hub_id is not None
        assert "BAD" == hub.get("contacts", failed.hub_id).properties["name"]
        assert failed.category is ErrorCategory.UNKNOWN
        assert "could not be encoded" in failed.message
        assert 99 == sum(len(p.records) for p in app.scan("contacts"))

    def test_many_bad_records_each_fail_alone_for_at_most_2n_calls(self, index):
        """Ten bad records spread over a batch of 100: 90 are written, each bad one fails."""
        hub = InMemoryAdapter([CONTACTS])
        app = PickyApp([CONTACTS])
        bad = set(range(0, 100, 10))
        for n in range(100):
            hub.put("contacts", email=f"u{n}@x.io", name="BAD" if n in bad else f"n{n}")
        engine = SyncEngine(hub, app, index, config())
        report = engine.initial_sync()
        assert (90, 10) == (report.created, report.failed)
        assert app.write_calls <= 2 * 100 - 1

    def test_updates_are_narrowed_down_too(self, index):
        hub = InMemoryAdapter([CONTACTS])
        app = PickyApp([CONTACTS])
        ids = [hub.put("contacts", email=f"u{n}@x.io", name=f"n{n}").id for n in range(40)]
        engine = SyncEngine(hub, app, index, config())
        engine.initial_sync()
        for n, record_id in enumerate(ids):
            hub.update(
                "contacts", [RecordUpdate(record_id, {"name": "BAD" if n in (3, 30) else f"m{n}"})]
            )
        report = engine.incremental_sync()
        assert 38 == report.updated
        failed = {e.hub_id for e in engine.records("contacts", RecordState.FAILED)}
        assert {ids[3], ids[30]} == failed

    def test_creates_without_idempotency_keys_are_not_resent_after_an_unknown_failure(self, index):
        """An unknown failure may have created records: re-sending could duplicate them."""
        hub = InMemoryAdapter([CONTACTS])
        app = PickyApp([CONTACTS], idempotent=False)
        for n in range(10):
            hub.put("contacts", email=f"u{n}@x.io", name="BAD" if n == 4 else f"n{n}")
        report = SyncEngine(hub, app, index, config()).initial_sync()
        assert 1 == app.write_calls
        assert 10 == report.failed

    def test_a_validation_error_for_the_whole_batch_is_narrowed_down_without_keys(self, index):
        """An app that says the request is invalid wrote nothing: parts may be re-sent."""

        class Strict(PickyApp):
            def _refuse(self, values_list):
                try:
                    super()._refuse(values_list)
                except ValueError:
                    raise AdapterError(ErrorCategory.VALIDATION, "name: invalid") from None

        hub = InMemoryAdapter([CONTACTS])
        app = Strict([CONTACTS], idempotent=False)
        for n in range(10):
            hub.put("contacts", email=f"u{n}@x.io", name="BAD" if n == 4 else f"n{n}")
        report = SyncEngine(hub, app, index, config()).initial_sync()
        assert (9, 1) == (report.created, report.failed)

    def test_the_app_being_down_is_not_narrowed_down(self, index):
        class Down(PickyApp):
            def _refuse(self, values_list):
                self.write_calls += 1
                raise AdapterError(ErrorCategory.UNAVAILABLE, "503")

        hub = InMemoryAdapter([CONTACTS])
        app = Down([CONTACTS])
        for n in range(10):
            hub.put("contacts", email=f"u{n}@x.io", name=f"n{n}")
        report = SyncEngine(hub, app, index, config()).initial_sync()
        assert 1 == app.write_calls
        assert 10 == report.failed


class TestLoneSurrogateValues:
    """A value cut mid-emoji fails its record (validation, naming the property), alone."""

    def test_sqlite_app_writes_the_neighbours(self, index, tmp_path):
        hub = InMemoryAdapter([CONTACTS])
        app = SQLiteAdapter(tmp_path / "app.db", [CONTACTS])
        for n in range(30):
            hub.put("contacts", email=f"u{n}@x.io", name="Jo \ud83d" if n == 7 else f"n{n}")
        engine = SyncEngine(hub, app, index, config())
        report = engine.initial_sync()
        assert (29, 1) == (report.created, report.failed)
        (failed,) = list(engine.records("contacts", RecordState.FAILED))
        assert failed.category is ErrorCategory.VALIDATION
        assert "'name'" in failed.message
        assert "lone surrogate" in failed.message
        again = engine.incremental_sync()
        assert 0 == again.created
        app.close()


class TestTextThatIsNotUtf8InASQLiteApp:
    """A row another program wrote with bytes that are not UTF-8 fails alone (X1)."""

    def _app(self, tmp_path, count=6):
        app = SQLiteAdapter(tmp_path / "app.db", [CONTACTS])
        ids = [
            app.create("contacts", [NewRecord({"email": f"u{n}@x.io", "name": f"n{n}"}, f"k{n}")])[
                0
            ].record_id
            for n in range(count)
        ]
        return app, ids

    def _spoil(self, tmp_path, record_id):
        outside = sqlite3.connect(tmp_path / "app.db")
        outside.execute(
            "UPDATE contacts SET name = CAST(x'4a6fff' AS TEXT) WHERE __id = ?", (record_id,)
        )
        outside.commit()
        outside.close()

    def test_initial_sync_and_reconcile_fail_that_record_alone_named_by_id(self, index, tmp_path):
        app, ids = self._app(tmp_path)
        self._spoil(tmp_path, ids[2])
        hub = InMemoryAdapter([CONTACTS])
        engine = SyncEngine(hub, app, index, config())
        report = engine.initial_sync()
        assert (5, 1) == (report.created, report.failed)
        (failed,) = list(engine.records("contacts", RecordState.FAILED))
        assert ids[2] == failed.app_id
        assert failed.category is ErrorCategory.VALIDATION
        assert "'name'" in failed.message
        assert "not UTF-8" in failed.message
        report = engine.reconcile()
        assert 0 == report.created
        assert [ids[2]] == [e.app_id for e in engine.records("contacts", RecordState.FAILED)]
        app.close()

    def test_an_incremental_pass_goes_on_past_the_row(self, index, tmp_path):
        app, ids = self._app(tmp_path)
        hub = InMemoryAdapter([CONTACTS])
        engine = SyncEngine(hub, app, index, config())
        engine.initial_sync()
        self._spoil(tmp_path, ids[4])
        app.update("contacts", [RecordUpdate(ids[0], {"name": "changed"})])
        engine.incremental_sync()
        names = {r.properties["name"] for p in hub.scan("contacts") for r in p.records}
        assert "changed" in names
        assert [ids[4]] == [e.app_id for e in engine.records("contacts", RecordState.FAILED)]
        app.close()

    def _row_with_bad_id(self, tmp_path):
        outside = sqlite3.connect(tmp_path / "app.db")
        outside.execute(
            "INSERT INTO contacts (__id, email, name) "
            "VALUES (CAST(x'6375748a' AS TEXT), 'cut@x.io', 'cut')"
        )
        outside.commit()
        outside.close()
        return "cut\udc8a"

    @pytest.mark.parametrize("when", ["initial", "incremental"])
    def test_an_id_that_is_not_utf8_fails_alone_and_every_pass_goes_on(self, index, tmp_path, when):
        # The id is read with its bad byte as a lone surrogate like any text; the scan
        # then looked the row's links up by that id (and, incrementally, the row itself),
        # which no query parameter can carry: every pass, reconcile included, stopped with
        # a raw UnicodeEncodeError ("error: unknown" from the command), nothing synced.
        app, ids = self._app(tmp_path)
        hub = InMemoryAdapter([CONTACTS])
        engine = SyncEngine(hub, app, index, config())
        if when == "incremental":
            engine.initial_sync()
        bad = self._row_with_bad_id(tmp_path)
        app.update("contacts", [RecordUpdate(ids[0], {"name": "changed"})])
        first = engine.initial_sync if when == "initial" else engine.incremental_sync
        for run in (first, engine.reconcile):
            report = run()
            assert 1 == report.failed, report.summary()
            assert any(repr(bad) in e and "lone surrogate" in e for e in report.errors), (
                report.errors
            )
        names = sorted(r.properties["name"] for p in hub.scan("contacts") for r in p.records)
        assert 6 == len(names)
        assert "changed" in names
        assert not list(engine.records("contacts", RecordState.FAILED))
        app.close()


class TestLoneSurrogateIds:
    """A record id that is no valid text fails that record alone, named (X1)."""

    def test_initial_sync_goes_on_and_names_the_id(self, index):
        hub = InMemoryAdapter([CONTACTS])
        app = InMemoryAdapter([CONTACTS])
        hub.put("contacts", id="cut\udcff", email="s@x.io", name="s")
        for n in range(5):
            hub.put("contacts", id=f"good{n}", email=f"g{n}@x.io", name="g")
        engine = SyncEngine(hub, app, index, config())
        report = engine.initial_sync()
        assert (5, 1) == (report.created, report.failed)
        assert any("'cut\\udcff'" in e and "lone surrogate" in e for e in report.errors)
        again = engine.incremental_sync()
        assert 0 == again.created


def test_a_link_to_an_id_that_is_not_utf8_neither_stops_the_pass_nor_waits(tmp_path):
    """Another program linked a deal to an account id holding bytes that are not UTF-8.

    The pass stopped: looking the linked id up in the SQLite index raised a raw
    UnicodeEncodeError (a traceback, exit 1), and once past that, the key that makes the
    link wait for its other end could not be stored (every pass, reconcile included).
    That end can never be indexed, so the link does not wait: the entry's history says
    why, and the pass goes on.
    """
    from click.testing import CliRunner

    from syncengine.cli import main

    folder = tmp_path / "demo"
    runner = CliRunner()
    built = runner.invoke(main, ["demo", "--dir", str(folder), "--contacts", "60"])
    assert 0 == built.exit_code, built.output
    outside = sqlite3.connect(folder / "sales.db")
    (deal,) = outside.execute("SELECT __id FROM opportunities ORDER BY __pos LIMIT 1").fetchone()
    outside.execute(
        "INSERT INTO _syncengine_links VALUES "
        "('opportunities', ?, 'accounts', CAST(x'7331ff' AS TEXT))",
        (deal,),
    )
    outside.execute("UPDATE opportunities SET title = title || ' (2)' WHERE __id = ?", (deal,))
    outside.commit()
    outside.close()
    config_file = str(folder / "syncengine.toml")
    for args in (["run", config_file], ["run", "--reconcile", config_file]):
        result = runner.invoke(main, args)
        assert 0 == result.exit_code, result.output
        assert "Traceback" not in result.output
    explained = runner.invoke(main, ["explain", config_file, "app", "opportunities", deal])
    assert 0 == explained.exit_code, explained.output
    assert "companies 's1\\udcff' not linked: its id holds a lone surrogate" in " ".join(
        explained.output.split()
    )
    title = (
        sqlite3.connect(folder / "crm.db")
        .execute("SELECT count(*) FROM deals WHERE dealname LIKE '% (2)'")
        .fetchone()
    )
    assert (1,) == title


def test_the_command_syncs_past_a_row_that_is_not_utf8_and_names_it(tmp_path):
    """`syncengine run` and `run --reconcile` over such a row: exit 0, the record named."""
    from click.testing import CliRunner

    from syncengine.cli import main

    folder = tmp_path / "demo"
    runner = CliRunner()
    built = runner.invoke(main, ["demo", "--dir", str(folder), "--contacts", "60"])
    assert 0 == built.exit_code, built.output
    outside = sqlite3.connect(folder / "sales.db")
    (record_id,) = outside.execute("SELECT __id FROM people ORDER BY __pos LIMIT 1").fetchone()
    outside.execute(
        "UPDATE people SET first_name = CAST(x'4bff' AS TEXT) WHERE __id = ?", (record_id,)
    )
    outside.commit()
    outside.close()
    config_file = str(folder / "syncengine.toml")
    for args in (["run", config_file], ["run", "--reconcile", config_file]):
        result = runner.invoke(main, args)
        assert 0 == result.exit_code, result.output
        assert "Traceback" not in result.output
    listed = runner.invoke(main, ["records", config_file, "--state", "failed"])
    assert 0 == listed.exit_code, listed.output
    (line,) = [line for line in listed.output.splitlines() if f" {record_id} " in line]
    assert "validation" in line
    assert "lone" in line


@pytest.mark.parametrize(
    ("hub_email", "app_email"),
    [
        ("jörg@bücher.de", "jörg@xn--bcher-kva.de"),
        ("ａｂ@example.com", "ab@example.com"),
        ("ＪÖＲＧ＠ＢÜＣＨＥＲ．ＤＥ", "Jörg@XN--BCHER-KVA.de"),
    ],
)
def test_unicode_spellings_of_one_email_pair_instead_of_duplicating(index, hub_email, app_email):
    """IDNA domains and full-width local parts match their plain spelling (issue 17, M6)."""
    hub = InMemoryAdapter([CONTACTS])
    app = InMemoryAdapter([CONTACTS])
    hub.put("contacts", email=hub_email, name="Jörg")
    app.put("contacts", email=app_email, name="Jörg")
    engine = SyncEngine(hub, app, index, config())
    report = engine.initial_sync()
    assert 0 == report.created
    (entry,) = list(engine.records("contacts"))
    assert entry.state is RecordState.SYNCED
    assert entry.hub_id is not None
    assert entry.app_id is not None


class TestTooManyPropertiesForSQLite:
    """More properties than SQLite has columns: refused when declared, clearly (issue 17)."""

    def test_refused_naming_the_type_the_count_and_the_limit(self, tmp_path):
        wide = ObjectSchema(
            "wide", [PropertySpec(f"p{n}", PropertyType.STRING) for n in range(2500)]
        )
        with pytest.raises(ConfigError) as caught:
            SQLiteAdapter(tmp_path / "app.db", [wide])
        message = str(caught.value)
        assert "'wide'" in message
        assert "2500 properties" in message
        assert "1996" in message
        assert "2000" in message

    def test_the_limit_itself_works_and_columns_declared_before_count(self, tmp_path):
        widest = [PropertySpec(f"p{n}", PropertyType.STRING) for n in range(1996)]
        app = SQLiteAdapter(tmp_path / "app.db", [ObjectSchema("wide", widest)])
        (result,) = app.create("wide", [NewRecord({s.name: "x" for s in widest}, "k")])
        assert 1996 == len(app.fetch("wide", [result.record_id])[result.record_id].properties)
        app.close()
        others = [PropertySpec(f"q{n}", PropertyType.STRING) for n in range(10)]
        with pytest.raises(ConfigError, match="1996 columns of properties declared before"):
            SQLiteAdapter(tmp_path / "app.db", [ObjectSchema("wide", others)])


class TestNamesSQLiteCannotHold:
    """Names a SQLite app cannot hold apart are refused when declared, naming the key.

    Before, two names differing only in ASCII case silently shared one column (a raw
    ``OperationalError``) or one table (records of one type listed under the other); a
    property named ``rowid`` hid the row id the adapter's triggers use (a row another
    program inserted failed with ``UNIQUE constraint failed``); a NUL or a lone surrogate
    in a name gave a raw ``ProgrammingError``/``UnicodeEncodeError``.
    """

    @pytest.mark.parametrize(
        ("names", "where", "says"),
        [
            (["Email", "email"], "t.properties[1]", "differ only in case"),
            (["rowid"], "t.properties[0]", "reserved"),
            (["x", "_ROWID_"], "t.properties[1]", "reserved"),
            (["OID"], "t.properties[0]", "reserved"),
            (["a\x00b"], "t.properties[0]", "NUL"),
            (["cut\ud83d"], "t.properties[0]", "lone surrogate"),
        ],
    )
    def test_property_names(self, tmp_path, names, where, says):
        schema = ObjectSchema("t", [PropertySpec(n, PropertyType.STRING) for n in names])
        with pytest.raises(ConfigError) as caught:
            SQLiteAdapter(tmp_path / "app.db", [schema])
        assert caught.value.path == where
        assert says in str(caught.value)

    @pytest.mark.parametrize(
        ("names", "says"),
        [
            (["People", "people"], "differ only in case"),
            (["t\x00"], "NUL"),
            (["cut\udc8a"], "lone surrogate"),
            ([""], "non-empty"),
        ],
    )
    def test_type_names(self, tmp_path, names, says):
        schemas = [ObjectSchema(n, [PropertySpec("a", PropertyType.STRING)]) for n in names]
        with pytest.raises(ConfigError, match=says) as caught:
            SQLiteAdapter(tmp_path / "app.db", schemas)
        assert caught.value.path == "name"

    def test_names_that_differ_beyond_ascii_case_are_kept_apart(self, tmp_path):
        # SQLite folds ASCII letters only: É and é are two columns, as declared.
        schemas = [
            ObjectSchema("lé", [PropertySpec("É", "string"), PropertySpec("é", "string")]),
            ObjectSchema("lÉ", [PropertySpec("a", "string")]),
        ]
        app = SQLiteAdapter(tmp_path / "app.db", schemas)
        (made,) = app.create("lé", [NewRecord({"É": "upper", "é": "lower"}, "k")])
        record = app.fetch("lé", [made.record_id])[made.record_id]
        assert {"É": "upper", "é": "lower"} == dict(record.properties)
        assert [] == [r for page in app.scan("lÉ") for r in page.records]
        app.close()


@pytest.mark.parametrize("kind", ["text", "exact", "company_name", "domain"])
def test_a_match_key_with_a_lone_surrogate_is_no_identifier(index, kind):
    """It stopped the pass with a raw UnicodeEncodeError from SQLiteIndexStore (issue 17)."""
    codes = ObjectSchema(
        "things",
        [PropertySpec("code", PropertyType.STRING), PropertySpec("name", PropertyType.STRING)],
    )
    hub = InMemoryAdapter([codes])
    app = InMemoryAdapter([codes])
    hub.put("things", code="acme\ud800.com", name="x")
    hub.put("things", code="acme.com", name="y")
    sync = ObjectSync(
        "things",
        "things",
        mappings=[FieldMapping("code", "code"), FieldMapping("name", "name")],
        match=MatchRule([("code", "code")], kinds=(kind,)),
    )
    engine = SyncEngine(hub, app, index, SyncConfig("s", [sync]))
    report = engine.initial_sync()
    assert 1 == report.created
    (excluded,) = list(engine.records("things", RecordState.EXCLUDED))
    assert "'code'" in excluded.message
