"""Unit tests of InMemoryAdapter: what it does beyond the shared adapter contract."""

from __future__ import annotations

import math
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from syncengine import AdapterError, ErrorCategory, ObjectSchema, PropertySpec, PropertyType
from syncengine.adapters import (
    AssociationChange,
    InMemoryAdapter,
    NewRecord,
    Pipeline,
    RecordUpdate,
    Stage,
)

CONTACTS = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, required=True, unique=True),
        PropertySpec("name", PropertyType.STRING),
        PropertySpec("score", PropertyType.NUMBER),
        PropertySpec("vip", PropertyType.BOOL),
        PropertySpec("birthday", PropertyType.DATE),
        PropertySpec("last_seen", PropertyType.DATETIME),
        PropertySpec("stage", PropertyType.ENUM, options=("lead", "customer")),
        PropertySpec("tags", PropertyType.MULTI_ENUM, options=("a", "b")),
        PropertySpec("created_by", PropertyType.STRING, read_only=True),
    ],
)
COMPANIES = ObjectSchema("companies", [PropertySpec("domain", PropertyType.STRING)])
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def app(clock):
    return InMemoryAdapter([CONTACTS, COMPANIES], page_size=2, max_batch_size=5, clock=clock)


def create(app, **props):
    (result,) = app.create("contacts", [NewRecord(props, "")])
    assert result.succeeded, result
    return result.record_id


def scan(app, since=None, object_type="contacts"):
    return list(app.scan(object_type, since))


def scan_ids(app, since=None):
    return [r.id for page in scan(app, since) for r in page.records]


class TestIds:
    def test_generated_ids_carry_the_prefix_and_count_up_across_types(self, clock):
        """Ids are the prefix plus a counter shared by all object types."""
        app = InMemoryAdapter([CONTACTS, COMPANIES], id_prefix="h", clock=clock)
        first = create(app, email="a@x")
        company = app.put("companies", domain="x.com")
        second = create(app, email="b@x")
        assert [first, company.id, second] == ["h1", "h2", "h3"]

    def test_a_removed_id_is_never_reused(self, app):
        """Removing the newest record does not give its id to the next one."""
        first = create(app, email="a@x")
        app.remove("contacts", first)
        assert create(app, email="b@x") != first

    def test_generated_ids_skip_ids_a_test_put_explicitly(self, app):
        """An id put by a test is never generated for another record."""
        app.put("contacts", id="1", email="a@x")
        assert create(app, email="b@x") == "2"


class TestClock:
    def test_create_and_update_take_updated_at_from_the_clock(self, app):
        """updated_at is the clock's reading at each change."""
        record_id = create(app, email="a@x")
        assert app.get("contacts", record_id).updated_at == T0 + timedelta(seconds=1)
        app.update("contacts", [RecordUpdate(record_id, {"name": "Ada"})])
        assert app.get("contacts", record_id).updated_at == T0 + timedelta(seconds=2)

    def test_put_accepts_an_explicit_updated_at(self, app):
        """A test may set the modification time of a record it puts."""
        when = datetime(2020, 5, 5, tzinfo=UTC)
        assert app.put("contacts", email="a@x", updated_at=when).updated_at == when

    def test_the_default_clock_is_utc_now(self):
        """Without a clock, updated_at is the current UTC time."""
        app = InMemoryAdapter([CONTACTS])
        before = datetime.now(UTC)
        record = app.put("contacts", email="a@x")
        assert record.updated_at is not None
        assert before <= record.updated_at <= datetime.now(UTC)


