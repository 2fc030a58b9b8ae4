"""SQLiteAdapter on disk: types, reopening, several connections, and full syncs between two."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta, timezone

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
from syncengine.adapters import NewRecord, Pipeline, RecordUpdate, SQLiteAdapter, Stage
from syncengine.index import SQLiteIndexStore

EVERYTHING = ObjectSchema(
    "things",
    [
        PropertySpec("text", PropertyType.STRING),
        PropertySpec("count", PropertyType.NUMBER),
        PropertySpec("ratio", PropertyType.NUMBER),
        PropertySpec("flag", PropertyType.BOOL),
        PropertySpec("day", PropertyType.DATE),
        PropertySpec("moment", PropertyType.DATETIME),
        PropertySpec("kind", PropertyType.ENUM, options=("a", "b")),
        PropertySpec("tags", PropertyType.MULTI_ENUM, options=("x", "y", "z")),
    ],
)
VALUES = {
    "text": "Ærø – naïve “quotes”",
    "count": 3,
    "ratio": 0.1,
    "flag": False,
    "day": date(2024, 2, 29),
    "moment": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
    "kind": "b",
    "tags": frozenset({"z", "x"}),
}


@pytest.fixture
def things(tmp_path):
    """A fresh database with one type of every property type."""
    adapter = SQLiteAdapter(tmp_path / "things.db", [EVERYTHING], page_size=3)
    yield adapter
    adapter.close()


class TestValues:
    """Python types survive the database exactly, per PropertyType."""

    @pytest.mark.parametrize(
        ("put", "named"),
        [
            ({"text": "cut \ud83d"}, "the property 'text'"),
            ({"tags": ["x", "\udcff"]}, "the property 'tags'"),
            ({"id": "t\ud800"}, "the id"),
        ],
    )
    def test_put_refuses_a_lone_surrogate_naming_where(self, things, put, named):
        """A test's put of text no UTF-8 file can hold is refused, not a raw
        ``UnicodeEncodeError`` from sqlite3; nothing is stored."""
        with pytest.raises(ValueError, match="lone surrogate") as raised:
            things.put("things", **put)
        assert str(raised.value).startswith(f"things: {named} holds a lone surrogate")
        assert things.count("things") == 0

    def test_every_property_type_reads_back_as_the_same_python_type(self, things):
        """str, int, float, bool, date, aware datetime and frozenset come back as written."""
        (result,) = things.create("things", [NewRecord(VALUES, "k1")])
        record = things.fetch("things", [result.record_id])[result.record_id]
        assert VALUES == dict(record.properties)
        assert {k: type(v) for k, v in VALUES.items()} == {
            k: type(v) for k, v in record.properties.items()
        }
        assert timedelta(hours=2) == record.properties["moment"].utcoffset()

    def test_values_that_do_not_fit_their_type_read_back_as_stored(self, things):
        """put() may store garbage, as a sloppy app would; it is read back unchanged."""
        record = things.put("things", count="n/a", day="someday", tags="x")
        assert {"count": "n/a", "day": "someday", "tags": "x"} == dict(
            things.get("things", record.id).properties
        )

    @pytest.mark.parametrize(
        ("values", "category", "field"),
        [
            ({"count": "3"}, ErrorCategory.VALIDATION, "count"),
            ({"flag": 1}, ErrorCategory.VALIDATION, "flag"),
            ({"moment": datetime(2024, 1, 1)}, ErrorCategory.VALIDATION, "moment"),
            ({"kind": "c"}, ErrorCategory.VALIDATION, "kind"),
            ({"count": 2**64}, ErrorCategory.VALIDATION, "count"),
            ({"nope": 1}, ErrorCategory.VALIDATION, "nope"),
        ],
    )
    def test_a_value_of_the_wrong_type_fails_its_item_only(self, things, values, category, field):
        """Each bad item fails alone with VALIDATION, naming the field (SPEC X1)."""
        results = things.create(
            "things", [NewRecord({"text": "ok"}, ""), NewRecord(values, ""), NewRecord({}, "")]
        )
        assert [True, False, True] == [r.succeeded for r in results]
        assert category == results[1].category
        assert field in results[1].message
        assert 2 == things.count("things")

    def test_read_only_required_and_unique_properties_are_enforced(self, tmp_path):
        """Read-only → VALIDATION, required → REQUIRED_FIELD_MISSING, unique → DUPLICATE."""
        schema = ObjectSchema(
            "people",
            [
                PropertySpec("email", PropertyType.STRING, required=True, unique=True),
                PropertySpec("created", PropertyType.STRING, read_only=True),
            ],
        )
        with SQLiteAdapter(tmp_path / "p.db", [schema]) as app:
            results = app.create(
                "people",
                [
                    NewRecord({"email": "a@x.io"}, ""),
                    NewRecord({"email": "a@x.io"}, ""),
                    NewRecord({}, ""),
                    NewRecord({"email": "b@x.io", "created": "now"}, ""),
                ],
            )
            assert [None, ErrorCategory.DUPLICATE, ErrorCategory.REQUIRED_FIELD_MISSING] == [
                r.category for r in results[:3]
            ]
            assert ErrorCategory.VALIDATION == results[3].category
            (same,) = app.update(
                "people", [RecordUpdate(results[0].record_id, {"email": "a@x.io"})]
            )
            assert same.succeeded

    def test_more_items_than_max_batch_size_is_a_whole_call_failure(self, tmp_path):
        """A batch over max_batch_size raises AdapterError with VALIDATION."""
        with SQLiteAdapter(tmp_path / "t.db", [EVERYTHING], max_batch_size=2) as app:
            with pytest.raises(AdapterError) as caught:
                app.create("things", [NewRecord({}, "")] * 3)
            assert ErrorCategory.VALIDATION == caught.value.category

    def test_reserved_names_are_refused(self, tmp_path):
        """Property names starting with ``__`` are the adapter's own columns."""
        with pytest.raises(ConfigError, match="reserved"):
            SQLiteAdapter(
                tmp_path / "t.db", [ObjectSchema("t", [PropertySpec("__id", PropertyType.STRING)])]
            )

    def test_put_refuses_a_property_the_schema_does_not_declare(self, things):
        """The table has a column per declared property; put() says which one is missing."""
        with pytest.raises(KeyError, match="unknown property 'colour'"):
            things.put("things", colour="red")


