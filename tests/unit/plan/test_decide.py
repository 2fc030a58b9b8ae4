"""The pure decision core: decision tables and properties (SPEC D, F, M, L, R, X)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine import (
    Condition,
    ConfigError,
    Direction,
    ErrorCategory,
    ExcludeReason,
    FieldMapping,
    Filter,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Record,
    RecordState,
    Side,
)
from syncengine.index import Entry
from syncengine.plan import (
    Apply,
    CreateIn,
    Exclude,
    Fail,
    NoChange,
    UpdateIn,
    choose_match,
    compile_object,
    decide,
    identify,
)

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)

HUB_SCHEMA = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", "string", unique=True),
        PropertySpec("firstname", "string"),
        PropertySpec("lastname", "string"),
        PropertySpec("age", "number"),
        PropertySpec("birthday", "date"),
        PropertySpec("stage", "enum", options=("lead", "customer")),
        PropertySpec("notes", "string"),
    ],
)
APP_SCHEMA = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string", unique=True),
        PropertySpec("first", "string"),
        PropertySpec("last", "string", required=True),
        PropertySpec("age", "string"),
        PropertySpec("born", "datetime"),
        PropertySpec("status", "enum", options=("Lead", "Customer")),
        PropertySpec("remark", "string"),
    ],
)
MAPPINGS = [
    FieldMapping("email", "mail"),
    FieldMapping("firstname", "first"),
    FieldMapping("lastname", "last"),
    FieldMapping("age", "age", direction="to_app"),  # number → string: one way only (F4)
    FieldMapping("birthday", "born"),
    FieldMapping("stage", "status", options={"lead": "Lead", "customer": "Customer"}),
]


def plan_for(**changes):
    """Compile a contacts ↔ people object sync with some settings changed."""
    obj = ObjectSync(
        **{
            "hub_type": "contacts",
            "app_type": "people",
            "mappings": MAPPINGS,
            "match": MatchRule([("email", "mail")]),
            **changes,
        }
    )
    return compile_object(obj, HUB_SCHEMA, APP_SCHEMA)


def paired_entry(hub_values, app_values, **changes):
    """An entry for hub record h1 paired with app record a1, synced with these copies."""
    fields = {
        "sync_id": "s",
        "object_type": "contacts",
        "entry_id": "h:h1",
        "updated_at": NOW,
        "hub_id": "h1",
        "app_id": "a1",
        "state": RecordState.SYNCED,
        "hub_values": hub_values,
        "app_values": app_values,
        **changes,
    }
    return Entry(**fields)


HUB_BASE = {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}
APP_BASE = {"mail": "ada@example.com", "first": "Ada", "last": "Lovelace"}


def synced_copies(plan, hub_props, app_props):
    """Decide a fresh pair and return the entry as it would be stored."""
    decision = decide(plan, None, Record("h1", hub_props), Record("a1", app_props))
    assert isinstance(decision, Apply)
    hub_after = {**hub_props, **(w.properties if (w := decision.write_on(Side.HUB)) else {})}
    app_after = {**app_props, **(w.properties if (w := decision.write_on(Side.APP)) else {})}
    return paired_entry(decision.hub_values, decision.app_values), hub_after, app_after


class TestCompile:
    """compile_object rejects configs that cannot work (SPEC F2–F4, X2)."""

    def test_unknown_app_property_names_the_field(self):
        """X2: an unknown property is a ConfigError with the mapping's path."""
        obj = ObjectSync("contacts", "people", [FieldMapping("email", "nope")])
        with pytest.raises(ConfigError, match=r"mappings\[0\]\.app.*'nope'"):
            compile_object(obj, HUB_SCHEMA, APP_SCHEMA)

    def test_incompatible_types_name_both_fields(self):
        """F4: a string cannot flow into a number, and a number-to-date mapping is rejected."""
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("lastname", "last"), FieldMapping("age", "born")],
            match=MatchRule.none(),
        )
        with pytest.raises(ConfigError, match=r"mappings\[1\].*'age'.*'born'"):
            compile_object(obj, HUB_SCHEMA, APP_SCHEMA)

    def test_number_to_text_flows_one_way_when_the_mapping_says_so(self):
        """F4: hub number → app text flows one way only (hubspot.md §3)."""
        plan = plan_for()
        age = next(f for f in plan.fields if f.hub.name == "age")
        assert (True, False) == (age.to_app, age.to_hub)

    def test_two_way_number_to_text_is_refused_naming_the_direction_to_set(self):
        """F4, X6: text cannot flow back into a number, so two-way is refused, not narrowed."""
        mappings = [*MAPPINGS[:3], FieldMapping("age", "age"), *MAPPINGS[4:]]
        with pytest.raises(ConfigError) as caught:
            plan_for(mappings=mappings)
        assert "mappings[3]" == caught.value.path
        assert "'age' (string) cannot convert into hub property 'age' (number)" in str(caught.value)
        assert "set its direction to 'to_app'" in str(caught.value)

    def test_mapping_direction_against_object_direction_is_rejected(self):
        """F3: a to_hub mapping in a to_app object sync can never flow."""
        with pytest.raises(ConfigError, match=r"mappings\[1\]\.direction"):
            compile_object(
                ObjectSync(
                    "contacts",
                    "people",
                    [
                        FieldMapping("lastname", "last"),
                        FieldMapping("firstname", "first", direction=Direction.TO_HUB),
                    ],
                    direction=Direction.TO_APP,
                    match=MatchRule.none(),
                ),
                HUB_SCHEMA,
                APP_SCHEMA,
            )

    def test_required_destination_property_must_be_mapped(self):
        """F2: the app requires 'last', so a sync creating app records must fill it."""
        with pytest.raises(ConfigError, match="'last' is required"):
            compile_object(
                ObjectSync("contacts", "people", [FieldMapping("email", "mail")]),
                HUB_SCHEMA,
                APP_SCHEMA,
            )

    def test_unknown_filter_property_is_rejected(self):
        """L1/X2: a filter must name a real property."""
        with pytest.raises(ConfigError, match=r"hub_filter.*'colour'"):
            plan_for(hub_filter=Filter.where(Condition("colour", "eq", "red")))


