"""``records.make_record``: ``Record(record_id, properties)`` without attrs's ``__init__``.

The index copy of a pair's counterpart is made a ``Record`` once per changed pair of an
incremental pass; ``Record``'s frozen ``__init__`` and its ``__attrs_post_init__`` (which
checks only ``updated_at``, ``None`` here) cost about three times the four slot stores.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from syncengine.records import Record, make_record


def test_make_record_is_the_constructor_of_a_record_without_a_time() -> None:
    values = {"email": "ada@example.com"}
    made = make_record("h1", values)
    assert type(made) is Record
    assert made == Record("h1", values)
    assert made.properties is values
    assert (made.id, made.updated_at, made.associations) == ("h1", None, {})
    assert made.associations is Record("x").associations  # the shared empty mapping
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.id = "h2"  # type: ignore[misc]


def test_record_init_only_checks_the_time() -> None:
    """make_record skips attrs's __init__: it is only right while that __init__ sets the
    fields (no validator, converter or factory) and the post-init checks ``updated_at``
    alone, which make_record leaves ``None``."""
    fields = attrs.fields(Record)
    assert [f.name for f in fields] == ["id", "properties", "updated_at", "associations"]
    assert all(f.validator is None and f.converter is None for f in fields)
    assert not any(isinstance(f.default, attrs.Factory) for f in fields)  # type: ignore[arg-type]
    Record("h1", {}, None)  # no check fails without a time
    with pytest.raises(ValueError, match="timezone-aware"):
        Record("h1", {}, datetime(2026, 1, 1))
    Record("h1", {}, datetime(2026, 1, 1, tzinfo=UTC))