class TestScanCursors:
    def test_a_full_scan_yields_pages_of_page_size_with_position_cursors(self, app):
        """Full-scan pages carry 'f:' cursors and the last one a change cursor."""
        for i in range(5):
            create(app, email=f"{i}@x")
        pages = scan(app)
        assert [len(p.records) for p in pages] == [2, 2, 1]
        assert [p.cursor for p in pages] == ["f:2:5", "f:4:5", "c:5"]

    def test_an_empty_type_yields_one_empty_page_with_a_cursor(self, app):
        """A scan always yields at least one page."""
        create(app, email="a@x")
        pages = scan(app, object_type="companies")
        assert len(pages) == 1
        assert pages[0].records == ()
        assert pages[0].cursor == "c:1"

    def test_a_page_cursor_resumes_the_full_scan_after_that_page(self, app):
        """scan(since='f:…') yields the records after that page, then the start cursor."""
        ids = [create(app, email=f"{i}@x") for i in range(5)]
        resumed = scan(app, scan(app)[0].cursor)
        assert [r.id for p in resumed for r in p.records] == ids[2:]
        assert resumed[-1].cursor == "c:5"

    def test_a_resumed_scan_skips_records_removed_before_the_resume(self, app):
        """Removed records leave holes that neither shift positions nor appear."""
        ids = [create(app, email=f"{i}@x") for i in range(5)]
        cursor = scan(app)[0].cursor
        app.remove("contacts", ids[2])
        assert scan_ids(app, cursor) == [ids[3], ids[4]]

    def test_changes_made_during_a_full_scan_appear_in_the_next_incremental_scan(self, app):
        """The last cursor of a full scan is the change number when it started."""
        ids = [create(app, email=f"{i}@x") for i in range(4)]
        pages = iter(app.scan("contacts"))
        next(pages)
        app.update("contacts", [RecordUpdate(ids[0], {"name": "during"})])
        new = create(app, email="new@x")
        rest = list(pages)
        assert new in [r.id for p in rest for r in p.records]
        assert scan_ids(app, rest[-1].cursor) == [ids[0], new]

    def test_an_incremental_scan_yields_changes_in_change_order_once_each(self, app):
        """A record changed twice appears once, at its latest change."""
        a, b, c = (create(app, email=f"{i}@x") for i in range(3))
        cursor = scan(app)[-1].cursor
        app.patch("contacts", a, name="1")
        app.patch("contacts", b, name="2")
        app.patch("contacts", a, name="3")
        assert scan_ids(app, cursor) == [b, a]
        assert c not in scan_ids(app, cursor)

    def test_incremental_pages_carry_cursors_that_resume_after_them(self, app):
        """Each incremental page's cursor points after its last change."""
        ids = [create(app, email=f"{i}@x") for i in range(5)]
        pages = scan(app, "c:0")
        assert [p.cursor for p in pages] == ["c:2", "c:4", "c:5"]
        assert scan_ids(app, pages[0].cursor) == ids[2:]

    def test_an_incremental_scan_reports_removed_ids_as_deleted(self, app):
        """Tombstones show up in Page.deleted, not as records."""
        a, b = create(app, email="a@x"), create(app, email="b@x")
        cursor = scan(app)[-1].cursor
        app.remove("contacts", a)
        (page,) = scan(app, cursor)
        assert page.records == ()
        assert page.deleted == (a,)
        assert b not in page.deleted

    def test_the_cursor_is_checked_when_scan_is_called(self, app):
        """A bad cursor raises before iteration starts."""
        with pytest.raises(ValueError, match="malformed cursor 'nope'"):
            app.scan("contacts", "nope")

    @pytest.mark.parametrize("cursor", ["c:", "c:-1", "f:1", "x:1", "c:1:2", " c:0"])
    def test_malformed_cursors_raise_value_error(self, app, cursor):
        """Only 'c:<seq>' and 'f:<position>:<seq>' are cursors."""
        with pytest.raises(ValueError, match="malformed cursor"):
            app.scan("contacts", cursor)

    @pytest.mark.parametrize("cursor", ["c:99", "f:0:99", "f:99:0"])
    def test_cursors_this_adapter_cannot_have_made_raise_value_error(self, app, cursor):
        """A cursor past the change sequence or the positions is unknown."""
        create(app, email="a@x")
        with pytest.raises(ValueError, match="unknown cursor"):
            app.scan("contacts", cursor)