class TestAlone:
    """A record without a counterpart is created on the other side, or says why not."""

    def test_new_hub_record_is_created_in_the_app_with_converted_values(self):
        """S3, F4: values are converted and enum options mapped on the way."""
        plan = plan_for()
        record = Record(
            "h1",
            {**HUB_BASE, "age": 36, "birthday": date(1815, 12, 10), "stage": "customer"},
        )
        keys = identify(plan, Side.HUB, record.properties)
        decision = decide(plan, None, record, None, keys=keys)
        assert isinstance(decision, Apply)
        (write,) = decision.writes
        assert isinstance(write, CreateIn)
        assert Side.APP is write.side
        assert {
            "mail": "ada@example.com",
            "first": "Ada",
            "last": "Lovelace",
            "age": "36",
            "born": datetime(1815, 12, 10, tzinfo=UTC),
            "status": "Customer",
        } == dict(write.properties)

    def test_direction_blocks_creation_from_the_destination(self):
        """D1: in a to_app sync an app-only record is not copied."""
        plan = plan_for(direction=Direction.TO_APP)
        decision = decide(plan, None, None, Record("a1", APP_BASE), keys=("0:ada@example.com",))
        assert isinstance(decision, Exclude)
        assert ExcludeReason.DIRECTION is decision.reason

    def test_filtered_record_is_excluded(self):
        """L1: a hub record failing the hub filter is excluded with reason filtered."""
        plan = plan_for(hub_filter=Filter.where(Condition("stage", "eq", "customer")))
        record = Record("h1", {**HUB_BASE, "stage": "lead"})
        decision = decide(
            plan, None, record, None, keys=identify(plan, Side.HUB, record.properties)
        )
        assert Exclude(ExcludeReason.FILTERED, "fails the hub filter") == decision

    def test_record_without_valid_email_is_excluded(self):
        """M4, M5: no valid e-mail → excluded no_identifier."""
        plan = plan_for()
        record = Record("h1", {**HUB_BASE, "email": "not-an-email"})
        keys = identify(plan, Side.HUB, record.properties)
        assert () == keys
        decision = decide(plan, None, record, None, keys=keys)
        assert isinstance(decision, Exclude)
        assert ExcludeReason.NO_IDENTIFIER is decision.reason

    def test_record_without_email_syncs_when_not_required(self):
        """M4: with require=False a contact without e-mail is created unmatched."""
        plan = plan_for(match=MatchRule([("email", "mail")], require=False))
        record = Record("h1", {"firstname": "Ada", "lastname": "Lovelace"})
        decision = decide(plan, None, record, None, keys=())
        assert isinstance(decision, Apply)

    def test_bad_value_fails_the_record_naming_the_field(self):
        """X1, F5: an unconvertible value fails with validation, naming the field."""
        plan = plan_for()
        record = Record("h1", {**HUB_BASE, "age": "thirty-six"})
        decision = decide(
            plan, None, record, None, keys=identify(plan, Side.HUB, record.properties)
        )
        assert isinstance(decision, Fail)
        assert ErrorCategory.VALIDATION is decision.category
        assert "'age'" in decision.message
        assert "hub.age" == decision.field

    def test_missing_required_destination_value_fails(self):
        """F2, R2: the app requires 'last'; a hub contact without last name fails."""
        plan = plan_for()
        record = Record("h1", {"email": "ada@example.com", "firstname": "Ada"})
        decision = decide(
            plan, None, record, None, keys=identify(plan, Side.HUB, record.properties)
        )
        assert isinstance(decision, Fail)
        assert ErrorCategory.REQUIRED_FIELD_MISSING is decision.category
        assert "'last'" in decision.message

    def test_failing_transform_fails_only_the_record(self):
        """F5: a transform that raises fails the record with validation."""
        mappings = [*MAPPINGS[:5], FieldMapping("notes", "remark", to_app=lambda v: 1 / 0)]
        plan = plan_for(mappings=mappings)
        record = Record("h1", {**HUB_BASE, "notes": "x"})
        decision = decide(
            plan, None, record, None, keys=identify(plan, Side.HUB, record.properties)
        )
        assert isinstance(decision, Fail)
        assert "ZeroDivisionError" in decision.message

    def test_defaults_fill_blank_values_on_create(self):
        """F5: an app default is used when the hub has no value."""
        mappings = [*MAPPINGS[:5], FieldMapping("notes", "remark", app_default="(none)")]
        plan = plan_for(mappings=mappings)
        decision = decide(plan, None, Record("h1", HUB_BASE), None, keys=("0:ada@example.com",))
        assert isinstance(decision, Apply)
        assert "(none)" == decision.writes[0].properties["remark"]


