"""Makes ``sqlite_format1.db``: an app database in SQLiteAdapter's format 1.

Format 1 is the layout written before outside writers were seen (syncengine up to the
commit before format 2): record tables with ``NOT NULL`` bookkeeping columns and no
triggers. The file was generated once with that code (``python make_sqlite_format1.py``
on commit f768a41) and is kept so the migration test opens a real old file; this script
documents what is in it. It does not run against format-2 code on purpose.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncengine import ObjectSchema, PropertySpec, PropertyType
from syncengine.adapters import NewRecord, Pipeline, RecordUpdate, SQLiteAdapter, Stage

CONTACTS = ObjectSchema(
    "contacts",
    [
        PropertySpec("email", PropertyType.STRING, unique=True),
        PropertySpec("name", PropertyType.STRING),
        PropertySpec("since", PropertyType.DATE),
        PropertySpec("tags", PropertyType.MULTI_ENUM, options=("vip", "beta")),
    ],
)
COMPANIES = ObjectSchema("companies", [PropertySpec("name", PropertyType.STRING)])


def main(path: Path) -> None:
    path.unlink(missing_ok=True)
    moments = iter(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(1000))
    app = SQLiteAdapter(
        path,
        [CONTACTS, COMPANIES],
        id_prefix="c",
        clock=lambda: next(moments),
        pipelines={"contacts": [Pipeline("p", "Sales", [Stage("s1", "New")])]},
    )
    results = app.create(
        "contacts",
        [NewRecord({"email": f"p{n}@x.io", "name": f"Person {n}"}, f"k{n}") for n in range(6)],
    )
    ids = [r.record_id for r in results]
    (acme,) = app.create("companies", [NewRecord({"name": "Acme"}, "")])
    app.link("contacts", ids[0], "companies", acme.record_id)
    app.update("contacts", [RecordUpdate(ids[1], {"tags": frozenset({"vip"})})])
    app.remove("contacts", ids[2])
    app.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA page_size = 512")
    conn.execute("VACUUM")
    conn.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sqlite_format1.db"))
