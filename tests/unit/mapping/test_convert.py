"""Property values: canonical forms, compatibility and conversion (SPEC F4, F5, X1)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine.mapping import ConversionError, coerce, convert, flows, same_value
from syncengine.schema import PropertySpec, PropertyType

T = PropertyType
UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=2))


def _stable_id(value: object) -> str:
    """A test id that is the same in every process (no memory addresses, for xdist)."""
    text = repr(value)
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def spec(type: PropertyType, *options: str) -> PropertySpec:
    """A property of ``type`` with the given options."""
    return PropertySpec(f"{type}_field", type, options=options)


# The compatibility table of reference §3, written out row by row (F4): source → targets.
COMPATIBLE = {
    T.STRING: {T.STRING},
    T.NUMBER: {T.NUMBER, T.STRING},
    T.BOOL: {T.BOOL, T.STRING},
    T.DATE: {T.DATE, T.DATETIME, T.STRING},
    T.DATETIME: {T.DATETIME, T.DATE, T.STRING},
    T.ENUM: {T.ENUM, T.MULTI_ENUM, T.STRING},
    T.MULTI_ENUM: {T.MULTI_ENUM, T.STRING},
}
# The flowing pairs, in a stable order (sets of StrEnums iterate in hash order).
FLOWING = [(s, t) for s, t in itertools.product(T, T) if t in COMPATIBLE[s]]


class TestFlows:
    """flows: which property types may feed which (F4)."""

    @pytest.mark.parametrize(("source", "target"), list(itertools.product(T, T)))
    def test_compatibility_table(self, source: PropertyType, target: PropertyType) -> None:
        """Every one of the 7×7 type pairs flows exactly as the table of reference §3 says."""
        assert (target in COMPATIBLE[source]) == flows(source, target)

    @pytest.mark.parametrize(
        ("source", "target"),
        [(s, t) for s, t in itertools.product(T, T) if t not in COMPATIBLE[s]],
    )
    def test_convert_refuses_pairs_that_do_not_flow(
        self, source: PropertyType, target: PropertyType
    ) -> None:
        """Converting between incompatible types raises ConversionError naming both types."""
        with pytest.raises(ConversionError, match=f"{source}.*{target}"):
            convert(None, spec(source), spec(target))


class TestCoerce:
    """coerce: adapter values into canonical values (X1)."""

    @pytest.mark.parametrize(
        ("type", "value", "expected"),
        [
            (T.STRING, "  Hello  ", "  Hello  "),
            (T.STRING, "ünïcödé\x00", "ünïcödé\x00"),
            (T.NUMBER, 17, 17),
            (T.NUMBER, 3.5, 3.5),
            (T.NUMBER, "17", 17),
            (T.NUMBER, " 42 ", 42),
            (T.NUMBER, "3.5", 3.5),
            (T.NUMBER, "-1e3", -1000.0),
            (T.NUMBER, "+.5", 0.5),
            (T.BOOL, True, True),
            (T.BOOL, "TRUE", True),
            (T.BOOL, " false ", False),
            (T.BOOL, "1", True),
            (T.BOOL, "0", False),
            (T.BOOL, 0, False),
            (T.DATE, dt.date(2024, 5, 1), dt.date(2024, 5, 1)),
            (T.DATE, "2024-05-01", dt.date(2024, 5, 1)),
            (T.DATE, dt.datetime(2024, 5, 1, tzinfo=UTC), dt.date(2024, 5, 1)),
            (T.DATE, dt.datetime(2024, 5, 1, 2, tzinfo=CET), dt.date(2024, 5, 1)),
            (T.DATE, "2024-05-01T00:00:00Z", dt.date(2024, 5, 1)),
            (
                T.DATETIME,
                dt.datetime(2024, 5, 1, 14, tzinfo=CET),
                dt.datetime(2024, 5, 1, 12, tzinfo=UTC),
            ),
            (T.DATETIME, "2024-05-01T12:00:00Z", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
            (T.DATETIME, "2024-05-01T14:00:00+02:00", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
            (T.DATETIME, dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, tzinfo=UTC)),
            (T.DATETIME, "2024-05-01", dt.datetime(2024, 5, 1, tzinfo=UTC)),
            (T.ENUM, "lead", "lead"),
            (T.ENUM, " lead ", "lead"),
            (T.MULTI_ENUM, "a;b", frozenset({"a", "b"})),
            (T.MULTI_ENUM, ";a; b ;;", frozenset({"a", "b"})),
            (T.MULTI_ENUM, ["a", "b", "a"], frozenset({"a", "b"})),
            (T.MULTI_ENUM, ("a",), frozenset({"a"})),
            (T.MULTI_ENUM, {"a", " "}, frozenset({"a"})),
            (T.MULTI_ENUM, "single", frozenset({"single"})),
        ],
    )
    def test_unambiguous_values_become_canonical(
        self, type: PropertyType, value: Any, expected: Any
    ) -> None:
        """Values and their common text forms are turned into the type's canonical form."""
        result = coerce(value, spec(type))
        assert expected == result
        assert builtin_type(expected) is builtin_type(result)

    @pytest.mark.parametrize("type", list(T))
    @pytest.mark.parametrize(
        "value", [None, "", "   \t\n", [], (), set(), frozenset()], ids=_stable_id
    )
    def test_blank_values_become_none(self, type: PropertyType, value: Any) -> None:
        """None, empty or whitespace-only text and empty collections are blank for every type."""
        assert coerce(value, spec(type)) is None

    @pytest.mark.parametrize(
        ("type", "value", "message"),
        [
            (T.STRING, 17, "expected text, got int 17"),
            (T.STRING, True, "expected text"),
            (T.STRING, dt.date(2024, 5, 1), "expected text"),
            (T.STRING, {"a": 1}, "expected text, got dict"),
            (T.STRING, b"bytes", "expected text, got bytes"),
            (T.STRING, "x" * 70_000, "70,000 characters is too long"),
            (T.NUMBER, True, "expected a number, got bool True"),
            (T.NUMBER, math.nan, "expected a finite number, got float nan"),
            (T.NUMBER, math.inf, "finite"),
            (T.NUMBER, "1e999", "finite"),
            (T.NUMBER, "NaN", "expected a number"),
            (T.NUMBER, "seventeen", "expected a number, got str 'seventeen'"),
            (T.NUMBER, "1,000", "expected a number"),
            (T.NUMBER, "1_000", "expected a number"),
            (T.NUMBER, "٣", "expected a number"),
            (T.NUMBER, 10**400, "range of a double"),
            (T.NUMBER, "9" * 5000, "range of a double"),
            (T.NUMBER, [1], "expected a number, got list"),
            (T.BOOL, "yes", "expected true or false"),
            (T.BOOL, 2, "expected true or false"),
            (T.BOOL, 1.0, "expected true or false"),
            (T.DATE, "01/05/2024", "expected a date"),
            (T.DATE, "2024-02-30", "expected a date"),
            (T.DATE, dt.datetime(2024, 5, 1, 12, tzinfo=UTC), "midnight UTC"),
            (T.DATE, dt.datetime(2024, 5, 1), "naive"),
            (T.DATE, 1714521600000, "expected a date"),
            (T.DATETIME, dt.datetime(2024, 5, 1, 12), "expected a timezone-aware datetime"),
            (T.DATETIME, "2024-05-01T12:00:00", "naive"),
            (T.DATETIME, "yesterday", "expected a timezone-aware datetime"),
            (T.DATETIME, "x" * 70_000, "too long"),
            (T.DATETIME, dt.datetime(1, 1, 1, tzinfo=CET), "years 1–9999"),
            (T.ENUM, 3, "expected an option value"),
            (T.ENUM, ["a"], "expected an option value"),
            (T.MULTI_ENUM, [["a"]], "expected option values (text) in the set, got list"),
            (T.MULTI_ENUM, ["a", 1], "got int 1"),
            (T.MULTI_ENUM, {"a": "b"}, "expected a set of option values"),
            (T.MULTI_ENUM, 7, "expected a set of option values"),
        ],
        ids=lambda v: repr(v)[:30],
    )
    def test_wrong_or_invalid_values_raise_a_useful_error(
        self, type: PropertyType, value: Any, message: str
    ) -> None:
        """Wrong types, non-finite numbers, naive datetimes and oversized text are refused."""
        with pytest.raises(ConversionError, match=re.escape(message)) as info:
            coerce(value, spec(type))
        assert len(str(info.value)) < 200

    def test_huge_values_are_shortened_in_messages(self) -> None:
        """An error message never carries more than a short excerpt of the value."""
        with pytest.raises(ConversionError) as info:
            coerce(["x" * 10_000, list(range(1000))], spec(T.NUMBER))
        assert len(str(info.value)) < 120

    def test_declared_enum_options_are_enforced(self) -> None:
        """An ENUM value must be one of the declared options, and the error lists them."""
        assert coerce("b", spec(T.ENUM, "a", "b")) == "b"
        with pytest.raises(ConversionError, match="option 'c' is not one of 'a', 'b'"):
            coerce("c", spec(T.ENUM, "a", "b"))

    def test_declared_multi_enum_options_are_enforced(self) -> None:
        """Every item of a MULTI_ENUM value must be one of the declared options."""
        assert frozenset({"a"}) == coerce("a;", spec(T.MULTI_ENUM, "a", "b"))
        with pytest.raises(ConversionError, match="option 'z'"):
            coerce("a;z", spec(T.MULTI_ENUM, "a", "b"))


