"""What is configured works, or is refused when the engine is built (SPEC X2, X6).

An adapter says what it can do with its ``supports_*`` flags. A config that uses a
capability (links, auto-mapped stages) is refused when an adapter does not declare it, or
declares it without implementing it, naming the sync, the object type and the flag. A
link the app refuses fails its record with a true hint, and the pass's report counts it
as :meth:`~syncengine.SyncEngine.status` does.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine import (
    ConfigError,
    ErrorCategory,
    PipelineMap,
    RecordState,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import Adapter, InMemoryAdapter, Pipeline, Stage
from syncengine.index import MemoryIndexStore
from syncengine.records import WriteResult
from syncengine.testing import FaultyAdapter

from .conftest import (
    COMPANIES_APP,
    COMPANIES_HUB,
    CONTACTS_APP,
    CONTACTS_HUB,
    FakeClock,
    companies_sync,
    contacts_sync,
)


class QuietLinker(InMemoryAdapter):
    """An app that implements associate() but forgot to say so."""

    supports_associations = False


class Boaster(InMemoryAdapter):
    """An app that says it links records but has no associate() of its own."""

    associate = Adapter.associate


class RefusingLinker(InMemoryAdapter):
    """An app that refuses links to some accounts (by name), as an app at a limit would."""

    refused: frozenset[str] = frozenset()

    def associate(self, pairs):
        def refused(pair):
            target = self.get(pair.to_type, pair.to_id)
            return target is not None and target.properties.get("company") in self.refused

        done = iter(super().associate([p for p in pairs if not refused(p)]))
        return [
            WriteResult.failed(ErrorCategory.ASSOCIATION, "this account has too many contacts")
            if refused(p)
            else next(done)
            for p in pairs
        ]


def linked_config() -> SyncConfig:
    return SyncConfig("links-1", [companies_sync(), contacts_sync(associations=("companies",))])


def apps(app_class: type[InMemoryAdapter] = InMemoryAdapter, clock=None):
    hub = InMemoryAdapter([CONTACTS_HUB, COMPANIES_HUB], name="hub", id_prefix="h", clock=clock)
    app = app_class([CONTACTS_APP, COMPANIES_APP], name="shop", id_prefix="a", clock=clock)
    return hub, app


class TestFlagsAgreeWithTheConfig:
    """X6: a capability the config uses is declared and implemented, or refused."""

    def test_an_adapter_that_links_without_saying_so_is_refused_with_its_flag(self):
        """The issue's case: associate() implemented, supports_associations left False.
        Today's main builds the engine and every record then fails `association`."""
        hub, app = apps(QuietLinker)
        with pytest.raises(ConfigError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), linked_config())
        message = str(caught.value)
        assert caught.value.path == "objects[1].associations"
        for needed in ("'links-1'", "'contacts'", "supports_associations", "'shop'", "True"):
            assert needed in message

    def test_an_adapter_that_claims_links_it_cannot_make_is_refused(self):
        hub, app = apps(Boaster)
        with pytest.raises(ConfigError, match=r"supports_associations = True but does not"):
            SyncEngine(hub, app, MemoryIndexStore(), linked_config())

    def test_the_hub_side_is_checked_too(self):
        hub = QuietLinker([CONTACTS_HUB, COMPANIES_HUB], name="crm")
        app = InMemoryAdapter([CONTACTS_APP, COMPANIES_APP], name="shop")
        with pytest.raises(ConfigError, match=r"hub adapter 'crm'.*supports_associations"):
            SyncEngine(hub, app, MemoryIndexStore(), linked_config())

    def test_without_links_configured_the_flag_does_not_matter(self):
        hub, app = apps(QuietLinker)
        config = SyncConfig("s", [companies_sync(), contacts_sync()])
        report = SyncEngine(hub, app, MemoryIndexStore(), config).initial_sync()
        assert 0 == report.failed

    def test_a_wrapped_adapter_keeps_its_flags(self):
        """FaultyAdapter forwards its inner adapter's flags, so the check sees them."""
        hub, app = apps(QuietLinker)
        with pytest.raises(ConfigError, match="supports_associations"):
            SyncEngine(hub, FaultyAdapter(app), MemoryIndexStore(), linked_config())

    def test_update_config_checks_the_flags_too(self):
        hub, app = apps(QuietLinker)
        engine = SyncEngine(hub, app, MemoryIndexStore(), SyncConfig("links-1", [companies_sync()]))
        with pytest.raises(ConfigError, match="supports_associations"):
            engine.update_config(linked_config())
        assert () == engine.config.objects[0].associations

    def test_auto_mapped_stages_need_supports_pipelines(self, deals_engine_parts):
        """Auto-mapping stages reads pipelines(); an adapter must declare it."""

        class QuietPipelines(InMemoryAdapter):
            supports_pipelines = False

        hub, app, config = deals_engine_parts(QuietPipelines)
        with pytest.raises(ConfigError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), config)
        assert caught.value.path == "objects[0].pipelines"
        assert "supports_pipelines" in str(caught.value)
        assert "'deals'" in str(caught.value)

    def test_explicit_stages_need_no_pipelines_capability(self, deals_engine_parts):
        class NoPipelines(InMemoryAdapter):
            supports_pipelines = False
            pipelines = Adapter.pipelines

        hub, app, config = deals_engine_parts(NoPipelines, stages={"hs1": "s1"})
        SyncEngine(hub, app, MemoryIndexStore(), config)  # builds

    @pytest.mark.parametrize(
        ("attribute", "value"),
        [
            ("supports_associations", "yes"),
            ("supports_idempotency_keys", 1),
            ("supports_pipelines", None),
            ("supports_idempotency_lookup", "true"),
            ("max_batch_size", 0),
            ("max_batch_size", 2.5),
        ],
    )
    def test_flags_and_batch_size_must_be_what_they_say(self, attribute, value):
        """A flag that is not True/False, or a batch size below 1, is refused when built."""
        hub, app = apps()
        setattr(app, attribute, value)
        config = SyncConfig("s", [contacts_sync()])
        with pytest.raises(ConfigError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), config)
        assert caught.value.path == f"app.{attribute}"
        assert "'shop'" in str(caught.value)

    def test_a_lookup_claimed_without_the_method_is_refused(self):
        """S8, X6: supports_idempotency_lookup without lookup_idempotency_keys() would
        fail every settlement of a lost create; it is refused when the engine is built."""

        class LooksUpNothing(InMemoryAdapter):
            lookup_idempotency_keys = Adapter.lookup_idempotency_keys

        hub, app = apps(LooksUpNothing)
        with pytest.raises(ConfigError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), SyncConfig("s", [contacts_sync()]))
        assert caught.value.path == "app.supports_idempotency_lookup"
        assert "lookup_idempotency_keys()" in str(caught.value)
        LooksUpNothing.supports_idempotency_lookup = False
        SyncEngine(hub, app, MemoryIndexStore(), SyncConfig("s", [contacts_sync()]))  # builds