class TestWrites:
    def test_created_values_are_stored_and_multi_selects_become_frozensets(self, app):
        """Create stores values as given, normalizing multi-selects."""
        record_id = create(app, email="a@x", tags=["a", "b"], score=1.5, name="")
        record = app.get("contacts", record_id)
        assert dict(record.properties) == {
            "email": "a@x",
            "tags": frozenset({"a", "b"}),
            "score": 1.5,
            "name": "",
        }

    def test_stored_properties_cannot_be_changed_through_a_fetched_record(self, app):
        """Records hand out read-only mappings."""
        record_id = create(app, email="a@x")
        record = app.fetch("contacts", [record_id])[record_id]
        with pytest.raises(TypeError):
            record.properties["email"] = "b@x"  # type: ignore[index]

    def test_an_update_merges_and_none_clears(self, app):
        """Named properties change, None removes one, others stay."""
        record_id = create(app, email="a@x", name="Ada", score=3)
        (result,) = app.update("contacts", [RecordUpdate(record_id, {"name": None, "score": 4})])
        assert result.succeeded
        assert dict(app.get("contacts", record_id).properties) == {"email": "a@x", "score": 4}

    def test_an_update_that_changes_nothing_does_not_count_as_a_change(self, app):
        """A no-op update keeps updated_at and the change cursor."""
        record_id = create(app, email="a@x", name="Ada")
        before = app.get("contacts", record_id)
        cursor = scan(app)[-1].cursor
        (result,) = app.update(
            "contacts", [RecordUpdate(record_id, {"name": "Ada", "score": None})]
        )
        assert result.succeeded
        assert app.get("contacts", record_id) == before
        (page,) = scan(app, cursor)
        assert page.records == ()
        assert page.cursor == cursor

    def test_updates_of_unknown_and_removed_ids_fail_alone(self, app):
        """Unknown ids are NOT_FOUND, removed ones DELETED, and the rest succeed."""
        a, b = create(app, email="a@x"), create(app, email="b@x")
        app.remove("contacts", b)
        results = app.update(
            "contacts",
            [RecordUpdate("404", {"name": "x"}), RecordUpdate(b, {}), RecordUpdate(a, {})],
        )
        assert [r.category for r in results] == [
            ErrorCategory.NOT_FOUND,
            ErrorCategory.DELETED,
            None,
        ]

    def test_an_idempotency_key_replays_the_first_create(self, app):
        """A repeated key returns the first id without creating a record."""
        item = NewRecord({"email": "a@x"}, "k1")
        (first,) = app.create("contacts", [item])
        (again,) = app.create("contacts", [item])
        assert again.record_id == first.record_id
        assert app.count("contacts") == 1

    def test_an_idempotency_key_replays_even_after_the_record_was_removed(self, app):
        """The key still names the record it made, which stays removed."""
        (first,) = app.create("contacts", [NewRecord({"email": "a@x"}, "k1")])
        app.remove("contacts", first.record_id)
        (again,) = app.create("contacts", [NewRecord({"email": "a@x"}, "k1")])
        assert again.record_id == first.record_id
        assert app.count("contacts") == 0

    def test_a_failed_create_does_not_use_up_its_key(self, app):
        """A key whose create failed creates the record when retried with good values."""
        (failed,) = app.create("contacts", [NewRecord({}, "k1")])
        (retried,) = app.create("contacts", [NewRecord({"email": "a@x"}, "k1")])
        assert not failed.succeeded
        assert retried.succeeded

    def test_a_unique_value_of_another_live_record_is_a_duplicate(self, app):
        """Unique values clash with live records, not with removed ones or the record itself."""
        a = create(app, email="a@x")
        (dup,) = app.create("contacts", [NewRecord({"email": "a@x"}, "")])
        assert dup.category is ErrorCategory.DUPLICATE
        assert "'email'" in dup.message
        (same,) = app.update("contacts", [RecordUpdate(a, {"email": "a@x"})])
        assert same.succeeded
        app.remove("contacts", a)
        assert create(app, email="a@x")

    def test_a_batch_with_a_duplicate_inside_it_fails_the_second(self, app):
        """Items of one batch see the records created before them."""
        results = app.create(
            "contacts", [NewRecord({"email": "a@x"}, ""), NewRecord({"email": "a@x"}, "")]
        )
        assert [r.category for r in results] == [None, ErrorCategory.DUPLICATE]


