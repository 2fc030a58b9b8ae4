"""HubSpot's string forms of property values, both ways (reference §3, SPEC F4)."""

from __future__ import annotations

import datetime as dt

import pytest

from syncengine import PropertySpec, PropertyType
from syncengine.adapters._hubspot_values import (
    ConversionError,
    from_hubspot,
    lastmod_property,
    parse_ms,
    spec_from_definition,
    to_hubspot,
)
from syncengine.testing.hubspot import property_definition

NUMBER = PropertySpec("n", PropertyType.NUMBER)
DATE = PropertySpec("d", PropertyType.DATE)
DATETIME = PropertySpec("t", PropertyType.DATETIME)
BOOL = PropertySpec("b", PropertyType.BOOL)
MULTI = PropertySpec("m", PropertyType.MULTI_ENUM, options=("a", "b", "c"))
ENUM = PropertySpec("e", PropertyType.ENUM, options=("x", "y"))


@pytest.mark.parametrize(
    ("value", "spec", "text"),
    [
        (17, NUMBER, "17"),
        (17.0, NUMBER, "17"),
        (0.1, NUMBER, "0.1"),
        (1e-7, NUMBER, "0.0000001"),
        (1.5e20, NUMBER, "150000000000000000000"),
        (True, BOOL, "true"),
        (False, BOOL, "false"),
        (dt.date(2024, 2, 29), DATE, "2024-02-29"),
        (dt.datetime(2024, 2, 29, tzinfo=dt.UTC), DATE, "2024-02-29"),
        (
            dt.datetime(2024, 1, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
            DATETIME,
            "2024-01-02T01:30:00.000Z",
        ),
        (dt.date(2024, 1, 1), DATETIME, "2024-01-01T00:00:00.000Z"),
        (frozenset({"c", "a"}), MULTI, "a;c"),
        ("y", ENUM, "y"),
        (None, ENUM, ""),
        (frozenset(), MULTI, ""),
    ],
)
def test_python_values_are_sent_as_hubspots_strings(value, spec, text):
    """Numbers plain, bools lower-case, dates at midnight UTC, ISO with Z, ';'-joined."""
    assert text == to_hubspot(value, spec)


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        ("seventeen", NUMBER),
        (dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC), DATE),
        (dt.datetime(2024, 1, 1, 10), DATETIME),
        ("z", ENUM),
        (frozenset({"a", "zz"}), MULTI),
        ("maybe", BOOL),
    ],
)
def test_values_hubspot_would_refuse_fail_before_sending(value, spec):
    """A date not at midnight, a naive datetime, a label instead of an option value, …"""
    with pytest.raises(ConversionError):
        to_hubspot(value, spec)


@pytest.mark.parametrize(
    ("text", "spec", "value"),
    [
        ("17", NUMBER, 17),
        ("17.25", NUMBER, 17.25),
        ("true", BOOL, True),
        ("FALSE", BOOL, False),
        ("2024-02-29", DATE, dt.date(2024, 2, 29)),
        ("1704067200000", DATE, dt.date(2024, 1, 1)),
        (
            "2019-10-30T03:30:17.883Z",
            DATETIME,
            dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC),
        ),
        ("1572406217883", DATETIME, dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC)),
        ("chocolate;strawberry", MULTI, frozenset({"chocolate", "strawberry"})),
        ("", NUMBER, None),
        (None, DATE, None),
    ],
)
def test_hubspots_strings_are_read_as_python_values(text, spec, value):
    """ISO or epoch-ms dates and datetimes, ints when integral, options unchecked."""
    assert value == from_hubspot(text, spec)


@pytest.mark.parametrize(("text", "spec"), [("12abc", NUMBER), ("soon", DATE), ("yes", BOOL)])
def test_text_that_does_not_parse_is_kept_so_one_record_fails_not_the_scan(text, spec):
    """X1: a bad stored value reaches the engine as text instead of raising mid-scan."""
    assert text == from_hubspot(text, spec)


def test_timestamps_parse_to_epoch_milliseconds():
    """ISO 8601 with Z or an offset, and epoch ms, give the same milliseconds."""
    assert 1572406217883 == parse_ms("2019-10-30T03:30:17.883Z")
    assert 1572406217883 == parse_ms("2019-10-30T04:30:17.883+01:00")
    assert 1572406217883 == parse_ms("1572406217883")
    assert parse_ms("yesterday") is None


def test_the_last_modified_property_differs_for_contacts():
    """lastmodifieddate on contacts, hs_lastmodifieddate elsewhere (reference §4)."""
    assert "lastmodifieddate" == lastmod_property("contacts")
    assert "hs_lastmodifieddate" == lastmod_property("companies")
    assert "hs_lastmodifieddate" == lastmod_property("p_cars")


@pytest.mark.parametrize(
    ("definition", "kind", "options"),
    [
        (
            property_definition("x", "enumeration", "checkbox", options=("a", "b")),
            PropertyType.MULTI_ENUM,
            ("a", "b"),
        ),
        (
            property_definition("x", "enumeration", "radio", options=(("v1", "Label 1"),)),
            PropertyType.ENUM,
            ("v1",),
        ),
        (
            property_definition("x", "enumeration", "booleancheckbox", options=("true", "false")),
            PropertyType.BOOL,
            (),
        ),
        (property_definition("x", "phone_number"), PropertyType.STRING, ()),
        (property_definition("x", "json"), PropertyType.STRING, ()),
    ],
)
def test_property_definitions_map_to_property_types(definition, kind, options):
    """Field types decide between select, multi-select and checkbox; options are values."""
    spec = spec_from_definition("companies", definition)
    assert (kind, options) == (spec.type, spec.options)


def test_internal_and_calculated_properties_are_read_only_and_never_required():
    """json/object_coordinates and calculated properties cannot be written."""
    assert spec_from_definition("deals", property_definition("x", "json")).read_only
    calculated = spec_from_definition(
        "deals", property_definition("x", "number", calculated=True), required=True
    )
    assert calculated.read_only
    assert not calculated.required