class TestPairInitial:
    """The initial merge of two matched records (SPEC D2–D5)."""

    def test_blanks_are_filled_from_the_other_side(self):
        """D2: each side's blanks are filled from the other."""
        plan = plan_for()
        decision = decide(
            plan,
            None,
            Record("h1", {**HUB_BASE, "firstname": None}),
            Record("a1", {**APP_BASE, "last": "Lovelace", "status": "Lead"}),
        )
        assert isinstance(decision, Apply)
        assert {"firstname": "Ada", "stage": "lead"} == dict(decision.write_on(Side.HUB).properties)
        assert decision.write_on(Side.APP) is None

    @pytest.mark.parametrize(
        ("winner", "expected_side"), [(Side.HUB, Side.APP), (Side.APP, Side.HUB)]
    )
    def test_different_values_take_the_winners(self, winner, expected_side):
        """D3: the default app overwrites the other."""
        plan = plan_for(winner=winner)
        decision = decide(
            plan,
            None,
            Record("h1", {**HUB_BASE, "firstname": "Ada"}),
            Record("a1", {**APP_BASE, "first": "Augusta"}),
        )
        assert isinstance(decision, Apply)
        (write,) = decision.writes
        assert expected_side is write.side
        expected = {"first": "Ada"} if winner is Side.HUB else {"firstname": "Augusta"}
        assert expected == dict(write.properties)

    def test_blank_in_the_winner_never_overwrites(self):
        """D4: the winner's blank does not clear the other side; it is filled instead."""
        plan = plan_for(winner=Side.HUB)
        decision = decide(
            plan,
            None,
            Record("h1", {**HUB_BASE, "firstname": ""}),
            Record("a1", {**APP_BASE, "first": "Augusta"}),
        )
        assert isinstance(decision, Apply)
        assert [UpdateIn(Side.HUB, "h1", {"firstname": "Augusta"})] == list(decision.writes)

    def test_one_way_never_reads_the_destination(self):
        """D5: to_app with the app as winner still copies hub values over app values."""
        plan = plan_for(direction=Direction.TO_APP, winner=Side.APP)
        decision = decide(
            plan, None, Record("h1", HUB_BASE), Record("a1", {**APP_BASE, "first": "Augusta"})
        )
        assert isinstance(decision, Apply)
        assert [UpdateIn(Side.APP, "a1", {"first": "Ada"})] == list(decision.writes)

    def test_bad_value_in_a_one_way_destination_is_overwritten_not_failed(self):
        """D5, X1: the destination of a one-way field is not read, so garbage there is fixed."""
        plan = plan_for(direction=Direction.TO_APP)
        decision = decide(
            plan,
            None,
            Record("h1", {**HUB_BASE, "birthday": date(2000, 1, 2)}),
            Record("a1", {**APP_BASE, "born": "garbage"}),
        )
        assert isinstance(decision, Apply)
        assert datetime(2000, 1, 2, tzinfo=UTC) == decision.write_on(Side.APP).properties["born"]

    def test_date_and_datetime_at_midnight_are_in_sync(self):
        """F4: a date and the same day's midnight datetime agree; nothing is written."""
        plan = plan_for()
        decision = decide(
            plan,
            None,
            Record("h1", {**HUB_BASE, "birthday": date(2000, 1, 2)}),
            Record("a1", {**APP_BASE, "born": datetime(2000, 1, 2, tzinfo=UTC)}),
        )
        assert isinstance(decision, Apply)
        assert () == decision.writes