class TestOnDisk:
    """The database is the app: it reopens, and several connections share it."""

    def test_reopening_keeps_schemas_records_links_pipelines_and_cursors(self, tmp_path):
        """SQLiteAdapter(path) alone reopens an app, and old cursors still resume."""
        path = tmp_path / "app.db"
        pipelines = {"things": [Pipeline("p", "Sales", (Stage("s1", "New"),))]}
        first = SQLiteAdapter(path, [EVERYTHING], pipelines=pipelines, id_prefix="t")
        a = first.put("things", VALUES)
        b = first.put("things", text="b")
        first.link("things", a.id, "things", b.id)
        cursor = list(first.scan("things"))[-1].cursor
        first.close()

        again = SQLiteAdapter(path)
        assert EVERYTHING == again.schema("things")
        assert VALUES == dict(again.get("things", a.id).properties)
        assert frozenset({b.id}) == again.get("things", a.id).associations["things"]
        assert tuple(pipelines["things"]) == tuple(again.pipelines("things"))
        again.patch("things", b.id, text="changed")
        (page,) = again.scan("things", cursor)
        assert [b.id] == [r.id for r in page.records]
        again.close()

    def test_a_second_connection_sees_changes_and_tombstones(self, tmp_path):
        """Two adapters on one file (as two processes would be) share changes and cursors."""
        path = tmp_path / "app.db"
        writer = SQLiteAdapter(path, [EVERYTHING])
        reader = SQLiteAdapter(path)
        kept = writer.put("things", text="kept")
        gone = writer.put("things", text="gone")
        cursor = list(reader.scan("things"))[-1].cursor
        writer.patch("things", kept.id, text="edited")
        writer.remove("things", gone.id)
        pages = list(reader.scan("things", cursor))
        assert ["edited"] == [r.properties["text"] for p in pages for r in p.records]
        assert [gone.id] == [i for p in pages for i in p.deleted]
        (result,) = reader.update("things", [RecordUpdate(gone.id, {"text": "x"})])
        assert ErrorCategory.DELETED == result.category
        writer.close()
        reader.close()

    def test_processes_writing_at_once_never_share_an_id_or_lose_a_change(self, tmp_path):
        """Two processes creating records in one file get distinct ids; none is lost."""
        path = tmp_path / "app.db"
        SQLiteAdapter(path, [EVERYTHING]).close()
        script = textwrap.dedent(
            f"""
            from syncengine.adapters import NewRecord, SQLiteAdapter
            app = SQLiteAdapter({str(path)!r})
            for n in range(40):
                app.create("things", [NewRecord({{"count": n}}, "")])
            app.close()
            """
        )
        workers = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
        assert [0, 0] == [w.wait(timeout=60) for w in workers]
        with SQLiteAdapter(path) as app:
            records = app.records("things")
            assert 80 == len({r.id for r in records})
            full = [r.id for p in app.scan("things") for r in p.records]
            changed = [r.id for p in app.scan("things", "c:0") for r in p.records]
            assert sorted(full) == sorted(changed)