class TestConvert:
    """convert: a canonical value carried into another property type (F4, F5)."""

    @pytest.mark.parametrize(
        ("source", "value", "expected"),
        [
            (T.STRING, "text", "text"),
            (T.NUMBER, 17, "17"),
            (T.NUMBER, 17.0, "17"),
            (T.NUMBER, -0.0, "0"),
            (T.NUMBER, 3.5, "3.5"),
            (T.NUMBER, 0.1, "0.1"),
            (T.NUMBER, 1e20, "1e+20"),
            (T.NUMBER, 12345678901234567890, "12345678901234567890"),
            (T.BOOL, True, "true"),
            (T.BOOL, False, "false"),
            (T.DATE, dt.date(2024, 5, 1), "2024-05-01"),
            (T.DATETIME, dt.datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00Z"),
            (T.DATETIME, dt.datetime(2024, 5, 1, 14, tzinfo=CET), "2024-05-01T12:00:00Z"),
            (
                T.DATETIME,
                dt.datetime(2024, 5, 1, 12, 0, 0, 250, tzinfo=UTC),
                "2024-05-01T12:00:00.000250Z",
            ),
            (T.ENUM, "lead", "lead"),
            (T.MULTI_ENUM, frozenset({"b", "c", "a"}), "a;b;c"),
        ],
    )
    def test_every_type_renders_as_text(
        self, source: PropertyType, value: Any, expected: str
    ) -> None:
        """Into a text property: shortest numbers, true/false, ISO dates, Z datetimes, a;b (F4)."""
        assert expected == convert(value, spec(source), spec(T.STRING))

    def test_datetime_into_date_takes_the_utc_date(self) -> None:
        """DATETIME → DATE keeps the UTC calendar date (F4)."""
        late = dt.datetime(2024, 5, 1, 23, 30, tzinfo=dt.timezone(-dt.timedelta(hours=5)))
        assert dt.date(2024, 5, 2) == convert(late, spec(T.DATETIME), spec(T.DATE))

    def test_date_into_datetime_is_midnight_utc(self) -> None:
        """DATE → DATETIME is midnight UTC of that day (F4)."""
        result = convert(dt.date(2024, 5, 1), spec(T.DATE), spec(T.DATETIME))
        assert dt.datetime(2024, 5, 1, tzinfo=UTC) == result
        assert UTC is result.tzinfo

    def test_enum_options_are_mapped_value_to_value(self) -> None:
        """A mapped option is translated; the target's options are respected (F4)."""
        options = {"lead": "prospect", "customer": "client"}
        target = spec(T.ENUM, "prospect", "client", "other")
        assert convert("customer", spec(T.ENUM), target, options) == "client"
        assert convert("other", spec(T.ENUM), target, options) == "other"

    def test_unmapped_enum_options_pass_when_the_target_has_no_options(self) -> None:
        """Without declared target options, an unmapped option passes unchanged (F4)."""
        assert convert("anything", spec(T.ENUM), spec(T.ENUM), {"a": "b"}) == "anything"

    def test_unknown_enum_option_names_the_option(self) -> None:
        """An option with no mapping that the target lacks fails, naming the option (F5)."""
        with pytest.raises(ConversionError, match="option 'partner' has no mapping"):
            convert("partner", spec(T.ENUM), spec(T.ENUM, "prospect"), {"lead": "prospect"})

    def test_mapped_option_missing_from_the_target_fails(self) -> None:
        """A mapping into an option the target does not declare fails (F4)."""
        with pytest.raises(ConversionError, match="maps to 'gone'"):
            convert("lead", spec(T.ENUM), spec(T.ENUM, "prospect"), {"lead": "gone"})

    def test_enum_into_multi_enum_is_a_one_option_set(self) -> None:
        """ENUM → MULTI_ENUM gives the translated option as a one-item set (F4)."""
        result = convert("lead", spec(T.ENUM), spec(T.MULTI_ENUM), {"lead": "prospect"})
        assert frozenset({"prospect"}) == result

    def test_multi_enum_options_are_mapped_item_by_item(self) -> None:
        """Each option of a multi-select is translated; text joins them sorted (F4)."""
        options = {"a": "x", "b": "y"}
        assert frozenset({"x", "y", "c"}) == convert(
            frozenset({"a", "b", "c"}), spec(T.MULTI_ENUM), spec(T.MULTI_ENUM), options
        )
        assert (
            convert(frozenset({"a", "b", "c"}), spec(T.MULTI_ENUM), spec(T.STRING), options)
            == "c;x;y"
        )

    def test_text_too_long_for_the_target_fails(self) -> None:
        """A multi-select whose text form exceeds 65,536 characters cannot be written (X1)."""
        big = frozenset(f"option-{i:06d}" for i in range(5000))
        with pytest.raises(ConversionError, match="too long"):
            convert(big, spec(T.MULTI_ENUM), spec(T.STRING))

    @pytest.mark.parametrize(("source", "target"), FLOWING)
    def test_blank_converts_to_blank(self, source: PropertyType, target: PropertyType) -> None:
        """A blank value stays blank whatever the types (D4 decides what a blank does)."""
        assert convert(None, spec(source), spec(target)) is None
        assert convert("", spec(source), spec(target)) is None


class TestSameValue:
    """same_value: equality of canonical values."""

    @pytest.mark.parametrize(
        ("type", "a", "b", "expected"),
        [
            (T.STRING, None, None, True),
            (T.STRING, None, "", True),
            (T.STRING, "a", None, False),
            (T.STRING, "a", "A", False),
            (T.NUMBER, 1, 1.0, True),
            (T.NUMBER, 1, 2, False),
            (T.NUMBER, 1, True, False),
            (T.BOOL, True, 1, False),
            (T.BOOL, False, False, True),
            (T.DATE, dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, tzinfo=UTC), False),
            (
                T.DATETIME,
                dt.datetime(2024, 5, 1, 12, tzinfo=UTC),
                dt.datetime(2024, 5, 1, 14, tzinfo=CET),
                True,
            ),
            (
                T.DATETIME,
                dt.datetime(2024, 5, 1, 12, tzinfo=UTC),
                dt.datetime(2024, 5, 1, 12),
                False,
            ),
            (T.MULTI_ENUM, frozenset({"a", "b"}), frozenset({"b", "a"}), True),
            (T.MULTI_ENUM, frozenset({"a", "b"}), ["b", "a"], True),
            (T.MULTI_ENUM, frozenset({"a"}), frozenset({"a", "b"}), False),
            (T.MULTI_ENUM, frozenset({"a"}), "a", False),
            (T.MULTI_ENUM, [["x"]], [["x"]], False),
        ],
    )
    def test_equality_of_canonical_values(
        self, type: PropertyType, a: Any, b: Any, expected: bool
    ) -> None:
        """Blanks equal blanks, 1 equals 1.0, sets ignore order, datetimes compare instants."""
        assert expected == same_value(a, b, type)
        assert expected == same_value(b, a, type)