class TestPairIncremental:
    """After the initial sync: the three-way comparison against the copy (SPEC D4, D6)."""

    def test_change_on_the_losing_side_still_flows(self):
        """D6: a field changed only in the app flows to the hub although the hub wins."""
        plan = plan_for(winner=Side.HUB)
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(plan, entry, Record("h1", hub), Record("a1", {**app, "first": "Augusta"}))
        assert isinstance(decision, Apply)
        assert [UpdateIn(Side.HUB, "h1", {"firstname": "Augusta"})] == list(decision.writes)

    @pytest.mark.parametrize("winner", [Side.HUB, Side.APP])
    def test_change_on_both_sides_takes_the_winner(self, winner):
        """D6: both changed the same field → the default app wins."""
        plan = plan_for(winner=winner)
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(
            plan,
            entry,
            Record("h1", {**hub, "firstname": "Adah"}),
            Record("a1", {**app, "first": "Augusta"}),
        )
        assert isinstance(decision, Apply)
        (write,) = decision.writes
        assert winner.other is write.side

    def test_newest_policy_uses_modification_times(self):
        """D6: policy 'newest' takes the later change."""
        mappings = [
            FieldMapping("email", "mail"),
            FieldMapping("firstname", "first", policy="newest"),
            FieldMapping("lastname", "last"),
        ]
        plan = plan_for(mappings=mappings, winner=Side.HUB)
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(
            plan,
            entry,
            Record("h1", {**hub, "firstname": "Adah"}, updated_at=datetime(2024, 1, 1, tzinfo=UTC)),
            Record("a1", {**app, "first": "Augusta"}, updated_at=datetime(2024, 2, 1, tzinfo=UTC)),
        )
        assert [UpdateIn(Side.HUB, "h1", {"firstname": "Augusta"})] == list(decision.writes)

    def test_cleared_field_is_refilled_not_propagated(self):
        """D4: clearing a field in one app does not clear it in the other."""
        plan = plan_for()
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(plan, entry, Record("h1", {**hub, "firstname": None}), Record("a1", app))
        assert [UpdateIn(Side.HUB, "h1", {"firstname": "Ada"})] == list(decision.writes)

    def test_propagate_clears_opt_in_clears_the_other_side(self):
        """D4 [beyond]: a mapping may opt in to propagating clears."""
        mappings = [
            FieldMapping("email", "mail"),
            FieldMapping("lastname", "last"),
            FieldMapping("firstname", "first", propagate_clears=True),
        ]
        plan = plan_for(mappings=mappings)
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(plan, entry, Record("h1", {**hub, "firstname": None}), Record("a1", app))
        assert [UpdateIn(Side.APP, "a1", {"first": None})] == list(decision.writes)

    def test_clearing_a_required_field_fails(self):
        """F2: a propagated clear may not empty a required property."""
        mappings = [
            FieldMapping("email", "mail"),
            FieldMapping("lastname", "last", propagate_clears=True),
        ]
        plan = plan_for(mappings=mappings)
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(plan, entry, Record("h1", {**hub, "lastname": None}), Record("a1", app))
        assert isinstance(decision, Fail)
        assert ErrorCategory.REQUIRED_FIELD_MISSING is decision.category

    def test_nothing_changed_is_no_change(self):
        """S6: an unchanged pair compared in whole yields nothing to do."""
        plan = plan_for()
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        assert NoChange() == decide(plan, entry, Record("h1", hub), Record("a1", app))

    def test_lost_update_is_repaired_when_the_record_is_seen_again(self):
        """S6: the whole record is compared, so an earlier failed write is redone."""
        plan = plan_for()
        entry, hub, app = synced_copies(plan, HUB_BASE, APP_BASE)
        # The app never got 'Adah': the copy still says Ada on both sides.
        decision = decide(
            plan, entry, Record("h1", {**hub, "firstname": "Adah"}), Record("a1", app)
        )
        assert [UpdateIn(Side.APP, "a1", {"first": "Adah"})] == list(decision.writes)

    def test_deleted_counterpart_fails_with_deleted(self):
        """R6, X3: a record deleted on one side is never deleted on the other."""
        plan = plan_for()
        entry, hub, _ = synced_copies(plan, HUB_BASE, APP_BASE)
        decision = decide(plan, entry, Record("h1", hub), None)
        assert isinstance(decision, Fail)
        assert ErrorCategory.DELETED is decision.category

    def test_filters_only_limit_the_initial_entry(self):
        """L2: a synced record keeps syncing after it stops matching the filter."""
        plan = plan_for(hub_filter=Filter.where(Condition("stage", "eq", "customer")))
        entry, hub, app = synced_copies(
            plan, {**HUB_BASE, "stage": "customer"}, {**APP_BASE, "status": "Customer"}
        )
        decision = decide(
            plan,
            entry,
            Record("h1", {**hub, "stage": "lead", "firstname": "Adah"}),
            Record("a1", app),
        )
        assert isinstance(decision, Apply)
        assert {"first": "Adah", "status": "Lead"} == dict(decision.write_on(Side.APP).properties)

    def test_lifetime_filters_exclude_a_record_that_stops_matching(self):
        """L2 [beyond]: with filter_lifetime a record that stops matching is excluded."""
        plan = plan_for(
            hub_filter=Filter.where(Condition("stage", "eq", "customer")),
            app_filter=Filter.where(Condition("status", "eq", "customer")),
            filter_lifetime=True,
        )
        entry, hub, app = synced_copies(
            plan, {**HUB_BASE, "stage": "customer"}, {**APP_BASE, "status": "Customer"}
        )
        decision = decide(
            plan,
            entry,
            Record("h1", {**hub, "stage": "lead"}),
            Record("a1", {**app, "status": "Lead"}),
        )
        assert isinstance(decision, Exclude)
        assert ExcludeReason.FILTERED is decision.reason

    @pytest.mark.parametrize("both_filters", [False, True])
    def test_lifetime_filters_exclude_a_record_that_stops_matching_on_one_side(self, both_filters):
        """L2 [beyond]: the hub record stops matching, its counterpart still does (or has
        no filter): excluded, and the app's old values never overwrite the hub edit."""
        plan = plan_for(
            hub_filter=Filter.where(Condition("stage", "eq", "customer")),
            app_filter=(
                Filter.where(Condition("status", "eq", "customer")) if both_filters else None
            ),
            filter_lifetime=True,
        )
        entry, hub, app = synced_copies(
            plan, {**HUB_BASE, "stage": "customer"}, {**APP_BASE, "status": "Customer"}
        )
        decision = decide(
            plan,
            entry,
            Record("h1", {**hub, "stage": "lead", "firstname": "Edited"}),
            Record("a1", app),
        )
        assert isinstance(decision, Exclude), decision
        assert ExcludeReason.FILTERED is decision.reason
        assert "hub record" in decision.message