HUB_CONTACTS = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, unique=True),
        PropertySpec("name", PropertyType.STRING),
        PropertySpec("since", PropertyType.DATE),
        PropertySpec("tags", PropertyType.MULTI_ENUM, options=("vip", "beta")),
    ],
)
APP_PEOPLE = ObjectSchema(
    "people",
    [
        PropertySpec("mail", PropertyType.STRING),
        PropertySpec("full_name", PropertyType.STRING, required=True),
        PropertySpec("since", PropertyType.DATE),
        PropertySpec("labels", PropertyType.MULTI_ENUM, options=("VIP", "Beta")),
    ],
)
CONFIG = SyncConfig(
    "sqlite-e2e",
    [
        ObjectSync(
            "contacts",
            "people",
            [
                FieldMapping("email", "mail"),
                FieldMapping("name", "full_name"),
                FieldMapping("since", "since"),
                FieldMapping("tags", "labels", options={"vip": "VIP", "beta": "Beta"}),
            ],
            match=MatchRule.email("email", "mail"),
        )
    ],
)


def test_full_sync_between_two_sqlite_apps_with_a_sqlite_index(tmp_path):
    """Initial and incremental passes between two database files converge, across reopening."""
    hub = SQLiteAdapter(tmp_path / "hub.db", [HUB_CONTACTS], id_prefix="h", page_size=7)
    app = SQLiteAdapter(tmp_path / "app.db", [APP_PEOPLE], id_prefix="a", page_size=5)
    with hub.transaction():
        for n in range(30):
            hub.put("contacts", email=f"p{n}@x.io", name=f"Person {n}", tags={"vip"})
        hub.put("contacts", email="nameless@x.io")  # the app requires a name
    with app.transaction():
        for n in range(20, 40):
            app.put("people", mail=f" P{n}@X.io", full_name=f"P. {n}", since=date(2024, 1, n - 19))
    index = SQLiteIndexStore(tmp_path / "index.db")
    engine = SyncEngine(hub, app, index, CONFIG)
    report = engine.initial_sync()
    assert (30, 1) == (report.created, report.failed)  # 20 in the app, 10 in the hub
    assert 40 == hub.count("contacts") - 1 == app.count("people")
    by_mail = {r.properties["mail"].strip().lower(): r for r in app.records("people")}
    assert frozenset({"VIP"}) == by_mail["p3@x.io"].properties["labels"]
    hubs = {r.properties["email"]: r for r in hub.records("contacts")}
    assert date(2024, 1, 5) == hubs["p24@x.io"].properties["since"]
    hub.close()
    app.close()
    index.close()

    hub, app = SQLiteAdapter(tmp_path / "hub.db"), SQLiteAdapter(tmp_path / "app.db")
    index = SQLiteIndexStore(tmp_path / "index.db")
    engine = SyncEngine(hub, app, index, CONFIG)
    person = next(
        r for r in app.records("people") if r.properties["mail"].strip().lower() == "p25@x.io"
    )
    app.patch("people", person.id, full_name="Renamed", labels=frozenset({"Beta"}))
    hub.put("contacts", email="late@x.io", name="Late")
    report = engine.incremental_sync()
    assert (1, 1) == (report.created, report.updated)
    hubs = {r.properties["email"]: r for r in hub.records("contacts")}
    assert ("Renamed", frozenset({"beta"})) == (
        hubs["p25@x.io"].properties["name"],
        hubs["p25@x.io"].properties["tags"],
    )
    counts = index.counts("sqlite-e2e")["contacts"]
    assert {RecordState.SYNCED: 41, RecordState.FAILED: 1} == {
        state: n for state, n in counts.items() if n
    }
    assert 0 == engine.incremental_sync().writes
    for closing in (hub, app, index):
        closing.close()


def test_updated_at_comes_from_the_injected_clock(tmp_path):
    """Changes take the clock's time, so tests never sleep."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with SQLiteAdapter(tmp_path / "t.db", [EVERYTHING], clock=lambda: now) as app:
        assert now == app.put("things", text="x").updated_at
