"""Unit tests of the value rules the local adapters share (``syncengine.adapters._values``)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from syncengine import ErrorCategory, ObjectSchema, PropertySpec, PropertyType
from syncengine.adapters import NewRecord, RecordUpdate, SQLiteAdapter
from syncengine.adapters._values import check_values, is_blank, merged, normalize

SCHEMA = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, required=True, unique=True),
        PropertySpec("score", PropertyType.NUMBER),
        PropertySpec("tags", PropertyType.MULTI_ENUM, options=("a", "b"), unique=True),
        PropertySpec("created_by", PropertyType.STRING, read_only=True),
    ],
)
TAGS = SCHEMA["tags"]


def nobody(spec: PropertySpec, value: Any) -> str | None:
    return None


class TestBlanksAndNormalizing:
    @pytest.mark.parametrize(
        ("spec", "value", "blank"),
        [
            (None, None, True),
            (None, "", True),
            (None, " ", False),
            (None, [], False),  # an empty collection is blank only for a multi-select
            (TAGS, [], True),
            (TAGS, frozenset(), True),
            (TAGS, ["a"], False),
            (SCHEMA["score"], 0, False),
        ],
    )
    def test_is_blank(self, spec, value, blank):
        assert is_blank(spec, value) is blank

    def test_multi_selects_become_frozensets_unless_they_cannot(self):
        assert normalize(TAGS, ["a", "b", "a"]) == frozenset({"a", "b"})
        nested = [["a"]]
        assert normalize(TAGS, nested) is nested
        assert normalize(SCHEMA["score"], [1]) == [1]
        assert normalize(None, ["a"]) == ["a"]

    def test_merged_drops_none_and_normalizes(self):
        current = {"email": "a@x", "score": 1}
        result = merged(current, SCHEMA, {"score": None, "tags": ["a"], "other": ["z"]})
        assert result == {"email": "a@x", "tags": frozenset({"a"}), "other": ["z"]}
        assert current == {"email": "a@x", "score": 1}


class TestCheckValues:
    def test_the_first_failing_property_wins_in_item_order(self):
        failure = check_values(
            SCHEMA, {"created_by": "x", "nope": 1}, creating=False, holder=nobody
        )
        assert failure is not None
        assert failure.category is ErrorCategory.VALIDATION
        assert failure.message == "property 'created_by' is read-only"

    def test_a_missing_required_property_fails_only_a_create(self):
        failure = check_values(SCHEMA, {"score": 1}, creating=True, holder=nobody)
        assert failure is not None
        assert failure.category is ErrorCategory.REQUIRED_FIELD_MISSING
        assert check_values(SCHEMA, {"score": 1}, creating=False, holder=nobody) is None

    def test_extra_problem_sees_only_well_typed_non_blank_values(self):
        seen: list[Any] = []

        def extra(spec: PropertySpec, value: Any) -> str | None:
            seen.append(value)
            return "too big" if value == 10 else None

        failure = check_values(
            SCHEMA,
            {"score": 10, "tags": [], "email": "a@x"},
            creating=True,
            holder=nobody,
            extra_problem=extra,
        )
        assert failure is not None
        assert (failure.category, failure.message) == (ErrorCategory.VALIDATION, "too big")
        assert check_values(
            SCHEMA, {"score": "x"}, creating=False, holder=nobody, extra_problem=extra
        )
        assert seen == [10]

    def test_the_holder_is_asked_for_normalized_non_blank_unique_values(self):
        asked: list[tuple[str, Any]] = []

        def holder(spec: PropertySpec, value: Any) -> str | None:
            asked.append((spec.name, value))
            return "r7" if spec.name == "tags" else None

        failure = check_values(
            SCHEMA, {"email": "a@x", "tags": ["b", "a"], "score": 2}, creating=True, holder=holder
        )
        assert asked == [("email", "a@x"), ("tags", frozenset({"a", "b"}))]
        assert failure is not None
        assert failure.category is ErrorCategory.DUPLICATE
        assert failure.message == (
            "property 'tags': value ['b', 'a'] is already held by record 'r7'"
        )
        asked.clear()
        assert check_values(SCHEMA, {"tags": ()}, creating=False, holder=holder) is None
        assert asked == []


class TestSQLiteLimits:
    """SQLiteAdapter adds its own limit to the shared rules: 64-bit integers."""

    @pytest.fixture
    def app(self):
        with SQLiteAdapter(":memory:", [SCHEMA]) as app:
            yield app

    @pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
    def test_an_integer_beyond_64_bits_fails_with_validation(self, app, value):
        (result,) = app.create("contacts", [NewRecord({"email": "a@x", "score": value}, "")])
        assert result.category is ErrorCategory.VALIDATION
        assert result.message == (
            f"property 'score': {value} is too large for SQLite (64-bit integers)"
        )

    @pytest.mark.parametrize("value", [2**63 - 1, -(2**63), math.pi])
    def test_numbers_that_fit_are_stored(self, app, value):
        (created,) = app.create("contacts", [NewRecord({"email": "a@x"}, "")])
        assert created.record_id is not None
        (result,) = app.update("contacts", [RecordUpdate(created.record_id, {"score": value})])
        assert result.category is None
        assert app.get("contacts", created.record_id).properties["score"] == value

    def test_a_unique_value_held_elsewhere_fails_with_duplicate(self, app):
        (first,) = app.create("contacts", [NewRecord({"email": "a@x", "tags": {"a"}}, "")])
        (second,) = app.create("contacts", [NewRecord({"email": "b@x", "tags": ["a"]}, "")])
        assert second.category is ErrorCategory.DUPLICATE
        assert second.message == (
            f"property 'tags': value ['a'] is already held by record {first.record_id!r}"
        )