# --- properties -----------------------------------------------------------------------------

OPTIONS = ("a", "b", "c", "d")
TARGET_OPTIONS = ("w", "x", "y", "z")
offsets = st.builds(
    dt.timezone,
    st.timedeltas(
        min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
    ),
)
# Canonical values of each type (with ENUM/MULTI_ENUM over OPTIONS).
CANONICAL: dict[PropertyType, st.SearchStrategy[Any]] = {
    T.STRING: st.text(min_size=1, max_size=50).filter(str.strip),
    T.NUMBER: st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False),
    T.BOOL: st.booleans(),
    T.DATE: st.dates(),
    T.DATETIME: st.datetimes(timezones=st.just(UTC)),
    T.ENUM: st.sampled_from(OPTIONS),
    T.MULTI_ENUM: st.frozensets(st.sampled_from(OPTIONS), min_size=1),
}
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.builds(pow, st.just(10), st.integers(300, 5000)),
    st.floats(),
    st.text(max_size=30),
    st.from_regex(r" ?[+-]?[0-9]{0,5}\.?[0-9]{0,3}(?:[eE][+-]?[0-9]{1,4})? ?", fullmatch=True),
    st.sampled_from(["true", "False", "1", "0", "a;b", ";;", "2024-05-01", "2024-05-01T00:00:00Z"]),
    st.binary(max_size=5),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=offsets),
    st.sampled_from(OPTIONS),
)
hostile = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.frozensets(st.text(max_size=3) | st.integers(), max_size=3)
        | st.tuples(children)
        | st.dictionaries(st.text(max_size=3), children, max_size=2)
    ),
    max_leaves=5,
)
types = st.sampled_from(list(T))


