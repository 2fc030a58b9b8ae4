"""The adapter conformance kit run against SQLiteAdapter, as a connector author would."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from syncengine import ObjectSchema, PropertySpec, PropertyType
from syncengine.adapters import Adapter, Pipeline, SQLiteAdapter, Stage
from syncengine.testing import AdapterTests, check_adapter

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
        PropertySpec("tags", PropertyType.MULTI_ENUM, options=("a", "b", "c")),
        PropertySpec("created_by", PropertyType.STRING, read_only=True),
    ],
)
PIPELINES = {"contacts": [Pipeline("p", "Sales", [Stage("s1", "New"), Stage("s2", "Won")])]}


def remove(adapter: Adapter, object_type: str, record_id: str) -> None:
    assert isinstance(adapter, SQLiteAdapter)
    adapter.remove(object_type, record_id)


class TestSQLiteAdapter(AdapterTests):
    max_examples = 10

    @pytest.fixture
    def adapter(self, tmp_path):
        adapter = SQLiteAdapter(
            tmp_path / "app.db", [CONTACTS], page_size=4, max_batch_size=10, pipelines=PIPELINES
        )
        yield adapter
        adapter.close()

    @pytest.fixture
    def object_type(self):
        return "contacts"

    def remove_record(self, adapter, object_type, record_id):
        adapter.remove(object_type, record_id)


class TestSQLiteAdapterDeletedByAnotherProgram(TestSQLiteAdapter):
    """The kit again, with its deletions made by another program: a plain ``sqlite3``
    connection's ``DELETE``, which the database's triggers turn into tombstones."""

    def remove_record(self, adapter, object_type, record_id):
        outside = sqlite3.connect(adapter.path)
        with outside:
            deleted = outside.execute(
                f'DELETE FROM "{object_type}" WHERE __id = ?', (record_id,)
            ).rowcount
        outside.close()
        if not deleted:
            raise KeyError(record_id)  # as SQLiteAdapter.remove does


def test_check_adapter_passes_for_the_sqlite_adapter(tmp_path):
    """check_adapter runs every check, deletion included, against fresh database files."""
    numbers = itertools.count()

    def make() -> SQLiteAdapter:
        path = tmp_path / f"app-{next(numbers)}.db"
        return SQLiteAdapter(path, [CONTACTS], page_size=4, max_batch_size=10, pipelines=PIPELINES)

    check_adapter(make, "contacts", max_examples=5, remove_record=remove)