class TestValidation:
    @pytest.mark.parametrize(
        ("prop", "value", "expected"),
        [
            ("name", 5, "expects a str"),
            ("score", True, "expects an int or float (not bool)"),
            ("score", "5", "expects an int or float"),
            ("score", math.nan, "expects a finite number"),
            ("vip", 1, "expects a bool"),
            ("birthday", datetime(2020, 1, 1, tzinfo=UTC), "expects a datetime.date (not a"),
            ("last_seen", datetime(2020, 1, 1), "expects a timezone-aware datetime"),
            ("last_seen", date(2020, 1, 1), "expects a timezone-aware datetime"),
            ("stage", "partner", "expects one of 'lead', 'customer'"),
            ("tags", frozenset({"z"}), "expects a set of options among 'a', 'b'"),
            ("tags", "a", "expects a set of options"),
        ],
    )
    def test_a_value_of_the_wrong_type_fails_naming_property_and_type(
        self, app, prop, value, expected
    ):
        """Wrong Python types fail with VALIDATION, naming the property and expected type."""
        (result,) = app.create("contacts", [NewRecord({"email": "a@x", prop: value}, "")])
        assert result.category is ErrorCategory.VALIDATION
        assert f"property {prop!r} {expected}" in result.message

    @pytest.mark.parametrize(
        ("prop", "value"),
        [
            ("score", 3),
            ("score", 2.5),
            ("vip", False),
            ("birthday", date(2020, 1, 1)),
            ("last_seen", datetime(2020, 1, 1, tzinfo=UTC)),
            ("stage", "lead"),
            ("tags", {"a"}),
            ("tags", ("a", "b")),
            ("tags", frozenset()),
            ("name", None),
            ("score", ""),
        ],
    )
    def test_values_of_the_right_type_and_blanks_are_accepted(self, app, prop, value):
        """Each type accepts its Python values, and any property accepts a blank."""
        (result,) = app.create("contacts", [NewRecord({"email": "a@x", prop: value}, "")])
        assert result.succeeded, result.message

    def test_an_unknown_property_fails_naming_it(self, app):
        """Properties the schema does not list fail with VALIDATION."""
        (result,) = app.create("contacts", [NewRecord({"email": "a@x", "nope": 1}, "")])
        assert result.category is ErrorCategory.VALIDATION
        assert "unknown property 'nope'" in result.message

    def test_a_read_only_property_fails_naming_it(self, app):
        """Writing a read-only property fails with VALIDATION."""
        (result,) = app.create("contacts", [NewRecord({"email": "a@x", "created_by": "me"}, "")])
        assert result.category is ErrorCategory.VALIDATION
        assert "property 'created_by' is read-only" in result.message

    @pytest.mark.parametrize("values", [{}, {"email": None}, {"email": ""}, {"name": "Ada"}])
    def test_a_missing_or_blank_required_property_fails_naming_it(self, app, values):
        """Creates without a required value fail with REQUIRED_FIELD_MISSING."""
        (result,) = app.create("contacts", [NewRecord(values, "")])
        assert result.category is ErrorCategory.REQUIRED_FIELD_MISSING
        assert "required property 'email'" in result.message

    def test_an_update_may_not_clear_a_required_property(self, app):
        """Clearing a required property fails and leaves the record as it was."""
        record_id = create(app, email="a@x")
        (result,) = app.update("contacts", [RecordUpdate(record_id, {"email": None})])
        assert result.category is ErrorCategory.REQUIRED_FIELD_MISSING
        assert app.get("contacts", record_id).properties["email"] == "a@x"

    def test_one_bad_item_fails_only_itself(self, app):
        """Results come one per item, in order."""
        results = app.create(
            "contacts",
            [NewRecord({"email": "a@x"}, ""), NewRecord({}, ""), NewRecord({"email": "b@x"}, "")],
        )
        assert [r.succeeded for r in results] == [True, False, True]
        assert app.count("contacts") == 2