def builtin_type(value: Any) -> type:
    """The class a canonical value must have exactly (so 17 and 17.0 differ)."""
    return type(value)


def any_spec(type: PropertyType, *, target: bool = False) -> PropertySpec:
    """A spec of ``type``; enums declare OPTIONS (or TARGET_OPTIONS on a target)."""
    if type in (T.ENUM, T.MULTI_ENUM):
        return spec(type, *(TARGET_OPTIONS if target else OPTIONS))
    return spec(type)


def is_canonical(value: Any, type: PropertyType) -> bool:
    """Whether ``value`` has the canonical form of ``type`` (PropertyType's docstring)."""
    if value is None:
        return True
    if type is T.STRING or type is T.ENUM:
        return isinstance(value, str) and bool(value.strip())
    if type is T.NUMBER:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if type is T.BOOL:
        return isinstance(value, bool)
    if type is T.DATE:
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    if type is T.DATETIME:
        return isinstance(value, dt.datetime) and value.tzinfo is UTC
    return isinstance(value, frozenset) and bool(value) and all(isinstance(v, str) for v in value)


BIJECTION = dict(zip(OPTIONS, TARGET_OPTIONS, strict=True))


@given(type=types, value=hostile)
def test_coerce_raises_only_conversion_error(type: PropertyType, value: Any) -> None:
    """On any input coerce returns a canonical value or raises ConversionError (X1)."""
    message = ""
    try:
        result = coerce(value, any_spec(type))
    except ConversionError as exc:
        message = str(exc)
    else:
        assert is_canonical(result, type)
    assert len(message) < 300


