"""R9, S8: a dry run lists the creates in flight it would send again, each with its source.

Found by the convergence machine (apps with idempotency keys that cannot look them up):
a dry run listed the re-sent creates of two records without naming the record each came
from, so two different writes read as the same one listed twice.
"""

from __future__ import annotations

from syncengine import AdapterError, ErrorCategory, ObjectSchema, PropertySpec
from syncengine.adapters import InMemoryAdapter
from syncengine.testing import FaultyAdapter

CONTACTS_HUB = ObjectSchema(
    "contacts",
    [PropertySpec(name, "string") for name in ("email", "firstname", "lastname", "phone")]
    + [
        PropertySpec("age", "number"),
        PropertySpec("lifecyclestage", "enum", options=("lead", "customer")),
    ],
)


class _HubWithKeysWithoutLookup(InMemoryAdapter):
    """Creates take idempotency keys; the hub cannot say which creates happened."""

    supports_idempotency_lookup = False


def test_a_dry_run_names_the_source_of_each_create_it_would_send_again(
    app, clock, make_engine, index
):
    inner = _HubWithKeysWithoutLookup([CONTACTS_HUB], name="hub", clock=clock, id_prefix="h")
    hub = FaultyAdapter(inner)
    ada = app.put("people", mail="ada@x.io", first_name="Ada")
    cy = app.put("people", mail="cy@x.io", first_name="Ada")
    hub.fail_next("create", AdapterError(ErrorCategory.UNAVAILABLE, "down"))
    engine = make_engine(hub=hub)
    engine.initial_sync()
    pending = sorted(e.app_id for e in index.entries("sync-1") if e.pending is not None)
    assert sorted([ada.id, cy.id]) == pending  # both creates are in flight (S8)

    report = engine.incremental_sync(dry_run=True)

    creates = sorted(
        (w.source_id, w.properties["email"]) for w in report.planned if w.action == "create"
    )
    assert [(ada.id, "ada@x.io"), (cy.id, "cy@x.io")] == sorted(creates)
    assert [] == inner.records("contacts")  # a dry run sends nothing
