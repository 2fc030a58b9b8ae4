"""A config that does not fit the apps' schemas is refused when the engine is built (F4, X2, X6).

Issue 16: a two-way mapping of a text property to a boolean one was built and then carried
values one way only; an option map naming an option the target does not have failed each
record at run time; an object type the app does not have was an ``AdapterError``
(exit 1 from the command) naming neither the object sync nor the key.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine import (
    AdapterError,
    Condition,
    ConfigError,
    Direction,
    ErrorCategory,
    FieldMapping,
    Filter,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PipelineMap,
    PropertySpec,
    PropertyType,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter, Pipeline, Stage
from syncengine.index import MemoryIndexStore
from syncengine.mapping import ConversionError, coerce, flows
from syncengine.matching import NORMALIZERS


def _adapters(hub_extra=(), app_extra=()):
    hub = InMemoryAdapter(
        [ObjectSchema("contacts", [PropertySpec("email", "string"), *hub_extra])], name="crm"
    )
    app = InMemoryAdapter(
        [ObjectSchema("people", [PropertySpec("mail", "string"), *app_extra])], name="shop"
    )
    return hub, app


def _config(*mappings, app_type="people", hub_type="contacts"):
    return SyncConfig(
        "crm-shop",
        [
            ObjectSync(
                hub_type,
                app_type,
                [FieldMapping("email", "mail"), *mappings],
                match=MatchRule.email("email", "mail"),
            )
        ],
    )


def _refusal(hub, app, config) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        SyncEngine(hub, app, MemoryIndexStore(), config)
    return caught.value


class TestTypes:
    """F4: mapped properties' types must convert in every direction the mapping flows."""

    def test_two_way_text_to_boolean_is_refused_naming_sync_object_and_field(self):
        """The error names the mapping's path, both properties, the sync and the object sync."""
        hub, app = _adapters([PropertySpec("vip", "string")], [PropertySpec("vip", "bool")])
        error = _refusal(hub, app, _config(FieldMapping("vip", "vip")))
        assert "objects[0].mappings[1]" == error.path
        message = str(error)
        assert (
            "hub property 'vip' (string) cannot convert into app property 'vip' (bool)" in message
        )
        assert "set its direction to 'to_hub'" in message
        assert "sync 'crm-shop'" in message
        assert "contacts ↔ people" in message

    def test_the_one_way_it_can_flow_is_accepted_and_flows(self):
        """Said one-way, the same mapping is built, and app booleans reach the hub as text."""
        hub, app = _adapters([PropertySpec("vip", "string")], [PropertySpec("vip", "bool")])
        config = _config(FieldMapping("vip", "vip", direction=Direction.TO_HUB))
        engine = SyncEngine(hub, app, MemoryIndexStore(), config)
        app.put("people", mail="ada@example.com", vip=True)
        engine.initial_sync()
        assert "true" == hub.records("contacts")[0].properties["vip"]

    def test_update_config_refuses_the_same(self):
        """S2: a new config goes through the same checks."""
        hub, app = _adapters([PropertySpec("vip", "string")], [PropertySpec("vip", "bool")])
        engine = SyncEngine(hub, app, MemoryIndexStore(), _config())
        with pytest.raises(ConfigError, match=r"^objects\[0\]\.mappings\[1\]: "):
            engine.update_config(_config(FieldMapping("vip", "vip")))


_TYPES = st.sampled_from(list(PropertyType))


@given(hub_type=_TYPES, app_type=_TYPES, direction=st.sampled_from(list(Direction)))
def test_every_built_mapping_flows_as_configured(hub_type, app_type, direction):
    """X6: a mapping is refused, or every flow its direction asks for converts its types."""
    options = ("a", "b") if hub_type in ("enum", "multi_enum") else ()
    app_options = ("a", "b") if app_type in ("enum", "multi_enum") else ()
    hub, app = _adapters(
        [PropertySpec("x", hub_type, options=options)],
        [PropertySpec("y", app_type, options=app_options)],
    )
    config = _config(FieldMapping("x", "y", direction=direction))
    wants_app = direction is not Direction.TO_HUB
    wants_hub = direction is not Direction.TO_APP
    convertible = (not wants_app or flows(hub_type, app_type)) and (
        not wants_hub or flows(app_type, hub_type)
    )
    if not convertible:
        with pytest.raises(ConfigError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), config)
        assert "objects[0].mappings[1]" == caught.value.path
        return
    engine = SyncEngine(hub, app, MemoryIndexStore(), config)
    field = engine.plan_for("contacts").fields[1]
    assert (wants_app, wants_hub) == (field.to_app, field.to_hub)