class TestMatching:
    """Choosing the entry a new record pairs with (SPEC M1–M3, M6, M7)."""

    def entry(self, entry_id, *, hub_id=None, app_id=None, keys=(), **changes):
        return Entry(
            "s",
            "companies",
            entry_id,
            NOW,
            hub_id=hub_id,
            app_id=app_id,
            keys=frozenset(keys),
            **changes,
        )

    def test_any_key_matches(self):
        """M2: a company matches on domain when the names differ."""
        hub_entry = self.entry("h:1", hub_id="1", keys={"0:acme", "1:acme.com"})
        match = choose_match(
            Side.APP, "a9", ("0:acme corp", "1:acme.com"), {"1:acme.com": [hub_entry]}
        )
        assert (hub_entry, "1:acme.com") == (match.entry, match.key)

    def test_later_record_with_the_same_identifier_is_a_duplicate(self):
        """M3: the first app record with an identifier syncs; later ones are duplicates."""
        paired = self.entry("h:1", hub_id="1", app_id="a1", keys={"0:ada@example.com"})
        match = choose_match(
            Side.APP, "a2", ("0:ada@example.com",), {"0:ada@example.com": [paired]}
        )
        assert paired is match.duplicate_of

    def test_duplicates_never_claim_a_key(self):
        """M3: an excluded duplicate does not make the next record a duplicate too."""
        dup = self.entry(
            "a:2",
            app_id="a2",
            keys={"0:x@y.io"},
            state=RecordState.EXCLUDED,
            reason=ExcludeReason.DUPLICATE,
        )
        hub_entry = self.entry("h:1", hub_id="1", keys={"0:x@y.io"})
        match = choose_match(Side.APP, "a3", ("0:x@y.io",), {"0:x@y.io": [dup, hub_entry]})
        assert hub_entry is match.entry

    def test_email_identifiers_are_normalized(self):
        """M6: e-mails are trimmed and case-folded before comparison."""
        plan = plan_for()
        assert identify(plan, Side.HUB, {"email": "  Ada@Example.COM "}) == identify(
            plan, Side.APP, {"mail": "ada@example.com"}
        )

    def test_no_match_rule_means_no_keys(self):
        """M7: 'no matching' — every record is created on the other side."""
        plan = plan_for(match=MatchRule.none())
        assert () == identify(plan, Side.HUB, HUB_BASE)


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------
SYM_FIELDS = ("email", "a", "b", "c")
SYM_SCHEMA = ObjectSchema("things", [PropertySpec(n, "string") for n in SYM_FIELDS])
values = st.one_of(st.none(), st.sampled_from(["", "x", "y", "z", "Ada", " "]))
props = st.fixed_dictionaries(dict.fromkeys(SYM_FIELDS, values))
policies = st.sampled_from([None, "winner", "newest"])