class TestBatchesAndTypes:
    def test_calls_with_max_batch_size_items_work(self, app):
        """Exactly max_batch_size items are accepted."""
        results = app.create("contacts", [NewRecord({"email": f"{i}@x"}, "") for i in range(5)])
        assert len(app.fetch("contacts", [r.record_id for r in results])) == 5

    @pytest.mark.parametrize("method", ["fetch", "create", "update", "associate"])
    def test_more_than_max_batch_size_items_fail_the_whole_call(self, app, method):
        """Oversized batches raise AdapterError(VALIDATION) and change nothing."""
        calls = {
            "fetch": lambda: app.fetch("contacts", [str(i) for i in range(6)]),
            "create": lambda: app.create("contacts", [NewRecord({"email": "a@x"}, "")] * 6),
            "update": lambda: app.update("contacts", [RecordUpdate("1", {})] * 6),
            "associate": lambda: app.associate([AssociationChange("a", "1", "b", "2")] * 6),
        }
        with pytest.raises(AdapterError, match="got 6 items; max_batch_size is 5") as info:
            calls[method]()
        assert info.value.category is ErrorCategory.VALIDATION
        assert app.count("contacts") == 0

    def test_an_undeclared_object_type_is_not_found(self, app):
        """Every method names the unknown type and how to declare it."""
        with pytest.raises(AdapterError, match="unknown object type 'deals'") as info:
            app.scan("deals")
        assert info.value.category is ErrorCategory.NOT_FOUND
        with pytest.raises(AdapterError, match="add_schema"):
            app.put("deals", name="x")

    def test_add_schema_declares_a_type_later(self, app):
        """A type declared after construction is usable at once."""
        app.add_schema(ObjectSchema("deals", [PropertySpec("amount", PropertyType.NUMBER)]))
        assert app.schema("deals").name == "deals"
        (result,) = app.create("deals", [NewRecord({"amount": 5}, "")])
        assert result.succeeded

    def test_fetch_leaves_out_unknown_and_removed_ids(self, app):
        """Only live records are returned."""
        a, b = create(app, email="a@x"), create(app, email="b@x")
        app.remove("contacts", b)
        assert list(app.fetch("contacts", [a, b, "404"])) == [a]

    @pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"max_batch_size": 0}])
    def test_sizes_below_one_are_refused(self, kwargs):
        """page_size and max_batch_size must be at least 1."""
        with pytest.raises(ValueError, match="at least 1"):
            InMemoryAdapter(**kwargs)


class TestPipelines:
    PIPELINE = Pipeline("p1", "Sales", [Stage("s1", "New"), Stage("s2", "Won")])

    def test_configured_pipelines_are_returned(self, clock):
        """pipelines() returns what the constructor was given."""
        app = InMemoryAdapter([CONTACTS], pipelines={"deals": [self.PIPELINE]}, clock=clock)
        assert list(app.pipelines("deals")) == [self.PIPELINE]

    def test_a_type_without_pipelines_has_none(self, app):
        """An unconfigured type returns an empty sequence."""
        assert list(app.pipelines("contacts")) == []

    def test_set_pipelines_replaces_the_pipelines_of_a_type(self, app):
        """Tests can change pipelines after construction."""
        app.set_pipelines("contacts", [self.PIPELINE])
        assert list(app.pipelines("contacts")) == [self.PIPELINE]

    def test_denied_pipelines_raise_permission_until_allowed_again(self, app):
        """deny_pipelines simulates a missing scope (SPEC A5)."""
        app.set_pipelines("deals", [self.PIPELINE])
        app.deny_pipelines("deals")
        with pytest.raises(AdapterError, match="may not read the pipelines") as info:
            app.pipelines("deals")
        assert info.value.category is ErrorCategory.PERMISSION
        app.deny_pipelines("deals", denied=False)
        assert list(app.pipelines("deals")) == [self.PIPELINE]