@given(type=types, value=hostile)
def test_coerce_is_idempotent_on_its_output(type: PropertyType, value: Any) -> None:
    """Coercing a coerced value changes nothing."""
    try:
        once = coerce(value, any_spec(type))
    except ConversionError:
        return
    twice = coerce(once, any_spec(type))
    assert same_value(once, twice, type)
    assert builtin_type(once) is builtin_type(twice)


@pytest.mark.parametrize("type", list(T))
@given(data=st.data())
def test_canonical_values_coerce_to_themselves(type: PropertyType, data: st.DataObject) -> None:
    """A canonical value is its own coercion."""
    value = data.draw(CANONICAL[type])
    assert same_value(value, coerce(value, any_spec(type)), type)


@pytest.mark.parametrize(("source", "target"), FLOWING)
@given(data=st.data())
def test_convert_output_is_canonical_for_the_target(
    source: PropertyType, target: PropertyType, data: st.DataObject
) -> None:
    """Whatever convert returns is already canonical for the target (F4)."""
    value = data.draw(CANONICAL[source])
    target_spec = any_spec(target, target=True)
    out = convert(value, any_spec(source), target_spec, BIJECTION)
    assert is_canonical(out, target)
    assert same_value(out, coerce(out, target_spec), target)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(T, T)))