def sym_plan(direction, winner, clears, policy):
    mappings = [FieldMapping(n, n, propagate_clears=clears, policy=policy) for n in SYM_FIELDS]
    obj = ObjectSync(
        "things",
        "things",
        mappings,
        match=MatchRule([("email", "email")], require=False),
        direction=direction,
        winner=winner,
    )
    return compile_object(obj, SYM_SCHEMA, SYM_SCHEMA)


def apply_writes(decision, hub, app):
    hub, app = dict(hub), dict(app)
    for write in decision.writes:
        target = hub if write.side is Side.HUB else app
        target.update(write.properties)
    return hub, app


def mirror_direction(direction):
    return {
        Direction.TWO_WAY: Direction.TWO_WAY,
        Direction.TO_APP: Direction.TO_HUB,
        Direction.TO_HUB: Direction.TO_APP,
    }[direction]


@given(
    direction=st.sampled_from(list(Direction)),
    winner=st.sampled_from(list(Side)),
    clears=st.booleans(),
    policy=policies,
    base_hub=props,
    base_app=props,
    hub=props,
    app=props,
    initial=st.booleans(),
)
def test_replanning_after_applying_a_plan_has_nothing_to_do(
    direction, winner, clears, policy, base_hub, base_app, hub, app, initial
):
    """Deciding again right after the writes and copies were applied yields NoChange."""
    plan = sym_plan(direction, winner, clears, policy)
    entry = None
    if not initial:
        first = decide(plan, None, Record("h1", base_hub), Record("a1", base_app))
        if not isinstance(first, Apply):
            return
        entry = paired_entry(first.hub_values, first.app_values, object_type="things")
    decision = decide(plan, entry, Record("h1", hub), Record("a1", app))
    if not isinstance(decision, Apply):
        return
    hub2, app2 = apply_writes(decision, hub, app)
    after = paired_entry(decision.hub_values, decision.app_values, object_type="things")
    again = decide(plan, after, Record("h1", hub2), Record("a1", app2))
    assert NoChange() == again


