"""The pure decision core (sans-I/O).

Theory of operation
-------------------
The engine (``engine.py``) reads pages from adapters and entries from the index; for each
record, or matched pair of records, it asks this module what to do. The answer is an
inert :class:`Decision` value:

* :class:`Apply` — write these fields (``UpdateIn``) or create this record
  (``CreateIn``) on a side, then store these copies in the index;
* :class:`Exclude` — the record does not take part, with a reason (rule R3);
* :class:`Fail` — the record cannot sync, with a category and a message naming the field
  (rule R2, X1);
* :class:`NoChange` — both sides and the index already agree.

Rules of this module:

1. No I/O here: no adapter, index store, clock or logging call. Everything it needs is
   passed in; everything it decides is returned. A dry run is "decide, don't execute";
   property tests need no fakes.
2. Hub and app are treated symmetrically through :class:`~syncengine.Side`; the only
   asymmetries are the ones the configuration states (direction, winner, filters).
3. Every decision carries its reason. Nothing here ever deletes anything in an app (X3):
   there is no decision that could.

:func:`compile_object` binds an :class:`~syncengine.ObjectSync` to both apps' schemas once,
when an engine is built, and rejects what cannot work (rule F4, X2). :func:`identify`
computes a record's normalized identifier keys (M1, M6); :func:`choose_match` picks the
entry a new record pairs with, or finds it a duplicate (M2, M3, M7); :func:`decide` is the
rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, Protocol

import attrs
from typing_extensions import override

from syncengine.config import Direction, FieldMapping, ObjectSync
from syncengine.conflicts import Conflict, Resolution, Why, resolve_field
from syncengine.entry import Entry
from syncengine.errors import ConfigError
from syncengine.filters import Filter, is_blank
from syncengine.mapping import ConversionError, coerce, convert, flows, same_value
from syncengine.matching import NORMALIZERS
from syncengine.records import Record, Side
from syncengine.schema import ObjectSchema, PropertySpec, PropertyType
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "Apply",
    "CreateIn",
    "Decision",
    "Exclude",
    "Fail",
    "FieldCheck",
    "FieldOutcome",
    "FieldPlan",
    "KeyPlan",
    "Match",
    "NoChange",
    "ObjectPlan",
    "UpdateIn",
    "Write",
    "check_fields",
    "choose_match",
    "compile_object",
    "decide",
    "decide_new",
    "decide_new_parts",
    "decide_pairs",
    "decide_pairs_parts",
    "decide_restore",
    "identify",
    "is_owner",
    "pair_decision",
    "unchanged_since_sync",
]

# Enum members on the hot path, as module constants: on Python 3.11 each ``Side.HUB``
# is a call through ``EnumType.__getattr__``'s lookup hook (about a thousand machine
# instructions); a module global costs a dictionary lookup.
_HUB: Final = Side.HUB
_APP: Final = Side.APP
_SYNCED: Final = RecordState.SYNCED
_WHY_IN_SYNC: Final = Why.IN_SYNC


# --------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------
@attrs.frozen(slots=True)
class CreateIn:
    """Create a record on ``side`` with these properties (in that side's names)."""

    side: Side
    properties: Mapping[str, Any]


@attrs.frozen(slots=True)
class UpdateIn:
    """Set these properties of record ``record_id`` on ``side``."""

    side: Side
    record_id: str
    properties: Mapping[str, Any]


Write = CreateIn | UpdateIn


@attrs.frozen(slots=True)
class FieldOutcome:
    """How one field was decided, for ``explain`` (rule R8).

    Attributes:
        hub: The hub property.
        app: The app property.
        why: Why the field ended as it did.
        source: The side whose value won, or ``None``.
    """

    hub: str
    app: str
    why: Why
    source: Side | None


class Decision:
    """Base of the decision values; see the module docstring."""

    __slots__ = ()


@attrs.frozen(slots=True)
class Apply(Decision):
    """Perform ``writes``, then store the copies and mark the entry synced.

    Attributes:
        writes: At most one write per side.
        hub_values: The hub copy to store once every write succeeded.
        app_values: The app copy to store once every write succeeded.
        fields: How the fields that were not already in sync were decided.
    """

    writes: tuple[Write, ...]
    hub_values: Mapping[str, Any]
    app_values: Mapping[str, Any]
    fields: tuple[FieldOutcome, ...] = ()

    def write_on(self, side: Side) -> Write | None:
        """The write planned for ``side``, if any."""
        for write in self.writes:
            if write.side is side:
                return write
        return None


@attrs.frozen(slots=True)
class Exclude(Decision):
    """The record does not take part in the sync (rule R3)."""

    reason: ExcludeReason
    message: str = ""


@attrs.frozen(slots=True)
class Fail(Decision):
    """The record cannot sync as it is (rule R2, X1).

    Attributes:
        category: The error category.
        message: For humans; names the field.
        field: The property concerned, if one is (``"app.email"``).
    """

    category: ErrorCategory
    message: str
    field: str | None = None


@attrs.frozen(slots=True)
class NoChange(Decision):
    """Both sides and the index copy agree; nothing to do."""


NO_CHANGE: Final = NoChange()


# --------------------------------------------------------------------------------------
# Compiled configuration
# --------------------------------------------------------------------------------------
@attrs.frozen(slots=True)
class FieldPlan:
    """One enabled mapping, bound to both schemas.

    Attributes:
        index: Its index in ``ObjectSync.mappings``.
        mapping: The mapping.
        hub: The hub property's spec.
        app: The app property's spec.
        to_app: Whether values may flow hub → app (direction, types, read-only).
        to_hub: Whether values may flow app → hub.
        plain: Both sides are plain strings without options or transforms (fast path).
        app_map: For pipeline and stage fields: hub value → app value (A3).
        hub_map: The reverse: app value → hub value.
    """

    index: int
    mapping: FieldMapping
    hub: PropertySpec
    app: PropertySpec
    to_app: bool
    to_hub: bool
    plain: bool
    app_map: Mapping[str, str] | None = None
    hub_map: Mapping[str, str] | None = None

    def table_from(self, side: Side) -> Mapping[str, str] | None:
        """The translation table for values leaving ``side`` (pipelines, stages)."""
        return self.app_map if side is Side.HUB else self.hub_map

    def spec(self, side: Side) -> PropertySpec:
        """The property spec on ``side``."""
        return self.hub if side is Side.HUB else self.app

    def flows_from(self, side: Side) -> bool:
        """Whether values may flow from ``side`` to the other."""
        return self.to_app if side is Side.HUB else self.to_hub


@attrs.frozen(slots=True)
class KeyPlan:
    """One identifier key of a match rule, with its normalizer (rule M1, M6)."""

    index: int
    hub: str
    app: str
    kind: str
    normalize: Callable[[object], str | None]
    #: Keys made from recent string values, for :func:`identify` (bounded, see there).
    memo: dict[str, str | None] = attrs.field(factory=dict, eq=False, repr=False)

    def prop(self, side: Side) -> str:
        """The property holding this key on ``side``."""
        return self.hub if side is Side.HUB else self.app


@attrs.frozen(slots=True)
class ObjectPlan:
    """An :class:`~syncengine.ObjectSync` bound to both apps' schemas."""

    sync: ObjectSync
    hub_schema: ObjectSchema
    app_schema: ObjectSchema
    fields: tuple[FieldPlan, ...]
    keys: tuple[KeyPlan, ...]
    gates: tuple[FieldPlan, ...] = ()  # pipeline and stage fields (A3)

    @property
    def name(self) -> str:
        """The object sync's name (its ``hub_type``)."""
        return self.sync.hub_type

    def type_on(self, side: Side) -> str:
        """The object type's name on ``side``."""
        return self.sync.hub_type if side is Side.HUB else self.sync.app_type

    def filter_on(self, side: Side) -> Filter | None:
        """The filter that records of ``side`` pass to flow to the other side (L1)."""
        return self.sync.hub_filter if side is Side.HUB else self.sync.app_filter

    def key_name(self, key: str) -> str:
        """Which identifier a key string belongs to, e.g. ``"email"`` (for explain, M6)."""
        index, _, _ = key.partition(":")
        try:
            plan = self.keys[int(index)]
        except (ValueError, IndexError):
            return key
        return plan.hub if plan.hub == plan.app else f"{plan.hub}/{plan.app}"


def _side_name(side: Side) -> str:
    return "hub" if side is Side.HUB else "app"


def compile_object(
    obj: ObjectSync, hub_schema: ObjectSchema, app_schema: ObjectSchema
) -> ObjectPlan:
    """Bind an object sync to both schemas, rejecting what cannot work (rule F2–F4, X2).

    Raises:
        ConfigError: naming the field path relative to the object sync
            (``mappings[3].app``): an unknown property, incompatible types, a mapping whose
            direction contradicts the object's, a required destination property that no
            mapping fills, an unknown key or filter property.
    """
    schemas = {Side.HUB: hub_schema, Side.APP: app_schema}
    fields: list[FieldPlan] = []
    for i, mapping in enumerate(obj.mappings):
        if not mapping.enabled:
            continue
        specs: dict[Side, PropertySpec] = {}
        for side in Side:
            name = mapping.hub if side is Side.HUB else mapping.app
            spec = schemas[side].get(name)
            if spec is None:
                raise ConfigError(
                    f"mappings[{i}].{_side_name(side)}",
                    f"{_side_name(side)} property {name!r} does not exist in "
                    f"{_side_name(side)} type {schemas[side].name!r}",
                )
            specs[side] = spec
        hub, app = specs[Side.HUB], specs[Side.APP]
        direction = obj.direction.narrow(mapping.direction)
        if direction is None:
            raise ConfigError(
                f"mappings[{i}].direction",
                f"mapping {mapping.hub!r} ↔ {mapping.app!r} is {mapping.direction.value} but "
                f"the object sync is {obj.direction.value}",
            )
        to_app = direction.flows_from(Side.HUB) and flows(hub.type, app.type)
        to_hub = direction.flows_from(Side.APP) and flows(app.type, hub.type)
        if not to_app and not to_hub:
            raise ConfigError(
                f"mappings[{i}]",
                f"hub property {hub.name!r} ({hub.type.value}) and app property {app.name!r} "
                f"({app.type.value}) are incompatible {direction.value.replace('_', ' ')}",
            )
        _check_one_way_types(i, direction, hub, app, to_app, to_hub)
        to_app = to_app and not app.read_only
        to_hub = to_hub and not hub.read_only
        if not to_app and not to_hub:
            raise ConfigError(
                f"mappings[{i}]",
                f"mapping {hub.name!r} ↔ {app.name!r} can flow only into a read-only property",
            )
        enums = (PropertyType.ENUM, PropertyType.MULTI_ENUM)
        if mapping.options is not None and (hub.type not in enums or app.type not in enums):
            raise ConfigError(
                f"mappings[{i}].options", "options map enumeration values; both sides must be enums"
            )
        _check_options(i, mapping, hub, app)
        _check_defaults(i, mapping, hub, app)
        _check_unmapped_options(i, obj, mapping, hub, app, to_app=to_app, to_hub=to_hub)
        plain = (
            hub.type is PropertyType.STRING
            and app.type is PropertyType.STRING
            and mapping.to_hub is None
            and mapping.to_app is None
        )
        fields.append(FieldPlan(i, mapping, hub, app, to_app, to_hub, plain))

    gates: list[FieldPlan] = []
    if obj.pipelines:
        fields, gates = _pipeline_fields(obj, schemas, fields)

    # A record created on a side must get every property that side requires (F2).
    for side in Side:
        if not obj.direction.flows_from(side.other):
            continue
        filled = {
            (f.mapping.hub if side is Side.HUB else f.mapping.app)
            for f in fields
            if f.flows_from(side.other)
        }
        for spec in schemas[side]:
            if spec.required and spec.name not in filled:
                raise ConfigError(
                    "mappings",
                    f"{_side_name(side)} property {spec.name!r} is required by "
                    f"{_side_name(side)} type {schemas[side].name!r}, but no mapping fills it "
                    f"from the {_side_name(side.other)}",
                )

    keys: list[KeyPlan] = []
    if obj.match is not None:
        for i, (hub_prop, app_prop) in enumerate(obj.match.keys):
            for side, prop in ((Side.HUB, hub_prop), (Side.APP, app_prop)):
                if prop not in schemas[side]:
                    raise ConfigError(
                        f"match.keys[{i}]",
                        f"{_side_name(side)} property {prop!r} does not exist in "
                        f"{_side_name(side)} type {schemas[side].name!r}",
                    )
            kind = obj.match.kind_of(i, hub_type=obj.hub_type, app_type=obj.app_type)
            _check_key_types(i, kind, schemas[Side.HUB][hub_prop], schemas[Side.APP][app_prop])
            keys.append(KeyPlan(i, hub_prop, app_prop, kind, NORMALIZERS[kind]))

    for side in Side:
        where = obj.hub_filter if side is Side.HUB else obj.app_filter
        if where is None:
            continue
        for prop in sorted(where.properties):
            if prop not in schemas[side]:
                raise ConfigError(
                    f"{_side_name(side)}_filter",
                    f"property {prop!r} does not exist in {_side_name(side)} type "
                    f"{schemas[side].name!r}",
                )
        _check_filter(f"{_side_name(side)}_filter", where, schemas[side])
    return ObjectPlan(obj, hub_schema, app_schema, tuple(fields), tuple(keys), tuple(gates))


def _check_one_way_types(
    i: int, direction: Direction, hub: PropertySpec, app: PropertySpec, to_app: bool, to_hub: bool
) -> None:
    """Refuse a two-way mapping whose types convert one way only (rule F4, X6).

    Text never converts into a typed property (hubspot.md §3), so a two-way mapping of a
    number, bool, date or option to text would silently carry values one way only; the
    user must say so with the mapping's direction.
    """
    if direction is not Direction.TWO_WAY or (to_app and to_hub):
        return
    source, target = (hub, app) if to_app else (app, hub)
    src, dst = ("hub", "app") if to_app else ("app", "hub")
    one_way = "to_app" if to_app else "to_hub"
    raise ConfigError(
        f"mappings[{i}]",
        f"{dst} property {target.name!r} ({target.type.value}) cannot convert into {src} "
        f"property {source.name!r} ({source.type.value}), so this two-way mapping could only "
        f"carry {src} values to the {dst}; set its direction to {one_way!r}, or map "
        "properties of compatible types",
    )


def _check_options(i: int, mapping: FieldMapping, hub: PropertySpec, app: PropertySpec) -> None:
    """Refuse option values a mapping names that their property does not have (rule F4, X6).

    Checked only against a property that declares its options (an empty list means the
    app did not say).
    """
    if not mapping.options:
        return
    for hub_value, app_value in mapping.options.items():
        for side, spec, value in (("hub", hub, hub_value), ("app", app, app_value)):
            if spec.options and value not in spec.options:
                shown = ", ".join(repr(o) for o in spec.options[:10])
                more = f", … ({len(spec.options)} in all)" if len(spec.options) > 10 else ""
                raise ConfigError(
                    f"mappings[{i}].options[{hub_value!r}]",
                    f"{value!r} is not an option of {side} property {spec.name!r} "
                    f"(its options: {shown}{more})",
                )


def _check_unmapped_options(
    i: int,
    obj: ObjectSync,
    mapping: FieldMapping,
    hub: PropertySpec,
    app: PropertySpec,
    *,
    to_app: bool,
    to_hub: bool,
) -> None:
    """Refuse a choice mapping that cannot carry some of its source's options (F4, X6).

    In each direction the mapping flows (without a transform of its own), every option
    the source property declares must have an entry in ``options`` or be an option of
    the target too; otherwise every record holding it would fail at run time, on every
    pass. An option the source side's filter keeps from flowing (a condition on the
    same property that no record holding it passes) needs no mapping. Checked only when
    both properties declare their options.
    """
    enums = (PropertyType.ENUM, PropertyType.MULTI_ENUM)
    if hub.type not in enums or app.type not in enums:
        return
    for flows_, source, target, src, dst, table, transform, where in (
        (to_app, hub, app, "hub", "app", mapping.options, mapping.to_app, obj.hub_filter),
        (to_hub, app, hub, "app", "hub", mapping.app_options, mapping.to_hub, obj.app_filter),
    ):
        if not flows_ or transform is not None or not source.options or not target.options:
            continue
        known = set(target.options)
        missing = [
            o
            for o in source.options
            if o not in (table or {}) and o not in known and _may_flow(where, source, o)
        ]
        if missing:
            shown = ", ".join(repr(o) for o in missing[:10])
            more = f", … ({len(missing)} in all)" if len(missing) > 10 else ""
            one_way = "to_hub" if src == "hub" else "to_app"
            raise ConfigError(
                f"mappings[{i}].options",
                f"{src} property {source.name!r} has options that {dst} property "
                f"{target.name!r} lacks and that options does not map: {shown}{more}; "
                f"map each of them in options, keep them out with the {src}_filter, or "
                f"set the mapping's direction to {one_way!r}",
            )


def _may_flow(where: Filter | None, source: PropertySpec, option: str) -> bool:
    """Whether a record holding ``option`` in ``source`` may pass the filter ``where``.

    Only conditions on ``source`` itself are judged (any other may pass); a multi-select
    may hold other options besides, so its options always may flow.
    """
    if where is None or source.type is PropertyType.MULTI_ENUM:
        return True
    values = {source.name: option}
    return any(
        all(c.matches(values) for c in group if c.property == source.name) for group in where.groups
    )


_T = PropertyType
#: The property types whose values a match key kind can make identifiers of (M6).
_KEY_TYPES: Final[Mapping[str, tuple[PropertyType, ...]]] = {
    "email": (_T.STRING, _T.ENUM),
    "domain": (_T.STRING, _T.ENUM),
    "company_name": (_T.STRING, _T.ENUM),
    "phone": (_T.STRING, _T.NUMBER),
    "text": (_T.STRING, _T.NUMBER, _T.ENUM),
    "exact": (_T.STRING, _T.NUMBER, _T.ENUM),
}


def _check_key_types(i: int, kind: str, hub: PropertySpec, app: PropertySpec) -> None:
    """Refuse a match key whose kind makes no identifier of its properties' values (M6, X6).

    Its normalizer would return nothing for every record: none would ever match.
    """
    for side, spec in (("hub", hub), ("app", app)):
        if spec.type not in _KEY_TYPES[kind]:
            raise ConfigError(
                f"match.keys[{i}]",
                f"{side} property {spec.name!r} is a {spec.type.value} property, whose values "
                f"are never {kind.replace('_', ' ')} identifiers (a {kind} key takes "
                f"{' or '.join(t.value for t in _KEY_TYPES[kind])} properties); match on "
                "another property, or state the key's kind in MatchRule(kinds=...)",
            )


def _check_defaults(i: int, mapping: FieldMapping, hub: PropertySpec, app: PropertySpec) -> None:
    """Refuse a default its property cannot hold (rule F5, X6): it would fail every create."""
    for side, spec, default in (
        ("hub", hub, mapping.hub_default),
        ("app", app, mapping.app_default),
    ):
        if default is None:
            continue
        try:
            coerce(default, spec)
        except ConversionError as exc:
            raise ConfigError(
                f"mappings[{i}].{side}_default",
                f"{side} property {spec.name!r} ({spec.type.value}) cannot hold this "
                f"default: {exc}",
            ) from None


_TEXT_TYPES: Final = (PropertyType.STRING, PropertyType.ENUM, PropertyType.MULTI_ENUM)
#: What a filter value is compared with, per property type (a record holds canonical values).
_FILTER_VALUE: Final[Mapping[PropertyType, tuple[type, ...]]] = {
    PropertyType.STRING: (str,),
    PropertyType.NUMBER: (int, float),
    PropertyType.BOOL: (bool,),
    PropertyType.DATE: (date,),
    PropertyType.DATETIME: (datetime,),
    PropertyType.ENUM: (str,),
    PropertyType.MULTI_ENUM: (str,),
}


def _filter_value_problem(spec: PropertySpec, op: str, value: Any) -> str | None:
    """Why ``value`` can never satisfy ``op`` on ``spec``'s values, or ``None``."""
    kind = spec.type
    if op in ("contains", "starts_with"):
        if kind not in _TEXT_TYPES:
            return f"{op!r} compares text, and {spec.name!r} is a {kind.value} property"
        return None
    if op in ("gt", "gte", "lt", "lte", "between") and kind in (
        PropertyType.BOOL,
        PropertyType.MULTI_ENUM,
    ):
        return f"{op!r} orders values, and {kind.value} values have no order"
    allowed = _FILTER_VALUE[kind]
    wrong_type = not isinstance(value, allowed) or (
        isinstance(value, bool) and kind is not PropertyType.BOOL
    )
    if kind is PropertyType.DATE and isinstance(value, datetime):
        wrong_type = True
    if kind is PropertyType.DATETIME and isinstance(value, datetime) and value.tzinfo is None:
        return f"the datetime {value.isoformat()} has no time zone; the property's values do"
    if wrong_type:
        return (
            f"{spec.name!r} is a {kind.value} property, so {_show_value(value)} can never "
            f"{'equal' if op in ('eq', 'neq', 'in', 'not_in') else 'be compared with'} its values"
        )
    if kind in (PropertyType.ENUM, PropertyType.MULTI_ENUM) and spec.options:
        folded = {o.casefold() for o in spec.options}
        if op in ("eq", "neq", "in", "not_in") and value.casefold() not in folded:
            return (
                f"{value!r} is not an option of {spec.name!r} (its options: "
                + ", ".join(repr(o) for o in spec.options[:10])
                + (", …)" if len(spec.options) > 10 else ")")
            )
    return None


def _show_value(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _check_filter(path: str, where: Filter, schema: ObjectSchema) -> None:
    """Refuse conditions no value of their property can satisfy (rule L1, X6).

    A condition over a value of the wrong type is false for every record (filters never
    raise on a bad record), so such a filter would silently let nothing in.
    """
    for g, group in enumerate(where.groups):
        for c, condition in enumerate(group):
            spec = schema.get(condition.property)
            if spec is None or condition.value is None:
                continue
            values: tuple[Any, ...] = (
                tuple(condition.value)
                if condition.op in ("in", "not_in", "between")
                else (condition.value,)
            )
            for value in values:
                problem = _filter_value_problem(spec, condition.op, value)
                if problem is not None:
                    # Filter.where(...) / `where = [...]` is the one-group filter.
                    at = f"where[{c}]" if len(where.groups) == 1 else f"groups[{g}][{c}]"
                    raise ConfigError(f"{path}.{at}", problem)


def _pipeline_fields(
    obj: ObjectSync, schemas: Mapping[Side, ObjectSchema], fields: list[FieldPlan]
) -> tuple[list[FieldPlan], list[FieldPlan]]:
    """Bind the pipeline and stage properties to their translation tables (rule A3).

    Stage maps must be explicit here (the engine auto-maps ``stages=None`` against the
    adapters' pipelines before compiling, A4).
    """
    pipeline_map: dict[str, str] = {}
    stage_map: dict[str, str] = {}
    for i, pipeline in enumerate(obj.pipelines):
        if pipeline.stages is None:
            raise ConfigError(
                f"pipelines[{i}].stages", "stages must be mapped (or auto-mapped by the engine)"
            )
        pipeline_map[pipeline.hub_pipeline] = pipeline.app_pipeline
        for hub_stage, app_stage in pipeline.stages.items():
            if hub_stage in stage_map and stage_map[hub_stage] != app_stage:
                raise ConfigError(
                    f"pipelines[{i}].stages", f"hub stage {hub_stage!r} is mapped twice"
                )
            stage_map[hub_stage] = app_stage
    reverse_pipelines = {v: k for k, v in pipeline_map.items()}
    if len(reverse_pipelines) != len(pipeline_map):
        raise ConfigError("pipelines", "two hub pipelines are mapped to one app pipeline")
    reverse_stages = {v: k for k, v in stage_map.items()}
    if len(reverse_stages) != len(stage_map):
        raise ConfigError("pipelines", "two hub stages are mapped to one app stage")
    gates: list[FieldPlan] = []
    out = list(fields)
    for attr, table in (("pipeline_fields", pipeline_map), ("stage_fields", stage_map)):
        hub_name, app_name = getattr(obj, attr)
        specs = {}
        for side, name in ((Side.HUB, hub_name), (Side.APP, app_name)):
            spec = schemas[side].get(name)
            if spec is None:
                raise ConfigError(
                    attr,
                    f"{_side_name(side)} property {name!r} does not exist in "
                    f"{_side_name(side)} type {schemas[side].name!r}",
                )
            specs[side] = spec
        reverse = {v: k for k, v in table.items()}
        existing = next(
            (i for i, f in enumerate(out) if f.hub.name == hub_name and f.app.name == app_name),
            None,
        )
        if existing is not None:
            plan = attrs.evolve(out[existing], plain=False, app_map=table, hub_map=reverse)
            out[existing] = plan
        else:
            direction = obj.direction
            plan = FieldPlan(
                index=-1,
                mapping=FieldMapping(hub_name, app_name),
                hub=specs[Side.HUB],
                app=specs[Side.APP],
                to_app=direction.flows_from(Side.HUB) and not specs[Side.APP].read_only,
                to_hub=direction.flows_from(Side.APP) and not specs[Side.HUB].read_only,
                plain=False,
                app_map=table,
                hub_map=reverse,
            )
            out.append(plan)
        gates.append(plan)
    return out, gates


def _unmapped(plan: ObjectPlan, side: Side, record: Record) -> Exclude | None:
    """A deal in a pipeline or stage that is not mapped is excluded (rule A3)."""
    for gate in plan.gates:
        table = gate.table_from(side)
        assert table is not None
        value = record.properties.get(gate.spec(side).name)
        if not isinstance(value, str) or value not in table:
            return Exclude(
                ExcludeReason.UNMAPPED_STAGE,
                f"{_side_name(side)} {gate.spec(side).name} {value!r} is not mapped",
            )
    return None


# --------------------------------------------------------------------------------------
# Matching (rule M1–M7)
# --------------------------------------------------------------------------------------
def identify(plan: ObjectPlan, side: Side, properties: Mapping[str, Any]) -> tuple[str, ...]:
    """The record's normalized identifier keys, in key order (``"0:ada@example.com"``).

    A key whose value is blank or invalid (an e-mail that is not one) is left out (M4,
    M6). With ``MatchRule.none()`` there are no keys (M7, "no matching").

    The normalizers are pure functions, and a pass identifies most values several times
    (a record when it is read, again with its counterpart once a write landed): the keys
    of recent string values are remembered per key (at most :data:`_MEMO` values; the
    memo is emptied when full, so a long pass costs no more memory than a short one).
    """
    keys = []
    hub = side is _HUB
    for key in plan.keys:
        value = properties.get(key.hub if hub else key.app)
        if type(value) is str:
            memo = key.memo
            made = memo.get(value, _UNSEEN)
            if made is _UNSEEN:
                if len(memo) >= _MEMO:
                    memo.clear()
                normal = key.normalize(value)
                made = memo[value] = None if normal is None else f"{key.index}:{normal}"
        else:
            normal = key.normalize(value)
            made = None if normal is None else f"{key.index}:{normal}"
        if made is not None:
            keys.append(made)
    return tuple(keys)


_UNSEEN: Final[Any] = object()
#: Values whose keys :func:`identify` remembers, per key of a match rule.
_MEMO: Final = 8192


@attrs.frozen(slots=True)
class Match:
    """The outcome of :func:`choose_match` for a record without an entry of its own.

    Attributes:
        entry: The entry to pair with (``duplicate_of`` is ``None``), or ``None``.
        key: The key that matched.
        duplicate_of: The entry that already holds this identifier for another record of
            the same side (M3); the record is then a duplicate.
    """

    entry: Entry | None = None
    key: str | None = None
    duplicate_of: Entry | None = None


NO_MATCH: Final = Match()


def is_owner(entry: Entry) -> bool:
    """Whether an entry may claim its keys: duplicates never do (M3), unless a create of
    theirs is in flight, whose record holds them once it is made (S8)."""
    return entry.pending is not None or not (
        entry.state is RecordState.EXCLUDED and entry.reason is ExcludeReason.DUPLICATE
    )


def choose_match(
    side: Side,
    record_id: str,
    keys: Sequence[str],
    candidates: Mapping[str, Sequence[Entry]],
) -> Match:
    """Pick the entry a record pairs with, or find it a duplicate (rule M1–M3, M7).

    Keys are tried in order; for each, the candidates are the entries holding that key,
    oldest first. An entry that already holds another record of ``side`` makes this record
    a duplicate (M3: the first record with an identifier syncs). An entry with a record on
    the other side only (or a create in flight on ``side``) is a pairing candidate (M1);
    the first key with one wins (M2: any key matches).
    """
    for key in keys:
        for entry in candidates.get(key, ()):
            if not is_owner(entry):
                continue
            mine = entry.hub_id if side is Side.HUB else entry.app_id
            theirs = entry.app_id if side is Side.HUB else entry.hub_id
            if mine is not None and mine != record_id and entry.deleted is side:
                mine = None  # that record was deleted (R6): its place in the pair is free
                if entry.pending is side.other:
                    # ... and its create is in flight: this record takes its place, and
                    # the record the create makes is its counterpart (S8).
                    return Match(entry=entry, key=key)
            if mine is not None:
                if mine != record_id:
                    return Match(duplicate_of=entry, key=key)
                if theirs is not None:
                    return Match(entry=entry, key=key)  # already paired with this very record
                continue
            if theirs is not None or entry.pending is side:
                return Match(entry=entry, key=key)
    return NO_MATCH


# --------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------
class _FieldError(Exception):
    def __init__(self, category: ErrorCategory, message: str, field: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.field = field


def _qualified(side: Side, spec: PropertySpec) -> str:
    return f"{_side_name(side)}.{spec.name}"


#: The longest text a string property holds (mapping.coerce refuses longer, rule X1); the
#: fast path of _read must not let longer text through.
_MAX_TEXT: Final = 65_536


def _read(side: Side, spec: PropertySpec, properties: Mapping[str, Any], strict: bool) -> Any:
    """A record's value in canonical form; a bad value fails the record when ``strict``."""
    raw = properties.get(spec.name)
    if raw is None:
        return None
    if spec.type is PropertyType.STRING and type(raw) is str and len(raw) <= _MAX_TEXT:
        return raw if raw.strip() else None
    try:
        return coerce(raw, spec)
    except ConversionError as exc:
        if not strict:
            return _UNREADABLE
        raise _FieldError(
            ErrorCategory.VALIDATION,
            f"{_side_name(side)} property {spec.name!r}: {exc}",
            _qualified(side, spec),
        ) from None


class _Unreadable:
    """A destination value that could not be read: it differs from everything."""

    __slots__ = ()

    @override
    def __repr__(self) -> str:
        return "<unreadable>"


_UNREADABLE: Final = _Unreadable()


def _carry(field: FieldPlan, source: Side, value: Any) -> Any:
    """Convert a canonical value from ``source`` into the other side's property (F4, F5)."""
    if value is None:
        return None
    mapping = field.mapping
    target_side = source.other
    if field.plain:
        return value
    src, dst = field.spec(source), field.spec(target_side)
    table = field.table_from(source)
    if table is not None:
        if not isinstance(value, str) or value not in table:
            raise _FieldError(
                ErrorCategory.VALIDATION,
                f"{_side_name(source)} {src.name} {value!r} is not mapped",
                _qualified(source, src),
            )
        return table[value]
    try:
        if source is Side.HUB:
            out = convert(value, src, dst, mapping.options)
            if mapping.to_app is not None:
                out = mapping.to_app(out)
        else:
            out = convert(value, src, dst, mapping.app_options)
            if mapping.to_hub is not None:
                out = mapping.to_hub(out)
        if out is not None and (mapping.to_app is not None or mapping.to_hub is not None):
            out = coerce(out, dst)  # a transform's output must still fit the property
    except ConversionError as exc:
        raise _FieldError(
            ErrorCategory.VALIDATION,
            f"{_side_name(source)} property {src.name!r} cannot become "
            f"{_side_name(target_side)} property {dst.name!r}: {exc}",
            _qualified(source, src),
        ) from None
    except Exception as exc:  # a user transform failed: the record fails, not the pass
        raise _FieldError(
            ErrorCategory.VALIDATION,
            f"transform of {_side_name(source)} property {src.name!r} failed: "
            f"{type(exc).__name__}: {str(exc)[:120]}",
            _qualified(source, src),
        ) from None
    return out


def _same(field: FieldPlan, side: Side, a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is _UNREADABLE or b is _UNREADABLE:
        return False
    if field.plain:
        return bool(a == b)
    return same_value(a, b, field.spec(side).type)


def _in_sync(field: FieldPlan, hub_value: Any, app_value: Any) -> bool:
    """Whether the two current values agree, through whichever conversion exists."""
    if hub_value is None and app_value is None:
        return True
    if field.plain:
        return bool(hub_value == app_value)
    if hub_value is _UNREADABLE or app_value is _UNREADABLE:
        return False
    if flows(field.hub.type, field.app.type):
        try:
            if _same(field, Side.APP, _carry(field, Side.HUB, hub_value), app_value):
                return True
        except _FieldError:
            pass
    if flows(field.app.type, field.hub.type):
        try:
            if _same(field, Side.HUB, _carry(field, Side.APP, app_value), hub_value):
                return True
        except _FieldError:
            pass
    return False


def _passes(plan: ObjectPlan, side: Side, properties: Mapping[str, Any]) -> bool:
    where = plan.filter_on(side)
    return where is None or where.matches(properties)


def _filters_apply(plan: ObjectPlan, entry: Entry | None) -> bool:
    """Filters limit the initial entry only, unless they hold for life (rule L2)."""
    if plan.sync.filter_lifetime:
        return True
    return entry is None or entry.hub_values is None or entry.app_values is None


def decide(
    plan: ObjectPlan,
    entry: Entry | None,
    hub: Record | None,
    app: Record | None,
    *,
    keys: Sequence[str] = (),
) -> Decision:
    """Decide what to do with a record, or a pair of records.

    Args:
        plan: The compiled object sync.
        entry: The index entry, or ``None`` for a record seen for the first time.
        hub: The current hub record, or ``None`` (not there, or deleted if ``entry``
            has a hub id).
        app: The current app record, likewise.
        keys: The record's identifier keys (from :func:`identify`) when it is alone.

    Returns:
        A :class:`Decision`.
    """
    if plan.gates:
        for side, record in ((_HUB, hub), (_APP, app)):
            if record is not None and (excluded := _unmapped(plan, side, record)) is not None:
                return excluded
    if hub is not None and app is not None:
        return _decide_pair(plan, entry, hub, app)
    if entry is not None:
        for side, record in ((_HUB, hub), (_APP, app)):
            if record is None and entry.id_on(side) is not None:
                # rule R6, X3: a record deleted on one side is never deleted on the other.
                return Fail(
                    ErrorCategory.DELETED,
                    f"the {_side_name(side)} record {entry.id_on(side)} was deleted; "
                    f"the {_side_name(side.other)} record is kept",
                )
    if hub is not None:
        return _decide_alone(plan, entry, _HUB, hub, keys)
    if app is not None:
        return _decide_alone(plan, entry, _APP, app, keys)
    return NO_CHANGE


def decide_restore(plan: ObjectPlan, source: Side, record: Record) -> Decision:
    """Re-create a deleted record on ``source.other`` from the surviving one (rule R6).

    A restore is what the user asked for explicitly, so direction, filters and identifier
    requirements do not apply; conversions and required fields still do.
    """
    return _decide_alone(plan, None, source, record, (), checks=False)


class _Copies(Protocol):
    """What :func:`unchanged_since_sync` reads of an entry (or of a store's view of one)."""

    def values_on(self, side: Side, /) -> Mapping[str, Any] | None: ...


def unchanged_since_sync(plan: ObjectPlan, side: Side, record: Record, entry: _Copies) -> bool:
    """Whether a record still holds exactly the values its side's index copy says (S6).

    This is how the engine tells its own writes (and other no-op changes) apart from real
    changes without reading the other side: a record that equals its own copy has not
    changed since the last sync, whatever the scan says.
    """
    copy = entry.values_on(side)
    if copy is None:
        return False
    properties = record.properties
    hub = side is _HUB
    for field in plan.fields:
        spec = field.hub if hub else field.app
        value = properties.get(spec.name)
        if field.plain and type(value) is str and len(value) <= _MAX_TEXT:
            # _read and _same, inlined (the echo check of every changed record): a plain
            # text is compared as it is, a blank one as None.
            stored = copy.get(spec.name)
            if (value == stored) if value.strip() else (stored is None):
                continue
            return False
        if value is not None:
            value = _read(side, spec, properties, strict=False)
        if not _same(field, side, value, copy.get(spec.name)):
            return False
    return True


def _decide_alone(
    plan: ObjectPlan,
    entry: Entry | None,
    side: Side,
    record: Record,
    keys: Sequence[str],
    *,
    checks: bool = True,
) -> Decision:
    """A record with no counterpart: create it on the other side, or say why not."""
    other = side.other
    if not checks:
        pass
    elif not plan.sync.direction.flows_from(side):
        return Exclude(
            ExcludeReason.DIRECTION,
            f"the sync is {plan.sync.direction.value}; {_side_name(side)} records are not copied",
        )
    elif _filters_apply(plan, entry) and not _passes(plan, side, record.properties):
        return Exclude(ExcludeReason.FILTERED, f"fails the {_side_name(side)} filter")
    elif plan.sync.match is not None and plan.sync.match.require and not keys:
        names = ", ".join(repr(k.prop(side)) for k in plan.keys)
        return Exclude(
            ExcludeReason.NO_IDENTIFIER,
            f"no valid identifier in {_side_name(side)} property {names}",
        )
    source_values: dict[str, Any] = {}
    target_values: dict[str, Any] = {}
    create: dict[str, Any] = {}
    properties = record.properties
    from_hub = side is Side.HUB
    try:
        for field in plan.fields:
            # field.spec(side), field.spec(other) and field.flows_from(side), inlined.
            src, dst = (field.hub, field.app) if from_hub else (field.app, field.hub)
            carry = (
                (field.to_app if from_hub else field.to_hub)
                if checks
                else flows(src.type, dst.type) and not dst.read_only
            )
            if carry and field.plain:
                value = properties.get(src.name)
                if type(value) is str and value.strip() and len(value) <= _MAX_TEXT:
                    # The common case, inlined: _read and _carry of plain text.
                    source_values[src.name] = value
                    create[dst.name] = value
                    target_values[dst.name] = value
                    continue
            if carry:
                value = _read(side, src, properties, strict=True)
                out = _carry(field, side, value)
                if out is None:
                    default = (
                        field.mapping.hub_default
                        if other is Side.HUB
                        else field.mapping.app_default
                    )
                    if default is not None:
                        out = _carry_default(dst, other, default)
                source_values[src.name] = value
                if out is not None:
                    create[dst.name] = out
                target_values[dst.name] = out
            else:
                value = _read(side, src, properties, strict=False)
                source_values[src.name] = None if value is _UNREADABLE else value
                target_values[dst.name] = None
    except _FieldError as exc:
        return Fail(exc.category, exc.message, exc.field)
    for spec in plan.hub_schema if other is Side.HUB else plan.app_schema:
        if spec.required and is_blank(create.get(spec.name)):
            return Fail(
                ErrorCategory.REQUIRED_FIELD_MISSING,
                f"{_side_name(other)} property {spec.name!r} is required, but the "
                f"{_side_name(side)} record has no value for it",
                f"{_side_name(other)}.{spec.name}",
            )
    hub_values, app_values = (
        (source_values, target_values) if side is Side.HUB else (target_values, source_values)
    )
    return Apply((CreateIn(other, create),), hub_values, app_values)


def decide_new(
    plan: ObjectPlan, side: Side, records: Sequence[tuple[Record, Sequence[str]]]
) -> list[Decision]:
    """``decide(plan, None, …)`` for each ``(record, keys)`` of ``side`` seen for the first
    time, with no counterpart: the same decisions, one per record, in order.

    A batch of new records is mostly records whose mapped fields are all plain text
    (no options, transforms or conversions, D1): for an object sync whose every field
    is plain and flows from ``side``, without pipelines or a filter on ``side``, the
    fields' names are looked up once for the batch, and a record whose every mapped
    value is non-blank text (and whose other app's required properties are among them)
    is decided from that table: what :func:`_decide_alone`'s inlined common case does,
    field by field. Any other record is decided by :func:`decide` itself.
    """
    other = side.other
    return [
        Apply((CreateIn(other, made[0]),), made[1], made[2]) if isinstance(made, tuple) else made
        for made in decide_new_parts(plan, side, records)
    ]


#: A create :func:`decide_new_parts` decided from its table: the properties to create
#: on the other side, and the hub and app copies (``Apply((CreateIn(other,
#: properties),), hub_values, app_values)``).
PlainCreate = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def decide_new_parts(
    plan: ObjectPlan, side: Side, records: Sequence[tuple[Record, Sequence[str]]]
) -> list[Decision | PlainCreate]:
    """:func:`decide_new`'s decisions, the creates decided from its table given as
    their parts (:data:`PlainCreate`) instead of an ``Apply`` each (the initial sync's
    lean creates build the decision only for a create that fails); the other records'
    decisions as :func:`decide` makes them."""
    from_hub = side is Side.HUB
    table: list[tuple[str, str]] | None = None
    if not plan.gates and plan.sync.direction.flows_from(side) and plan.filter_on(side) is None:
        table = []
        for field in plan.fields:
            if not field.plain or not (field.to_app if from_hub else field.to_hub):
                table = None
                break
            source_spec, target_spec = (
                (field.hub, field.app) if from_hub else (field.app, field.hub)
            )
            table.append((source_spec.name, target_spec.name))
    if table is None:
        return [decide(plan, None, *_alone(side, record), keys=keys) for record, keys in records]
    match = plan.sync.match
    require = match is not None and match.require
    schema = plan.hub_schema if side.other is Side.HUB else plan.app_schema
    required = [spec.name for spec in schema if spec.required]
    out: list[Decision | PlainCreate] = []
    for record, keys in records:
        properties = record.properties
        source: dict[str, Any] = {}
        create: dict[str, Any] = {}
        plain = not require or bool(keys)
        if plain:
            for src, dst in table:
                value = properties.get(src)
                if type(value) is str and value.strip() and len(value) <= _MAX_TEXT:
                    source[src] = value
                    create[dst] = value
                else:
                    plain = False
                    break
        if not plain or not all(name in create for name in required):
            out.append(decide(plan, None, *_alone(side, record), keys=keys))
            continue
        target = create.copy()
        out.append((create, source, target) if from_hub else (create, target, source))
    return out


def _alone(side: Side, record: Record) -> tuple[Record | None, Record | None]:
    return (record, None) if side is Side.HUB else (None, record)


def _carry_default(spec: PropertySpec, side: Side, default: Any) -> Any:
    try:
        return coerce(default, spec)
    except ConversionError as exc:
        raise _FieldError(
            ErrorCategory.VALIDATION,
            f"default for {_side_name(side)} property {spec.name!r}: {exc}",
            _qualified(side, spec),
        ) from None


#: The field outcomes made so far (values: a field, why, and the side that won), made
#: once each instead of once per changed field of every record; bounded like the keys'
#: memo of :func:`identify`.
_OUTCOMES: Final[dict[tuple[str, str, Why, Side | None], FieldOutcome]] = {}


def _decide_pair(plan: ObjectPlan, entry: Entry | None, hub: Record, app: Record) -> Decision:
    """Two records that are (or are being) paired: the per-field three-way merge."""
    sync = plan.sync
    hub_old = entry.hub_values if entry is not None else None
    app_old = entry.app_values if entry is not None else None
    initial = hub_old is None or app_old is None
    hub_flows = sync.direction.flows_from(_HUB)
    app_flows = sync.direction.flows_from(_APP)
    if _filters_apply(plan, entry):
        hub_passes = _passes(plan, _HUB, hub.properties)
        app_passes = _passes(plan, _APP, app.properties)
        if not initial and not (hub_passes and app_passes):
            # L2, filters for life: a synced record that stops matching its filter is
            # excluded. Its counterpart's values never flow into it (they would
            # overwrite the edit that took it out, with the values it had before).
            stopped = _side_name(_HUB if not hub_passes else _APP)
            return Exclude(
                ExcludeReason.FILTERED,
                f"the {stopped} record no longer passes its filter (rule L2)",
            )
        hub_flows = hub_flows and hub_passes
        app_flows = app_flows and app_passes
        if not hub_flows and not app_flows:
            return Exclude(ExcludeReason.FILTERED, "neither record passes its filter")
    hub_values: dict[str, Any] = {}
    app_values: dict[str, Any] = {}
    to_hub: dict[str, Any] = {}
    to_app: dict[str, Any] = {}
    outcomes: list[FieldOutcome] = []
    hub_props, app_props = hub.properties, app.properties
    try:
        for field in plan.fields:
            hub_name, app_name = field.hub.name, field.app.name
            hub_cur = hub_props.get(hub_name)
            app_cur = app_props.get(app_name)
            if hub_cur == app_cur and field.plain:
                # The most common case first: a plain text field in sync (the checks of
                # the branch below, for equal values: one strip, one length).
                if hub_cur is None:
                    hub_values[hub_name] = None
                    app_values[app_name] = None
                    continue
                if type(hub_cur) is str and type(app_cur) is str and len(hub_cur) <= _MAX_TEXT:
                    if hub_cur.strip():
                        hub_values[hub_name] = hub_cur
                        app_values[app_name] = app_cur
                    else:
                        hub_values[hub_name] = None
                        app_values[app_name] = None
                    continue
            f_to_app = field.to_app and hub_flows
            f_to_hub = field.to_hub and app_flows
            if (
                field.plain
                and (hub_cur is None or (type(hub_cur) is str and len(hub_cur) <= _MAX_TEXT))
                and (app_cur is None or (type(app_cur) is str and len(app_cur) <= _MAX_TEXT))
            ):
                # The common case, inlined for speed: _read and _in_sync of plain text.
                if hub_cur is not None and not hub_cur.strip():
                    hub_cur = None
                if app_cur is not None and not app_cur.strip():
                    app_cur = None
                if hub_cur == app_cur:  # in sync: the values are the copies
                    hub_values[hub_name] = hub_cur
                    app_values[app_name] = app_cur
                    continue
                in_sync = False
            else:
                # The destination of a one-way field is never read for values (D5), so a
                # bad value there is overwritten rather than failing the record.
                hub_cur = _read(_HUB, field.hub, hub_props, strict=f_to_app)
                app_cur = _read(_APP, field.app, app_props, strict=f_to_hub)
                in_sync = _in_sync(field, hub_cur, app_cur)
            if initial:
                hub_changed = app_changed = True
            else:
                assert hub_old is not None
                assert app_old is not None
                hub_changed = not _same(field, _HUB, hub_cur, hub_old.get(hub_name))
                app_changed = not _same(field, _APP, app_cur, app_old.get(app_name))
            if in_sync:
                resolution: Resolution = Resolution(None, _WHY_IN_SYNC)
            else:
                resolution = _resolve(
                    field,
                    sync,
                    hub,
                    app,
                    hub_cur,
                    app_cur,
                    hub_changed=hub_changed,
                    app_changed=app_changed,
                    initial=initial,
                    to_app=f_to_app,
                    to_hub=f_to_hub,
                )
                told = (hub_name, app_name, resolution.why, resolution.source)
                outcome = _OUTCOMES.get(told)
                if outcome is None:
                    if len(_OUTCOMES) >= _MEMO:
                        _OUTCOMES.clear()
                    outcome = _OUTCOMES[told] = FieldOutcome(*told)
                outcomes.append(outcome)
            if resolution.source is _HUB:
                out = None if resolution.clear else _carry(field, _HUB, hub_cur)
                to_app[app_name] = out
                hub_values[hub_name] = hub_cur
                app_values[app_name] = out
            elif resolution.source is _APP:
                out = None if resolution.clear else _carry(field, _APP, app_cur)
                to_hub[hub_name] = out
                hub_values[hub_name] = out
                app_values[app_name] = app_cur
            else:
                hub_values[hub_name] = None if hub_cur is _UNREADABLE else hub_cur
                app_values[app_name] = None if app_cur is _UNREADABLE else app_cur
    except _FieldError as exc:
        return Fail(exc.category, exc.message, exc.field)
    for side, changes in ((_HUB, to_hub), (_APP, to_app)):
        schema = plan.hub_schema if side is _HUB else plan.app_schema
        for name, value in changes.items():
            spec = schema[name]
            if spec.required and value is None:
                return Fail(
                    ErrorCategory.REQUIRED_FIELD_MISSING,
                    f"{_side_name(side)} property {name!r} is required and cannot be cleared",
                    f"{_side_name(side)}.{name}",
                )
    writes: list[Write] = []
    if to_hub:
        writes.append(UpdateIn(_HUB, hub.id, to_hub))
    if to_app:
        writes.append(UpdateIn(_APP, app.id, to_app))
    if (
        not writes
        and entry is not None
        and entry.state is _SYNCED
        and entry.hub_id == hub.id
        and entry.app_id == app.id
        and _copies_equal(plan, hub_values, hub_old, app_values, app_old)
    ):
        return NO_CHANGE
    return Apply(tuple(writes), hub_values, app_values, tuple(outcomes))


def decide_pairs(
    plan: ObjectPlan, pairs: Sequence[tuple[Entry | None, Record, Record]]
) -> list[Decision]:
    """``decide(plan, entry, hub, app)`` for each ``(entry, hub, app)`` pair being
    merged for the first time: :func:`decide_pairs_parts`' decisions, each pair decided
    from its table made an ``Apply`` (:func:`pair_decision`)."""
    return [
        pair_decision(made, hub.id, app.id) if isinstance(made, tuple) else made
        for made, (_, hub, app) in zip(decide_pairs_parts(plan, pairs), pairs, strict=True)
    ]


#: A pair :func:`decide_pairs_parts` decided from its table: the hub record's update
#: and the app record's (empty when none), the hub and app copies, and how the fields
#: not in sync were decided (see :func:`pair_decision`).
PlainPair = tuple[
    dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], tuple["FieldOutcome", ...]
]


def pair_decision(parts: PlainPair, hub_id: str, app_id: str) -> Apply:
    """The ``Apply`` a :data:`PlainPair` of the records ``hub_id`` and ``app_id`` stands
    for: an update of each record whose changes are not empty, the hub's first."""
    to_hub, to_app, hub_values, app_values, fields = parts
    writes: list[Write] = []
    if to_hub:
        writes.append(UpdateIn(_HUB, hub_id, to_hub))
    if to_app:
        writes.append(UpdateIn(_APP, app_id, to_app))
    return Apply(tuple(writes), hub_values, app_values, fields)


def decide_pairs_parts(
    plan: ObjectPlan, pairs: Sequence[tuple[Entry | None, Record, Record]]
) -> list[Decision | PlainPair]:
    """``decide(plan, entry, hub, app)`` for each ``(entry, hub, app)`` pair being
    merged for the first time (no index copy yet): the same decisions, one per pair, in
    order.

    The matched pairs of an initial sync are mostly pairs whose mapped fields are all
    plain text (no options, transforms or conversions, D1) merged with no copy (D2-D4):
    for an object sync whose every field is plain, without pipelines or filters, where
    a conflict goes to the sync's winner (no ``"newest"`` or callable policy), each
    field's way (both ways, one way, none) is looked up once for the batch, and a pair
    whose mapped values are all text or absent is merged from that table: what
    :func:`_decide_pair` and :func:`~syncengine.conflicts.resolve_field` do for it,
    field by field (in sync; a blank filled from the other side; the source of a
    one-way field; else the winner). Any other pair (an entry with copies, a value
    that is not text or too long) is decided by :func:`decide` itself. A pair decided
    from the table is given as its parts (:data:`PlainPair`; the initial sync's lean
    path builds the ``Apply`` only for a pair whose update fails).
    """
    sync = plan.sync
    table: list[tuple[str, str, bool, bool]] | None = None
    if not plan.gates and sync.hub_filter is None and sync.app_filter is None:
        hub_flows = sync.direction.flows_from(_HUB)
        app_flows = sync.direction.flows_from(_APP)
        table = []
        for field in plan.fields:
            if not field.plain or field.mapping.policy not in (None, "winner"):
                table = None
                break
            table.append(
                (
                    field.hub.name,
                    field.app.name,
                    field.to_app and hub_flows,
                    field.to_hub and app_flows,
                )
            )
    if table is None:
        return [decide(plan, entry, hub, app) for entry, hub, app in pairs]
    winner = sync.winner
    why_winner = Why.WINNER
    why_fill = Why.FILL_BLANK
    why_direction = Why.DIRECTION
    why_kept = Why.KEPT
    out: list[Decision | PlainPair] = []
    for entry, hub, app in pairs:
        if entry is not None and entry.hub_values is not None and entry.app_values is not None:
            out.append(decide(plan, entry, hub, app))  # a merge against copies (D6)
            continue
        hub_props, app_props = hub.properties, app.properties
        hub_values: dict[str, Any] = {}
        app_values: dict[str, Any] = {}
        to_hub: dict[str, Any] = {}
        to_app: dict[str, Any] = {}
        outcomes: list[FieldOutcome] = []
        for hub_name, app_name, f_to_app, f_to_hub in table:
            hub_cur = hub_props.get(hub_name)
            app_cur = app_props.get(app_name)
            if hub_cur is not None:
                if type(hub_cur) is not str or len(hub_cur) > _MAX_TEXT:
                    break
                if not hub_cur.strip():
                    hub_cur = None
            if app_cur is not None:
                if type(app_cur) is not str or len(app_cur) > _MAX_TEXT:
                    break
                if not app_cur.strip():
                    app_cur = None
            if hub_cur == app_cur:  # in sync: the values are the copies
                hub_values[hub_name] = hub_cur
                app_values[app_name] = app_cur
                continue
            # resolve_field of an initial merge whose values differ (D2-D5).
            source: Side | None
            if f_to_app and f_to_hub:
                if hub_cur is None:
                    source, why = _APP, why_fill
                elif app_cur is None:
                    source, why = _HUB, why_fill
                else:
                    source, why = winner, why_winner
            elif f_to_app:
                source, why = (None, why_kept) if hub_cur is None else (_HUB, why_direction)
            elif f_to_hub:
                source, why = (None, why_kept) if app_cur is None else (_APP, why_direction)
            else:
                source, why = None, why_kept
            told = (hub_name, app_name, why, source)
            outcome = _OUTCOMES.get(told)
            if outcome is None:
                if len(_OUTCOMES) >= _MEMO:
                    _OUTCOMES.clear()
                outcome = _OUTCOMES[told] = FieldOutcome(*told)
            outcomes.append(outcome)
            if source is _HUB:
                to_app[app_name] = hub_cur
                hub_values[hub_name] = app_values[app_name] = hub_cur
            elif source is _APP:
                to_hub[hub_name] = app_cur
                hub_values[hub_name] = app_values[app_name] = app_cur
            else:
                hub_values[hub_name] = hub_cur
                app_values[app_name] = app_cur
        else:
            # A value written is never blank (a blank never overwrites here, D4): no
            # required property is cleared.
            out.append((to_hub, to_app, hub_values, app_values, tuple(outcomes)))
            continue
        out.append(decide(plan, entry, hub, app))  # a value that is not plain text
    return out


def _resolve(
    field: FieldPlan,
    sync: ObjectSync,
    hub: Record,
    app: Record,
    hub_cur: Any,
    app_cur: Any,
    *,
    hub_changed: bool,
    app_changed: bool,
    initial: bool,
    to_app: bool,
    to_hub: bool,
) -> Resolution:
    """The three-way merge of one field whose current values differ (D2-D6)."""
    return resolve_field(
        in_sync=False,
        hub_blank=hub_cur is None,
        app_blank=app_cur is None,
        hub_changed=hub_changed,
        app_changed=app_changed,
        initial=initial,
        to_app=to_app,
        to_hub=to_hub,
        winner=sync.winner,
        policy=field.mapping.policy,
        propagate_clears=field.mapping.propagate_clears,
        # Only a callable policy is handed the conflict (D6).
        conflict=_conflict_builder(field, hub, app, hub_cur, app_cur, sync.winner)
        if callable(field.mapping.policy)
        else None,
        hub_updated_at=hub.updated_at,
        app_updated_at=app.updated_at,
    )


@attrs.frozen(slots=True)
class FieldCheck:
    """What is true of one mapped field of an entry now, for ``explain`` (rule R8).

    Attributes:
        agree: Both records are there and their current values agree (after conversion).
        hub_is_copy: The hub's current value equals the hub's index copy (``None``: no
            copy yet, or no hub record).
        app_is_copy: The same for the app.
        why: How the three-way merge decides the field for the pair now (``KEPT`` when
            there is no pair).
        source: The side whose value wins, if any.
        problem: Why a value cannot be read or carried to the other side, if it cannot.
    """

    agree: bool
    hub_is_copy: bool | None
    app_is_copy: bool | None
    why: Why
    source: Side | None
    problem: str = ""


def check_fields(
    plan: ObjectPlan,
    entry: Entry | None,
    hub: Record | None,
    app: Record | None,
    decision: Decision,
) -> tuple[FieldCheck, ...]:
    """Each mapped field of an entry checked against the current records (for explain).

    The same reads, conversions and merge as :func:`decide`, field by field, with nothing
    skipped: a record that fails on one field still has its other fields checked. Where
    ``decision`` (what :func:`decide` returned for the same records) is an :class:`Apply`,
    its field outcomes are used, so a callable policy is not asked twice.
    """
    hub_old = entry.hub_values if entry is not None else None
    app_old = entry.app_values if entry is not None else None
    initial = hub_old is None or app_old is None
    sync = plan.sync
    hub_flows = sync.direction.flows_from(Side.HUB)
    app_flows = sync.direction.flows_from(Side.APP)
    if hub is not None and app is not None and _filters_apply(plan, entry):
        hub_flows = hub_flows and _passes(plan, Side.HUB, hub.properties)
        app_flows = app_flows and _passes(plan, Side.APP, app.properties)
    decided = {(o.hub, o.app): o for o in decision.fields} if isinstance(decision, Apply) else None
    checks: list[FieldCheck] = []
    for field in plan.fields:
        problems: list[str] = []
        current: dict[Side, Any] = {}
        is_copy: dict[Side, bool | None] = {}
        for side, record, old in ((Side.HUB, hub, hub_old), (Side.APP, app, app_old)):
            spec = field.spec(side)
            try:
                value = _read(side, spec, record.properties, strict=True) if record else None
            except _FieldError as exc:  # what strict=False reads as _UNREADABLE
                problems.append(exc.message)
                value = _UNREADABLE
            current[side] = value
            is_copy[side] = (
                _same(field, side, value, old.get(spec.name))
                if record is not None and old is not None
                else None
            )
        hub_cur, app_cur = current[Side.HUB], current[Side.APP]
        if hub is None or app is None:
            checks.append(
                FieldCheck(
                    False, is_copy[Side.HUB], is_copy[Side.APP], Why.KEPT, None, "; ".join(problems)
                )
            )
            continue
        agree = _in_sync(field, hub_cur, app_cur)
        outcome = decided.get((field.hub.name, field.app.name)) if decided is not None else None
        if agree:
            resolution = Resolution(None, Why.IN_SYNC)
        elif outcome is not None:
            resolution = Resolution(outcome.source, outcome.why)
        else:
            resolution = _resolve(
                field,
                sync,
                hub,
                app,
                hub_cur,
                app_cur,
                hub_changed=initial or not is_copy[Side.HUB],
                app_changed=initial or not is_copy[Side.APP],
                initial=initial,
                to_app=field.to_app and hub_flows,
                to_hub=field.to_hub and app_flows,
            )
        source = resolution.source
        if source is not None and not resolution.clear and not problems:
            try:
                _carry(field, source, current[source])
            except _FieldError as exc:
                problems.append(exc.message)
        checks.append(
            FieldCheck(
                agree,
                is_copy[Side.HUB],
                is_copy[Side.APP],
                resolution.why,
                source,
                "; ".join(problems),
            )
        )
    return tuple(checks)


def _copies_equal(
    plan: ObjectPlan,
    hub_values: Mapping[str, Any],
    hub_old: Mapping[str, Any] | None,
    app_values: Mapping[str, Any],
    app_old: Mapping[str, Any] | None,
) -> bool:
    if hub_old is None or app_old is None:
        return False
    if len(hub_old) != len(hub_values) or len(app_old) != len(app_values):
        return False
    for field in plan.fields:
        if not _same(field, _HUB, hub_values.get(field.hub.name), hub_old.get(field.hub.name)):
            return False
        if not _same(field, _APP, app_values.get(field.app.name), app_old.get(field.app.name)):
            return False
    return True


def _conflict_builder(
    field: FieldPlan, hub: Record, app: Record, hub_value: Any, app_value: Any, winner: Side
) -> Callable[[], Conflict]:
    def build() -> Conflict:
        try:
            app_in_hub_terms = _carry(field, Side.APP, app_value) if field.to_hub else app_value
        except _FieldError:
            app_in_hub_terms = app_value
        return Conflict(
            field=field.hub.name,
            hub_value=hub_value,
            app_value=app_in_hub_terms,
            hub_updated_at=hub.updated_at,
            app_updated_at=app.updated_at,
            winner=winner,
        )

    return build