@given(value=hostile)
def test_convert_raises_only_conversion_error(
    source: PropertyType, target: PropertyType, value: Any
) -> None:
    """On any input and any pair of types convert raises nothing but ConversionError (X1)."""
    try:
        out = convert(value, any_spec(source), any_spec(target, target=True), BIJECTION)
    except ConversionError:
        return
    assert is_canonical(out, target)


@pytest.mark.parametrize("type", list(T))
@given(data=st.data())
def test_same_type_conversion_round_trips(type: PropertyType, data: st.DataObject) -> None:
    """A value carried into a property of its own type and back is unchanged (F4)."""
    value = data.draw(CANONICAL[type])
    prop = spec(type)
    there = convert(value, prop, prop)
    assert same_value(value, convert(there, prop, prop), type)


@given(value=st.dates())
def test_date_through_datetime_round_trips(value: dt.date) -> None:
    """DATE → DATETIME → DATE gives the same date (F4)."""
    there = convert(value, spec(T.DATE), spec(T.DATETIME))
    assert value == convert(there, spec(T.DATETIME), spec(T.DATE))


@given(
    value=st.datetimes(timezones=st.just(UTC)).map(
        lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0)
    )
)
def test_midnight_datetime_through_date_round_trips(value: dt.datetime) -> None:
    """A datetime at midnight UTC survives DATETIME → DATE → DATETIME (F4)."""
    there = convert(value, spec(T.DATETIME), spec(T.DATE))
    assert value == convert(there, spec(T.DATE), spec(T.DATETIME))


@given(value=st.sampled_from(OPTIONS))
def test_enum_with_a_bijective_option_map_round_trips(value: str) -> None:
    """An option mapped one-to-one goes to the app and back unchanged (F4)."""
    hub, app = spec(T.ENUM, *OPTIONS), spec(T.ENUM, *TARGET_OPTIONS)
    back = {v: k for k, v in BIJECTION.items()}
    assert value == convert(convert(value, hub, app, BIJECTION), app, hub, back)


@given(value=st.frozensets(st.sampled_from(OPTIONS), min_size=1))
def test_multi_enum_with_a_bijective_option_map_round_trips(value: frozenset[str]) -> None:
    """A multi-select mapped one-to-one goes to the app and back unchanged (F4)."""
    hub, app = spec(T.MULTI_ENUM, *OPTIONS), spec(T.MULTI_ENUM, *TARGET_OPTIONS)
    back = {v: k for k, v in BIJECTION.items()}
    assert value == convert(convert(value, hub, app, BIJECTION), app, hub, back)


@pytest.mark.parametrize("type", [T.NUMBER, T.BOOL, T.DATE, T.DATETIME, T.MULTI_ENUM])
@given(data=st.data())
def test_text_forms_read_back_as_the_same_value(type: PropertyType, data: st.DataObject) -> None:
    """The text a value renders as coerces back to that value, as HubSpot's strings do (F4)."""
    value = data.draw(CANONICAL[type])
    text = convert(value, spec(type), spec(T.STRING))
    assert same_value(value, coerce(text, spec(type)), type)