@given(
    direction=st.sampled_from(list(Direction)),
    winner=st.sampled_from(list(Side)),
    clears=st.booleans(),
    hub=props,
    app=props,
    base_hub=props,
    base_app=props,
    initial=st.booleans(),
)
def test_swapping_hub_and_app_mirrors_every_decision(
    direction, winner, clears, hub, app, base_hub, base_app, initial
):
    """Hub and app are symmetric: swapping them (and the winner, and the direction) mirrors
    the decision."""
    plan = sym_plan(direction, winner, clears, None)
    mirror = sym_plan(mirror_direction(direction), winner.other, clears, None)
    entry = mentry = None
    if not initial:
        entry = paired_entry(base_hub, base_app, object_type="things")
        mentry = paired_entry(base_app, base_hub, object_type="things", hub_id="a1", app_id="h1")
    d1 = decide(plan, entry, Record("h1", hub), Record("a1", app))
    d2 = decide(mirror, mentry, Record("a1", app), Record("h1", hub))
    assert type(d1) is type(d2)
    if isinstance(d1, Apply):
        flipped = {
            (w.side.other, w.record_id, tuple(sorted(w.properties.items()))) for w in d2.writes
        }
        assert {
            (w.side, w.record_id, tuple(sorted(w.properties.items()))) for w in d1.writes
        } == flipped
        assert (d1.hub_values, d1.app_values) == (d2.app_values, d2.hub_values)