class TestAssociations:
    def test_associate_links_both_records_and_counts_as_a_change_of_both(self, app):
        """The from-record and a declared to-record get links and new change numbers."""
        contact = create(app, email="a@x")
        company = app.put("companies", domain="x.com").id
        cursor = scan(app)[-1].cursor
        (result,) = app.associate([AssociationChange("contacts", contact, "companies", company)])
        assert result.record_id == contact
        assert app.get("contacts", contact).associations == {"companies": frozenset({company})}
        assert app.get("companies", company).associations == {"contacts": frozenset({contact})}
        assert scan_ids(app, cursor) == [contact]
        assert [r.id for p in scan(app, cursor, "companies") for r in p.records] == [company]

    def test_associating_an_existing_link_succeeds_without_a_change(self, app):
        """A repeated link is a no-op."""
        a, b = create(app, email="a@x"), create(app, email="b@x")
        pair = AssociationChange("contacts", a, "contacts", b)
        app.associate([pair])
        cursor = scan(app)[-1].cursor
        (result,) = app.associate([pair])
        assert result.succeeded
        assert scan_ids(app, cursor) == []

    def test_a_link_to_an_undeclared_type_is_kept_on_the_from_record_only(self, app):
        """Types this adapter does not hold are taken on trust."""
        contact = create(app, email="a@x")
        (result,) = app.associate([AssociationChange("contacts", contact, "deals", "d9")])
        assert result.succeeded
        assert app.get("contacts", contact).associations == {"deals": frozenset({"d9"})}

    def test_a_missing_record_fails_its_pair_alone_with_not_found(self, app):
        """Unknown or removed ends fail with NOT_FOUND; other pairs go through."""
        a, b = create(app, email="a@x"), create(app, email="b@x")
        app.remove("contacts", b)
        results = app.associate(
            [
                AssociationChange("contacts", "404", "contacts", a),
                AssociationChange("contacts", a, "contacts", b),
                AssociationChange("nope", a, "contacts", a),
                AssociationChange("contacts", a, "companies", "404"),
                AssociationChange("contacts", a, "deals", "d1"),
            ]
        )
        assert [r.category for r in results] == [ErrorCategory.NOT_FOUND] * 4 + [None]
        assert "was deleted" in results[1].message

    def test_link_adds_both_sides_like_associate(self, app):
        """The test-side link helper links without counting a call."""
        contact = create(app, email="a@x")
        company = app.put("companies", domain="x.com").id
        app.link("contacts", contact, "companies", company)
        assert app.get("companies", company).associations == {"contacts": frozenset({contact})}
        assert app.calls["associate"] == 0