@pytest.fixture
def deals_engine_parts():
    """(hub, app, config) of a deals sync whose stages are auto-mapped unless given."""
    from syncengine import FieldMapping, MatchRule, ObjectSchema, ObjectSync, PropertySpec

    def make(app_class, stages=None):
        hub_schema = ObjectSchema(
            "deals",
            [
                PropertySpec("dealname", "string"),
                PropertySpec("pipeline", "string"),
                PropertySpec("dealstage", "string"),
            ],
        )
        app_schema = ObjectSchema(
            "opportunities",
            [
                PropertySpec("title", "string"),
                PropertySpec("pipeline", "string"),
                PropertySpec("stage", "string"),
            ],
        )
        hub = InMemoryAdapter(
            [hub_schema],
            name="hub",
            pipelines={"deals": [Pipeline("default", "Sales", [Stage("hs1", "Won")])]},
        )
        app = app_class(
            [app_schema],
            name="shop",
            pipelines={"opportunities": [Pipeline("main", "Main", [Stage("s1", "Won")])]},
        )
        deals = ObjectSync(
            "deals",
            "opportunities",
            [FieldMapping("dealname", "title")],
            match=MatchRule([("dealname", "title")], kinds=("text",)),
            pipelines=[PipelineMap("default", "main", stages)],
        )
        return hub, app, SyncConfig("deals-1", [deals])

    return make