_OPTION = st.sampled_from(["a", "b", "c", "d"])


@given(
    hub_options=st.lists(_OPTION, min_size=1, unique=True),
    app_options=st.lists(_OPTION, min_size=1, unique=True),
    table=st.dictionaries(_OPTION, _OPTION, max_size=4),
    direction=st.sampled_from(list(Direction)),
)
def test_a_built_choice_mapping_converts_every_option_that_can_flow(
    hub_options, app_options, table, direction
):
    """F4, X6: a choice mapping is refused, or each option of its source converts in
    every direction it flows (no record fails later for holding an option)."""
    from syncengine.mapping import convert

    hub_spec = PropertySpec("x", "enum", options=tuple(hub_options))
    app_spec = PropertySpec("y", "enum", options=tuple(app_options))
    hub, app = _adapters([hub_spec], [app_spec])
    refused: ConfigError | None = None
    try:
        config = _config(FieldMapping("x", "y", direction=direction, options=table or None))
        engine = SyncEngine(hub, app, MemoryIndexStore(), config)
    except ConfigError as error:
        refused = error
    if refused is not None:
        assert refused.path.startswith(("objects[0].mappings[1]", "options["))
        return
    field = engine.plan_for("contacts").fields[1]
    reverse = {v: k for k, v in table.items()}
    for wanted, source, target, options in (
        (field.to_app, hub_spec, app_spec, table),
        (field.to_hub, app_spec, hub_spec, reverse),
    ):
        for option in source.options if wanted else ():
            convert(option, source, target, options or None)  # never ConversionError


class TestOptions:
    """F4: option values a mapping names must be options of their properties."""

    HUB = (PropertySpec("stage", "enum", options=("lead", "customer")),)
    APP = (PropertySpec("status", "enum", options=("Lead", "Customer")),)

    def test_an_app_option_the_app_lacks_is_refused(self):
        """The target side: 'Custmer' is no option of the app's status."""
        hub, app = _adapters(self.HUB, self.APP)
        mapping = FieldMapping("stage", "status", options={"lead": "Lead", "customer": "Custmer"})
        error = _refusal(hub, app, _config(mapping))
        assert "objects[0].mappings[1].options['customer']" == error.path
        assert "'Custmer' is not an option of app property 'status'" in str(error)
        assert "'Lead', 'Customer'" in str(error)

    def test_a_hub_option_the_hub_lacks_is_refused_even_one_way(self):
        """A hub value that is no hub option could never be read: a typo, refused."""
        hub, app = _adapters(self.HUB, self.APP)
        mapping = FieldMapping(
            "stage", "status", direction=Direction.TO_APP, options={"leed": "Lead"}
        )
        error = _refusal(hub, app, _config(mapping))
        assert "objects[0].mappings[1].options['leed']" == error.path
        assert "'leed' is not an option of hub property 'stage'" in str(error)

    def test_options_are_not_checked_against_a_property_that_declares_none(self):
        """An enum without declared options accepts any value (the app did not say)."""
        hub, app = _adapters(self.HUB, [PropertySpec("status", "enum")])
        mapping = FieldMapping("stage", "status", options={"lead": "anything"})
        engine = SyncEngine(hub, app, MemoryIndexStore(), _config(mapping))
        hub.put("contacts", email="ada@example.com", stage="lead")
        engine.initial_sync()
        assert "anything" == app.records("people")[0].properties["status"]