class TestHelpers:
    def test_put_replaces_a_record_in_place_keeping_its_links(self, app):
        """A replaced record keeps its scan position and associations."""
        a = app.put("contacts", email="a@x", associations={"companies": ["c1"]})
        b = app.put("contacts", email="b@x")
        app.put("contacts", {"email": "new@x"}, id=a.id)
        assert scan_ids(app) == [a.id, b.id]
        record = app.get("contacts", a.id)
        assert dict(record.properties) == {"email": "new@x"}
        assert record.associations == {"companies": frozenset({"c1"})}

    def test_put_bypasses_validation(self, app):
        """Tests can store what the app's users could, even if the engine could not."""
        record = app.put("contacts", created_by="import", score="not a number")
        assert dict(record.properties) == {"created_by": "import", "score": "not a number"}

    def test_put_stores_a_malformed_multi_select_as_it_came(self, app):
        """Nested lists cannot be a set of options: kept as given, for hostile-input tests."""
        record = app.put("contacts", tags=[["a"], {"b": 1}])
        assert [["a"], {"b": 1}] == record.properties["tags"]
        assert record.id in {r.id for r in app.records("contacts")}

    def test_put_brings_a_removed_id_back(self, app):
        """Putting a removed id revives it and it leaves Page.deleted."""
        a = create(app, email="a@x")
        cursor = scan(app)[-1].cursor
        app.remove("contacts", a)
        app.put("contacts", id=a, email="a@x")
        (page,) = scan(app, cursor)
        assert [r.id for r in page.records] == [a]
        assert page.deleted == ()

    def test_patch_merges_clears_and_always_counts_as_a_change(self, app):
        """patch(type, id) with no values touches the record."""
        a = create(app, email="a@x", name="Ada")
        app.patch("contacts", a, name=None, tags=["a"])
        assert dict(app.get("contacts", a).properties) == {"email": "a@x", "tags": frozenset("a")}
        cursor = scan(app)[-1].cursor
        app.patch("contacts", a)
        assert scan_ids(app, cursor) == [a]

    @pytest.mark.parametrize("helper", ["patch", "remove"])
    def test_helpers_on_a_missing_record_raise_key_error(self, app, helper):
        """A test that names a record that is not there is told so."""
        with pytest.raises(KeyError, match="'404' does not exist"):
            getattr(app, helper)("contacts", "404")

    def test_get_records_and_count_show_live_records(self, app):
        """The read helpers see live records in insertion order."""
        a, b = create(app, email="a@x"), create(app, email="b@x")
        app.remove("contacts", a)
        assert app.get("contacts", a) is None
        assert [r.id for r in app.records("contacts")] == [b]
        assert app.count("contacts") == 1


class TestCalls:
    def test_calls_count_engine_facing_methods_and_items_written(self, app):
        """Full and incremental scans are counted apart; helpers are not counted."""
        a = app.put("contacts", email="a@x").id
        pages = scan(app)
        scan(app, pages[-1].cursor)
        app.fetch("contacts", [a])
        app.create("contacts", [NewRecord({"email": "b@x"}, ""), NewRecord({}, "")])
        app.update("contacts", [RecordUpdate(a, {"name": "Ada"})])
        app.associate([AssociationChange("contacts", a, "deals", "d1")])
        app.pipelines("contacts")
        app.schema("contacts")
        assert app.calls == {
            "scan_full": 1,
            "scan_since": 1,
            "fetch": 1,
            "create": 1,
            "update": 1,
            "associate": 1,
            "pipelines": 1,
            "schema": 1,
            "items_written": 4,
        }

    def test_resuming_a_full_scan_counts_as_a_full_scan(self, app):
        """An 'f:' cursor starts a (resumed) full scan."""
        for i in range(3):
            create(app, email=f"{i}@x")
        app.reset_calls()
        scan(app, scan(app)[0].cursor)
        assert app.calls == {"scan_full": 2}

    def test_reset_calls_sets_every_counter_to_zero(self, app):
        """After reset_calls, a pass starts from a clean count."""
        scan(app)
        app.reset_calls()
        assert app.calls["scan_full"] == 0
        assert not app.calls


def test_concurrent_writers_never_lose_or_share_a_record(clock):
    """Many threads creating and updating at once leave a consistent adapter."""
    app = InMemoryAdapter([CONTACTS], page_size=7, clock=clock)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(50):
                (result,) = app.create("contacts", [NewRecord({"email": f"{worker}-{i}@x"}, "")])
                app.update("contacts", [RecordUpdate(result.record_id, {"score": i})])
                list(app.scan("contacts", "c:0"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = scan_ids(app)
    assert len(ids) == len(set(ids)) == 200
    assert len(scan_ids(app, "c:0")) == 200
