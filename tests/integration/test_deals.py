"""End-to-end: deals with pipelines and stages, and associations (SPEC A1–A5)."""

from __future__ import annotations

import pytest

from syncengine import (
    AdapterError,
    ConfigError,
    ErrorCategory,
    ExcludeReason,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PipelineMap,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import Pipeline, Stage

HUB_PIPELINES = [
    Pipeline(
        "default",
        "Sales Pipeline",
        [
            Stage("appointmentscheduled", "Appointment scheduled"),
            Stage("qualifiedtobuy", "Qualified to buy"),
            Stage("closedwon", "Closed won"),
            Stage("closedlost", "Closed lost"),
        ],
    ),
    Pipeline("renewals", "Renewals", [Stage("r-open", "Open"), Stage("r-done", "Renewed")]),
]
APP_PIPELINES = [
    Pipeline(
        "main",
        "Main",
        [
            Stage("s1", "appointment scheduled "),
            Stage("s2", "CLOSED WON"),
            Stage("s3", "Closed-Lost"),
            Stage("s4", "Negotiation"),
        ],
    ),
    Pipeline("renew", "Renewals", [Stage("n1", "Open"), Stage("n2", "Renewed")]),
]

HUB_DEALS = ObjectSchema(
    "deals",
    [
        PropertySpec("dealname", "string"),
        PropertySpec("amount", "number"),
        PropertySpec("pipeline", "string"),
        PropertySpec("dealstage", "string"),
    ],
)
APP_DEALS = ObjectSchema(
    "opportunities",
    [
        PropertySpec("title", "string"),
        PropertySpec("value", "number"),
        PropertySpec("pipeline", "string"),
        PropertySpec("stage", "string"),
    ],
)


@pytest.fixture
def hub(hub):
    """The hub of conftest, with deals in two pipelines."""
    hub.add_schema(HUB_DEALS)
    hub.set_pipelines("deals", HUB_PIPELINES)
    return hub


@pytest.fixture
def app(app):
    """The app of conftest, with opportunities in two pipelines."""
    app.add_schema(APP_DEALS)
    app.set_pipelines("opportunities", APP_PIPELINES)
    return app


def deals_sync(pipelines=None, **changes):
    """The deals ↔ opportunities object sync."""
    fields = {
        "hub_type": "deals",
        "app_type": "opportunities",
        "mappings": [FieldMapping("dealname", "title"), FieldMapping("amount", "value")],
        "match": MatchRule([("dealname", "title")], kinds=("text",)),
        "pipelines": pipelines
        if pipelines is not None
        else [PipelineMap("default", "main"), PipelineMap("renewals", "renew")],
        "pipeline_fields": ("pipeline", "pipeline"),
        "stage_fields": ("dealstage", "stage"),
        **changes,
    }
    return ObjectSync(**fields)


def deal(adapter, side, name, pipeline, stage, **extra):
    """Put a deal into an app."""
    if side is Side.HUB:
        return adapter.put("deals", dealname=name, pipeline=pipeline, dealstage=stage, **extra)
    return adapter.put("opportunities", title=name, pipeline=pipeline, stage=stage, **extra)


def by_name(adapter, side):
    """Deals by name."""
    if side is Side.HUB:
        return {r.properties["dealname"]: r for r in adapter.records("deals")}
    return {r.properties["title"]: r for r in adapter.records("opportunities")}


class TestPipelines:
    """A3–A5."""

    def test_auto_map_pairs_realistic_stage_labels(self, make_engine):
        """A4: labels match ignoring case, spacing and punctuation; ambiguity never pairs."""
        engine = make_engine(deals_sync())
        stages = engine.plan_for("deals").sync.pipelines[0].stages
        assert {
            "appointmentscheduled": "s1",
            "closedwon": "s2",
            "closedlost": "s3",
        } == dict(stages)

    def test_auto_map_pairs_by_exact_label_first(self):
        """A4: an exact label beats a fuzzy one."""
        mapped = PipelineMap.auto(
            "p",
            "q",
            [Stage("a", "Won"), Stage("b", "won")],
            [Stage("x", "won"), Stage("y", "Won")],
        )
        assert {"a": "y", "b": "x"} == dict(mapped.stages)

    def test_stages_translate_both_ways_and_unmapped_deals_are_excluded(
        self, hub, app, index, make_engine
    ):
        """A3: mapped stages translate; a deal in an unmapped stage is excluded."""
        deal(hub, Side.HUB, "Big", "default", "closedwon", amount=100)
        deal(hub, Side.HUB, "Maybe", "default", "qualifiedtobuy", amount=5)
        deal(app, Side.APP, "Renewal", "renew", "n2", value=7)
        make_engine(deals_sync()).initial_sync()
        apps = by_name(app, Side.APP)
        hubs = by_name(hub, Side.HUB)
        assert ("main", "s2") == (
            apps["Big"].properties["pipeline"],
            apps["Big"].properties["stage"],
        )
        assert ("renewals", "r-done") == (
            hubs["Renewal"].properties["pipeline"],
            hubs["Renewal"].properties["dealstage"],
        )
        assert "Maybe" not in apps
        (excluded,) = index.entries("sync-1", "deals", states={RecordState.EXCLUDED})
        assert ExcludeReason.UNMAPPED_STAGE is excluded.reason

    def test_a_deal_moving_into_a_mapped_stage_starts_to_sync(self, hub, app, make_engine):
        """A3: an excluded deal syncs once its stage becomes mapped."""
        maybe = deal(hub, Side.HUB, "Maybe", "default", "qualifiedtobuy")
        engine = make_engine(deals_sync())
        engine.initial_sync()
        hub.patch("deals", maybe.id, dealstage="closedlost")
        engine.incremental_sync()
        assert "s3" == by_name(app, Side.APP)["Maybe"].properties["stage"]
        app.patch("opportunities", by_name(app, Side.APP)["Maybe"].id, stage="s1")
        engine.incremental_sync()
        assert "appointmentscheduled" == hub.get("deals", maybe.id).properties["dealstage"]

    def test_explicit_stage_maps_for_several_pipelines(self, hub, app, make_engine):
        """A3: several pipelines mapped at once, explicitly."""
        pipelines = [
            PipelineMap("default", "main", {"qualifiedtobuy": "s4", "closedwon": "s2"}),
            PipelineMap("renewals", "renew", {"r-open": "n1", "r-done": "n2"}),
        ]
        deal(hub, Side.HUB, "Q", "default", "qualifiedtobuy")
        deal(hub, Side.HUB, "R", "renewals", "r-open")
        make_engine(deals_sync(pipelines)).initial_sync()
        apps = by_name(app, Side.APP)
        assert ("s4", "n1") == (apps["Q"].properties["stage"], apps["R"].properties["stage"])

    def test_no_permission_to_read_stages_is_a_clear_error(self, hub, app, index, clock):
        """A5: a missing permission names the problem, never an empty mapping."""
        app.deny_pipelines("opportunities")
        with pytest.raises(ConfigError, match=r"objects\[0\]\.pipelines.*permission"):
            SyncEngine(hub, app, index, SyncConfig("s", [deals_sync()]), clock=clock)

    def test_an_unknown_pipeline_is_named(self, hub, app, index, clock):
        """A5: a pipeline the app does not have is a ConfigError naming it."""
        with pytest.raises(ConfigError, match="'nope'"):
            SyncEngine(
                hub,
                app,
                index,
                SyncConfig("s", [deals_sync([PipelineMap("nope", "main")])]),
                clock=clock,
            )


class TestAssociations:
    """A1, A2."""

    def config(self, contacts_sync, companies_sync):
        return [
            contacts_sync(associations=("companies",)),
            companies_sync(),
        ]

    def test_links_are_created_across_apps_in_both_directions(
        self, hub, app, make_engine, contacts_sync, companies_sync
    ):
        """A1: a link in one app is created in the other between the paired records."""
        acme = hub.put("companies", name="Acme", domain="acme.com")
        ada = hub.put("contacts", email="ada@example.com", lastname="L")
        hub.link("contacts", ada.id, "companies", acme.id)
        globex = app.put("accounts", company="Globex", website="globex.com")
        alan = app.put("people", mail="alan@example.com", last_name="T")
        app.link("people", alan.id, "accounts", globex.id)
        engine = make_engine(*self.config(contacts_sync, companies_sync))
        engine.initial_sync()
        ada_app = next(
            r for r in app.records("people") if r.properties["mail"] == "ada@example.com"
        )
        acme_app = next(r for r in app.records("accounts") if r.properties["company"] == "Acme")
        assert {acme_app.id} == set(ada_app.associations["accounts"])
        alan_hub = next(
            r for r in hub.records("contacts") if r.properties["email"] == "alan@example.com"
        )
        globex_hub = next(r for r in hub.records("companies") if r.properties["name"] == "Globex")
        assert {globex_hub.id} == set(alan_hub.associations["companies"])
        assert 0 == engine.incremental_sync().failed

    def test_a_link_waits_for_its_other_end_and_completes_later(
        self, hub, app, index, make_engine, contacts_sync, companies_sync
    ):
        """A1: a link whose other end is not synced yet is completed by a later pass."""
        ada = hub.put("contacts", email="ada@example.com", lastname="L")
        # The company cannot sync yet: it has no name or domain (no identifier).
        acme = hub.put("companies", name=None, domain=None)
        hub.link("contacts", ada.id, "companies", acme.id)
        engine = make_engine(*self.config(contacts_sync, companies_sync))
        engine.initial_sync()
        ada_app = next(
            r for r in app.records("people") if r.properties["mail"] == "ada@example.com"
        )
        assert not ada_app.associations.get("accounts")
        (entry,) = index.by_record_ids("sync-1", "contacts", Side.HUB, [ada.id]).values()
        assert any(k.startswith("~companies:hub:") for k in entry.keys)
        hub.patch("companies", acme.id, name="Acme")
        app.reset_calls()
        engine.incremental_sync()
        assert 0 == app.calls["scan_full"]
        acme_app = next(r for r in app.records("accounts") if r.properties["company"] == "Acme")
        ada_app = app.get("people", ada_app.id)
        assert {acme_app.id} == set(ada_app.associations["accounts"])

    def test_a_removed_link_is_not_deleted_on_the_other_side(
        self, hub, app, index, make_engine, contacts_sync, companies_sync
    ):
        """A1, X3: unlinking in one app keeps the link in the other; history says so."""
        acme = hub.put("companies", name="Acme", domain="acme.com")
        ada = hub.put("contacts", email="ada@example.com", lastname="L")
        hub.link("contacts", ada.id, "companies", acme.id)
        engine = make_engine(*self.config(contacts_sync, companies_sync))
        engine.initial_sync()
        ada_app = next(
            r for r in app.records("people") if r.properties["mail"] == "ada@example.com"
        )
        hub.put(
            "contacts", dict(hub.get("contacts", ada.id).properties), id=ada.id, associations={}
        )
        engine.incremental_sync()
        assert (
            ada_app.associations["accounts"]
            == app.get("people", ada_app.id).associations["accounts"]
        )
        assert not hub.get("contacts", ada.id).associations.get("companies")
        explanation = engine.explain(Side.HUB, "contacts", ada.id)
        assert any("kept in app" in h.detail for h in explanation.history)

    def test_invoices_link_to_contacts_by_default(self, hub, app, index, clock, contacts_sync):
        """A2: an invoice sync keeps its contact links without being told to."""
        hub.add_schema(ObjectSchema("invoices", [PropertySpec("number", "string")]))
        app.add_schema(ObjectSchema("bills", [PropertySpec("no", "string")]))
        invoices = ObjectSync(
            "invoices", "bills", [FieldMapping("number", "no")], match=MatchRule([("number", "no")])
        )
        engine = SyncEngine(
            hub, app, index, SyncConfig("s", [invoices, contacts_sync()]), clock=clock
        )
        assert ("contacts",) == engine.plan_for("invoices").sync.associations
        assert ["contacts", "invoices"] == [
            o.hub_type for o in (engine.plan_for("contacts").sync, engine.plan_for("invoices").sync)
        ]

    def test_link_failures_are_recorded_not_fatal(
        self, hub, app, index, make_engine, contacts_sync, companies_sync
    ):
        """A1, R7: an app that refuses a link fails the entry with the category; others go on."""
        from syncengine.testing import FaultyAdapter

        faulty = FaultyAdapter(app)
        acme = hub.put("companies", name="Acme", domain="acme.com")
        ada = hub.put("contacts", email="ada@example.com", lastname="L")
        hub.link("contacts", ada.id, "companies", acme.id)
        faulty.fail_next("associate", AdapterError(ErrorCategory.UNAVAILABLE, "503"))
        engine = make_engine(*self.config(contacts_sync, companies_sync), app=faulty)
        engine.initial_sync()
        (failed,) = index.entries("sync-1", "contacts", states={RecordState.FAILED})
        assert ErrorCategory.UNAVAILABLE is failed.category
        engine.incremental_sync()
        ada_app = next(
            r for r in app.records("people") if r.properties["mail"] == "ada@example.com"
        )
        assert ada_app.associations.get("accounts")