class TestOptionsLeftUnmapped:
    """F4, X6: a choice mapping must carry every option that can flow through it. Before,
    a hub option the app lacked and the option map left out was built, and every record
    holding it failed at run time, on every pass."""

    HUB = (PropertySpec("stage", "enum", options=("subscriber", "lead", "customer")),)
    APP = (PropertySpec("status", "enum", options=("Lead", "Customer", "Churned")),)
    MAP = MappingProxyType({"lead": "Lead", "customer": "Customer"})

    def test_a_source_option_the_map_leaves_out_is_refused_naming_it(self):
        """'subscriber' (hub to app) and 'Churned' (app to hub) fit nowhere."""
        hub, app = _adapters(self.HUB, self.APP)
        error = _refusal(hub, app, _config(FieldMapping("stage", "status", options=self.MAP)))
        assert "objects[0].mappings[1].options" == error.path
        message = str(error)
        assert "hub property 'stage'" in message
        assert "app property 'status'" in message
        assert "'subscriber'" in message
        assert "'lead'" not in message

    def test_the_other_direction_is_checked_too(self):
        """The app's 'Churned' has no hub option and no entry: refused going to the hub."""
        hub, app = _adapters(
            (PropertySpec("stage", "enum", options=("lead", "customer")),), self.APP
        )
        mapping = FieldMapping("stage", "status", options=self.MAP)
        with pytest.raises(ConfigError, match="'Churned'") as caught:
            SyncEngine(hub, app, MemoryIndexStore(), _config(mapping))
        assert "app property 'status'" in str(caught.value)
        assert "'to_app'" in str(caught.value)  # the way out it suggests

    def test_options_a_filter_keeps_out_need_no_mapping(self):
        """The demo's case: only leads and customers go to the app, churned people stay
        out of the hub; nothing unmapped can flow, and the sync works."""
        hub, app = _adapters(self.HUB, self.APP)
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("stage", "status", options=self.MAP)],
            match=MatchRule.email("email", "mail"),
            hub_filter=Filter.where(Condition("stage", "in", ["lead", "customer"])),
            app_filter=Filter.where(Condition("status", "neq", "Churned")),
        )
        engine = SyncEngine(hub, app, MemoryIndexStore(), SyncConfig("crm-shop", [obj]))
        hub.put("contacts", email="ada@example.com", stage="lead")
        hub.put("contacts", email="sub@example.com", stage="subscriber")
        report = engine.initial_sync()
        assert 0 == report.failed
        assert [("ada@example.com", "Lead")] == [
            (p.properties["mail"], p.properties["status"]) for p in app.records("people")
        ]

    def test_a_filter_that_lets_the_option_through_does_not_excuse_it(self):
        """A condition on another property keeps nothing out for sure."""
        hub, app = _adapters(
            (*self.HUB, PropertySpec("vip", "bool")), (*self.APP, PropertySpec("vip", "bool"))
        )
        obj = ObjectSync(
            "contacts",
            "people",
            [FieldMapping("email", "mail"), FieldMapping("stage", "status", options=self.MAP)],
            match=MatchRule.email("email", "mail"),
            direction=Direction.TO_APP,
            hub_filter=Filter.where(Condition("vip", "eq", True)),
        )
        error = _refusal(hub, app, SyncConfig("crm-shop", [obj]))
        assert "'subscriber'" in str(error)

    def test_one_way_mappings_and_transforms_check_only_what_flows(self):
        """to_hub: the hub's 'subscriber' never flows; a transform decides itself."""
        hub, app = _adapters(self.HUB, self.APP)
        to_hub = FieldMapping(
            "stage",
            "status",
            direction=Direction.TO_HUB,
            options={**self.MAP, "churned": "Churned"},
        )
        with pytest.raises(ConfigError, match="'churned' is not an option of hub"):
            SyncEngine(hub, app, MemoryIndexStore(), _config(to_hub))
        to_hub = FieldMapping(
            "stage",
            "status",
            direction=Direction.TO_HUB,
            options=self.MAP,
            to_hub=lambda value: "lead",
        )
        SyncEngine(hub, app, MemoryIndexStore(), _config(to_hub))  # built
        to_app = FieldMapping(
            "stage",
            "status",
            direction=Direction.TO_APP,
            options={**self.MAP, "subscriber": "Lead"},
        )
        SyncEngine(hub, app, MemoryIndexStore(), _config(to_app))  # built: Churned stays


class TestObjectTypes:
    """X2: an object type an app does not have is a ConfigError naming it."""

    def test_unknown_app_type_names_the_key(self):
        """The app has no 'peeple': objects[0].app_type, with the adapter's word on it."""
        hub, app = _adapters()
        error = _refusal(hub, app, _config(app_type="peeple"))
        assert "objects[0].app_type" == error.path
        assert "the app ('shop') has no object type 'peeple'" in str(error)

    def test_unknown_hub_type_names_the_key(self):
        """The same for the hub."""
        hub, app = _adapters()
        error = _refusal(hub, app, _config(hub_type="contatcs"))
        assert "objects[0].hub_type" == error.path
        assert "the hub ('crm') has no object type 'contatcs'" in str(error)

    def test_a_schema_that_cannot_be_read_for_another_reason_stays_an_adapter_error(self):
        """Only NOT_FOUND is a config mistake; a permission problem is the app's."""

        class Locked(InMemoryAdapter):
            def schema(self, object_type):
                raise AdapterError(ErrorCategory.PERMISSION, "no scope")

        hub, _ = _adapters()
        app = Locked([ObjectSchema("people", [PropertySpec("mail", "string")])])
        with pytest.raises(AdapterError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), _config())
        assert ErrorCategory.PERMISSION == caught.value.category