class TestRefusedLinks:
    """A1, R2, R4: a link the app refuses fails its record, and every count says so."""

    def test_a_refused_link_is_counted_by_the_report_and_has_a_true_hint(self):
        """Today's main: summary says 0 failed while status says 1, and the hint says the
        other record is 'not synced yet' although both are synced."""
        hub, app = apps(RefusingLinker)
        acme = hub.put("companies", name="Acme", domain="acme.com")
        ada = hub.put("contacts", email="ada@example.com", lastname="Lovelace")
        hub.link("contacts", ada.id, "companies", acme.id)
        engine = SyncEngine(hub, app, MemoryIndexStore(), linked_config())
        app.refused = frozenset({"Acme"})
        report = engine.initial_sync()
        assert 1 == engine.status()["contacts"].failed
        assert 1 == report.get("failed", "contacts") == report.failed
        assert "1 failed" in report.summary()
        # The contact was created in the app: one create, then its link failed.
        assert 1 == report.get("created", "contacts", side=None)
        (view,) = engine.records("contacts", state=RecordState.FAILED)
        assert ErrorCategory.ASSOCIATION == view.category
        assert "too many contacts" in view.message
        assert "not synced yet" not in view.hint
        assert "refused" in view.hint

    def test_a_refused_link_of_an_unchanged_pair_moves_it_from_unchanged_to_failed(self):
        """A record counted unchanged whose link then fails is counted once, as failed."""
        clock = FakeClock()
        hub, app = apps(RefusingLinker, clock=clock)
        acme = hub.put("companies", name="Acme", domain="acme.com")
        ada = hub.put("contacts", email="ada@example.com", lastname="Lovelace")
        engine = SyncEngine(hub, app, MemoryIndexStore(), linked_config(), clock=clock)
        engine.initial_sync()
        clock.advance()
        app.refused = frozenset({"Acme"})
        hub.link("contacts", ada.id, "companies", acme.id)  # a link, no field change
        report = engine.incremental_sync()
        assert 1 == engine.status()["contacts"].failed
        assert 1 == report.get("failed", "contacts")
        assert 0 == report.get("unchanged", "contacts")

    def test_a_link_completed_by_a_later_pass_counts_its_refusal(self):
        """A link that waited for its other end, and is refused when that end syncs, is
        a failure of the pass that tried it (the _complete_waiting path)."""
        clock = FakeClock()
        hub, app = apps(RefusingLinker, clock=clock)
        from syncengine import Condition, Filter

        companies = companies_sync(hub_filter=Filter([[Condition("domain", "is_known")]]))
        config = SyncConfig("links-1", [companies, contacts_sync(associations=("companies",))])
        acme = hub.put("companies", name="Acme")  # no domain: filtered out for now
        ada = hub.put("contacts", email="ada@example.com", lastname="Lovelace")
        hub.link("contacts", ada.id, "companies", acme.id)
        engine = SyncEngine(hub, app, MemoryIndexStore(), config, clock=clock)
        assert 0 == engine.initial_sync().failed
        assert 0 == engine.status()["contacts"].failed
        clock.advance()
        app.refused = frozenset({"Acme"})
        hub.patch("companies", acme.id, domain="acme.com")
        report = engine.incremental_sync()
        assert 1 == engine.status()["contacts"].failed
        assert 1 == report.get("failed", "contacts")


@settings(
    max_examples=40,
    deadline=None,
    # too_slow is timing: a loaded CI machine must not fail it (the ci profile's choice,
    # which a suppress_health_check list here would otherwise replace).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    links=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), max_size=8, unique=True),
    later=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), max_size=4, unique=True),
    refused=st.sets(st.integers(0, 2)),
    refused_later=st.sets(st.integers(0, 2)),
    in_app=st.sets(st.integers(0, 4)),
)
def test_the_report_counts_every_failure_status_counts(
    links, later, refused, refused_later, in_app
):
    """Property (R4): after an initial sync over a fresh index, the report's failed count
    per object type equals status()'s, whatever links exist and whichever the app
    refuses; a later incremental pass counts every record it failed (the generator that
    finds the report/status disagreement)."""
    clock = FakeClock()
    hub, app = apps(RefusingLinker, clock=clock)
    companies = [hub.put("companies", name=f"Co {c}", domain=f"co{c}.com") for c in range(3)]
    contacts = []
    for p in range(5):
        email = f"p{p}@example.com"
        contacts.append(hub.put("contacts", email=email, lastname=f"P{p}"))
        if p in in_app:
            app.put("people", mail=email, last_name=f"P{p}")
    for p, c in links:
        hub.link("contacts", contacts[p].id, "companies", companies[c].id)
    index = MemoryIndexStore()
    engine = SyncEngine(hub, app, index, linked_config(), clock=clock)
    app.refused = frozenset(f"Co {c}" for c in refused)
    report = engine.initial_sync()
    for name, status in engine.status().items():
        assert status.failed == report.get("failed", name), name
    refused_links = {p for p, c in links if c in refused}
    assert len(refused_links) == engine.status()["contacts"].failed

    clock.advance()
    app.refused = frozenset(f"Co {c}" for c in refused_later)
    for p, c in later:
        hub.link("contacts", contacts[p].id, "companies", companies[c].id)
    report = engine.incremental_sync()
    failed_now = [  # failed (again, perhaps) by this pass: _failed stamps the pass's time
        e
        for e in index.entries("links-1", states={RecordState.FAILED})
        if e.updated_at == clock.now
    ]
    assert len(failed_now) == report.failed, report.summary()
