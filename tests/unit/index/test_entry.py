"""Entry's field order: the hot paths build entries positionally (engine, SQLite store)."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from syncengine.index import Entry
from syncengine.index._entry import FIELD_ORDER, POSITIONAL


def test_entry_takes_its_fields_positionally_in_field_order() -> None:
    # If Entry gains, loses or reorders a field, FIELD_ORDER must follow, or the fast
    # positional paths silently fall back to keywords (slower, still correct).
    assert tuple(field.name for field in attrs.fields(Entry)) == FIELD_ORDER
    assert POSITIONAL
    at = datetime(2026, 1, 1, tzinfo=UTC)
    values = {name: getattr(Entry("s", "contacts", "e1", at), name) for name in FIELD_ORDER}
    assert Entry(*values.values()) == Entry(**values)