@given(
    direction=st.sampled_from(list(Direction)),
    winner=st.sampled_from(list(Side)),
    hub=props,
    app=props,
    base_hub=props,
    base_app=props,
    initial=st.booleans(),
    alone=st.sampled_from([None, Side.HUB, Side.APP]),
)
def test_no_decision_deletes_or_clears_without_opt_in(
    direction, winner, hub, app, base_hub, base_app, initial, alone
):
    """X3, D4: decisions only create and update, and never write a blank unless a mapping
    opted in to propagating clears."""
    plan = sym_plan(direction, winner, False, None)
    entry = None if initial else paired_entry(base_hub, base_app, object_type="things")
    hub_rec = None if alone is Side.APP else Record("h1", hub)
    app_rec = None if alone is Side.HUB else Record("a1", app)
    decision = decide(plan, entry if alone is None else None, hub_rec, app_rec, keys=("0:k",))
    assert isinstance(decision, Apply | Exclude | Fail | NoChange)
    if isinstance(decision, Apply):
        for write in decision.writes:
            assert isinstance(write, CreateIn | UpdateIn)
            assert all(v is not None and v.strip() for v in write.properties.values())


def test_entry_fields_used_here_exist():
    """The tests' entries are real Entry values (guards the helpers above)."""
    entry = paired_entry({}, {})
    assert attrs.has(type(entry))


@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=12),
            st.sampled_from(["ada@example.com", " ADA@Example.COM ", "ada@", "", "  "]),
        ),
        max_size=40,
    )
)
def test_identify_remembers_nothing_wrong(values):
    """M6: the keys identify remembers for recent values (plan._MEMO of them, emptied
    when full) are the keys the normalizer gives, whatever came before."""
    from syncengine import plan as plan_module

    plan = plan_for()
    (key,) = plan.keys
    for value in values:
        normal = key.normalize(value)
        expected = () if normal is None else (f"0:{normal}",)
        assert expected == identify(plan, Side.HUB, {"email": value})
        assert expected == identify(plan, Side.APP, {"mail": value})
        assert len(key.memo) <= plan_module._MEMO


def test_identify_memo_stays_bounded(monkeypatch):
    """A long pass identifies many values: the memo is emptied when full, not grown."""
    from syncengine import plan as plan_module

    monkeypatch.setattr(plan_module, "_MEMO", 4)
    plan = plan_for()
    (key,) = plan.keys
    for i in range(10):
        assert (f"0:p{i}@example.com",) == identify(plan, Side.HUB, {"email": f"P{i}@example.com"})
        assert len(key.memo) <= 4


_ECHO_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "Ada", " Ada ", "ada@example.com", "lead", "Lead", "42"]),
    st.text(max_size=6),
    st.integers(-3, 3),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2000, 1, 3)),
)


@given(
    side=st.sampled_from(Side),
    values=st.dictionaries(
        st.sampled_from([s.name for s in (*HUB_SCHEMA, *APP_SCHEMA)]), _ECHO_VALUES, max_size=8
    ),
    copy=st.dictionaries(
        st.sampled_from([s.name for s in (*HUB_SCHEMA, *APP_SCHEMA)]), _ECHO_VALUES, max_size=8
    ),
)
def test_the_echo_check_compares_every_field_as_the_merge_reads_it(side, values, copy):
    """S6: unchanged_since_sync (its plain-text fast path inlined) says a record equals
    its side's index copy exactly when each mapped field, read as the merge reads it
    (blanks as None, values converted to the property's type), is the copy's value."""
    from syncengine.plan import _read, _same, unchanged_since_sync

    plan = plan_for()
    record = Record("r1", values)
    entry = paired_entry(copy, copy)
    expected = all(
        _same(
            field,
            side,
            None
            if values.get(field.spec(side).name) is None
            else _read(side, field.spec(side), values, strict=False),
            copy.get(field.spec(side).name),
        )
        for field in plan.fields
    )
    assert unchanged_since_sync(plan, side, record, entry) is expected