_HUB_DEAL_PROPS = ("dealname", "pipeline", "dealstage")
_APP_DEAL_PROPS = ("title", "pipeline", "stage")


class TestStageMaps:
    """A3, X6: the pipelines and stages an explicit map names must exist in the apps."""

    @staticmethod
    def _deals(pipelines=True):
        hub = InMemoryAdapter(
            [ObjectSchema("deals", [PropertySpec(n, "string") for n in _HUB_DEAL_PROPS])]
        )
        app = InMemoryAdapter(
            [ObjectSchema("opps", [PropertySpec(n, "string") for n in _APP_DEAL_PROPS])]
        )
        if pipelines:
            hub.set_pipelines("deals", [Pipeline("default", "Sales", [Stage("won", "Won")])])
            app.set_pipelines("opps", [Pipeline("main", "Main", [Stage("s5", "Won")])])
        return hub, app

    @staticmethod
    def _config(pipeline_map):
        return SyncConfig(
            "s",
            [
                ObjectSync(
                    "deals",
                    "opps",
                    [FieldMapping("dealname", "title")],
                    match=MatchRule([("dealname", "title")], kinds=("text",)),
                    pipelines=[pipeline_map],
                )
            ],
        )

    def test_an_app_stage_the_app_pipeline_lacks_is_refused(self):
        """'s9' is no stage of the app's pipeline 'main': named with the stages there are."""
        hub, app = self._deals()
        error = _refusal(hub, app, self._config(PipelineMap("default", "main", {"won": "s9"})))
        assert "objects[0].pipelines[0].stages['won']" == error.path
        assert "the app pipeline 'main' has no stage 's9' (its stages: s5)" in str(error)

    def test_an_unknown_hub_pipeline_is_refused(self):
        """A pipeline id the hub does not have is named with the ones it has."""
        hub, app = self._deals()
        error = _refusal(hub, app, self._config(PipelineMap("sales", "main", {"won": "s5"})))
        assert "objects[0].pipelines[0].hub_pipeline" == error.path
        assert "no pipeline 'sales'" in str(error)
        assert "known: default" in str(error)

    def test_an_app_that_cannot_list_pipelines_is_taken_at_its_word(self):
        """Without pipelines to check against (A5), an explicit map is the user's to make."""

        class NoPipelines(InMemoryAdapter):
            def pipelines(self, object_type):
                raise AdapterError(ErrorCategory.PERMISSION, "no scope")

        hub, _ = self._deals()
        app = NoPipelines(
            [ObjectSchema("opps", [PropertySpec(n, "string") for n in _APP_DEAL_PROPS])]
        )
        SyncEngine(
            hub,
            app,
            MemoryIndexStore(),
            self._config(PipelineMap("default", "main", {"won": "s9"})),
        )


class TestDefaults:
    """F5, X6: a default its property cannot hold would fail every create; refused."""

    def test_a_default_that_does_not_fit_its_property_is_refused(self):
        """'soon' is no number: the path names app_default."""
        hub, app = _adapters([PropertySpec("score", "number")], [PropertySpec("score", "number")])
        error = _refusal(hub, app, _config(FieldMapping("score", "score", app_default="soon")))
        assert "objects[0].mappings[1].app_default" == error.path
        assert "app property 'score' (number) cannot hold this default" in str(error)

    def test_a_default_option_the_property_lacks_is_refused(self):
        """A default option must be one of the options."""
        hub, app = _adapters(TestOptions.HUB, TestOptions.APP)
        mapping = FieldMapping("stage", "status", options={"lead": "Lead"}, hub_default="prospect")
        error = _refusal(hub, app, _config(mapping))
        assert "objects[0].mappings[1].hub_default" == error.path


_NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
#: Canonical values of each property type, as records hold them.
_SAMPLES = {
    "string": ["x", "3", "true", "2024-05-01"],
    "number": [3, 2.5, 0],
    "bool": [True, False],
    "date": [date(2024, 5, 1)],
    "datetime": [_NOW],
    "enum": ["a", "b"],
    "multi_enum": [frozenset({"a"}), frozenset({"a", "b"})],
}
_FILTER_VALUES = st.sampled_from(
    ["x", "a", "A", "c", 3, 2.5, True, date(2024, 5, 1), _NOW, datetime(2024, 5, 1, 12)]
)


@given(
    kind=st.sampled_from(sorted(_SAMPLES)), value=_FILTER_VALUES, op=st.sampled_from(["eq", "gt"])
)
def test_a_built_filter_condition_can_hold_and_a_refused_one_never_could(kind, value, op):
    """L1, X6: a condition no value of its property satisfies is refused; one that is built
    is satisfied by a record holding the condition's own value."""
    options = ("a", "b") if kind in ("enum", "multi_enum") else ()
    hub, app = _adapters([PropertySpec("x", kind, options=options)])
    config = SyncConfig(
        "s",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail")],
                match=MatchRule.email("email", "mail"),
                hub_filter=Filter.where(Condition("x", op, value)),
            )
        ],
    )
    where = Filter.where(Condition("x", op, value))
    refused: ConfigError | None = None
    try:
        SyncEngine(hub, app, MemoryIndexStore(), config)
    except ConfigError as exc:
        refused = exc
    if refused is not None:
        assert "objects[0].hub_filter.where[0]" == refused.path
        assert not any(where.matches({"x": sample}) for sample in _SAMPLES[kind])
        return
    if op == "eq":  # some value a record can hold passes: the condition's own, or another
        held = frozenset({value}) if kind == "multi_enum" else value
        candidates = list(_SAMPLES[kind])
        with contextlib.suppress(ConversionError):
            candidates.append(coerce(held, PropertySpec("x", kind, options=options)))
        assert any(where.matches({"x": c}) for c in candidates)


class TestMatchKeyTypes:
    """M6, X6: a match key whose kind can make no identifier of its properties is refused."""

    def test_a_key_on_a_boolean_property_is_refused(self):
        """A bool is never an identifier: every record would go unmatched."""
        hub, app = _adapters([PropertySpec("vip", "bool")], [PropertySpec("vip", "bool")])
        config = SyncConfig(
            "s",
            [
                ObjectSync(
                    "contacts",
                    "people",
                    [FieldMapping("email", "mail")],
                    match=MatchRule([("vip", "vip")]),
                )
            ],
        )
        error = _refusal(hub, app, config)
        assert "objects[0].match.keys[0]" == error.path
        assert "hub property 'vip' is a bool property" in str(error)

    def test_a_stated_kind_is_checked_too(self):
        """kinds=("email",) on a number property is refused; ("phone",) is built."""
        hub, app = _adapters([PropertySpec("tel", "number")], [PropertySpec("tel", "string")])

        def config(kind):
            return SyncConfig(
                "s",
                [
                    ObjectSync(
                        "contacts",
                        "people",
                        [FieldMapping("email", "mail")],
                        match=MatchRule([("tel", "tel")], kinds=(kind,)),
                    )
                ],
            )

        assert "objects[0].match.keys[0]" == _refusal(hub, app, config("email")).path
        SyncEngine(hub, app, MemoryIndexStore(), config("phone"))


@given(kind=st.sampled_from(sorted(_SAMPLES)), key_kind=st.sampled_from(sorted(NORMALIZERS)))
def test_a_refused_match_key_could_never_identify_a_record(kind, key_kind):
    """M6, X6: a key is refused only when no value of its property makes an identifier."""
    options = ("a", "b") if kind in ("enum", "multi_enum") else ()
    hub, app = _adapters([PropertySpec("x", kind, options=options)], [PropertySpec("y", "string")])
    config = SyncConfig(
        "s",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail")],
                match=MatchRule([("x", "y")], kinds=(key_kind,)),
            )
        ],
    )
    refused: ConfigError | None = None
    try:
        SyncEngine(hub, app, MemoryIndexStore(), config)
    except ConfigError as exc:
        refused = exc
    if refused is not None:
        assert "objects[0].match.keys[0]" == refused.path
        assert all(NORMALIZERS[key_kind](v) is None for v in _SAMPLES[kind])
