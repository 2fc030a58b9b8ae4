"""Building an engine: compile the config against both apps' schemas and capabilities.

What is configured works, or is refused here with a :class:`~syncengine.ConfigError`
naming the field (X2, X6): adapters' capability flags and batch sizes, links, pipelines
and their stages. Reads the apps' schemas and pipelines; runs before any pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from syncengine.adapters.base import CAPABILITY_FLAGS, Adapter
from syncengine.config import ObjectSync, PipelineMap, SyncConfig
from syncengine.engine.context import Core
from syncengine.errors import AdapterError, ConfigError, UnsupportedCapability
from syncengine.plan import ObjectPlan, compile_object
from syncengine.records import Pipeline, Side
from syncengine.schema import ObjectSchema
from syncengine.states import ErrorCategory

__all__ = [
    "ADAPTER_PATHS",
    "announce_links",
    "announce_reads",
    "check_adapters",
    "check_capabilities",
    "check_stage_maps",
    "compile_plans",
    "configure",
    "implements",
    "in_object",
    "linking",
    "links_supported",
    "order_objects",
    "properties_read",
    "resolve_pipelines",
    "schema_of",
    "with_defaults",
]


def compile_plans(core: Core, config: SyncConfig) -> dict[str, ObjectPlan]:
    check_adapters(core, config.sync_id)
    plans: dict[str, ObjectPlan] = {}
    for i, obj in enumerate(config.objects):
        try:
            hub_schema = schema_of(core, Side.HUB, obj.hub_type)
            app_schema = schema_of(core, Side.APP, obj.app_type)
            defaulted = with_defaults(obj, config, links_supported(core))
            check_capabilities(core, config.sync_id, defaulted)
            resolved = resolve_pipelines(core, defaulted)
            check_stage_maps(core, resolved)
            plans[obj.hub_type] = compile_object(resolved, hub_schema, app_schema)
        except ConfigError as exc:
            if exc.path.startswith(ADAPTER_PATHS):  # an adapter's option, not the object's
                raise
            raise in_object(exc, i, config.sync_id, obj) from None
    return plans


def schema_of(core: Core, side: Side, type_name: str) -> ObjectSchema:
    """The schema of ``type_name`` on ``side``; a type the app lacks is a ConfigError (X2).

    Raises:
        ConfigError: at ``hub_type``/``app_type`` when the adapter says ``NOT_FOUND``.
        AdapterError: when the schema cannot be read for another reason.
    """
    adapter = core.adapters[side]
    try:
        return adapter.schema(type_name)
    except ConfigError as exc:  # an adapter option the app refuses (HubSpot's properties)
        raise ConfigError(
            f"{side.value}.{exc.path}" if exc.path else side.value,
            f"the {side.value} adapter {adapter.name!r}: {exc.problem}",
        ) from None
    except AdapterError as exc:
        if exc.category is not ErrorCategory.NOT_FOUND:
            raise
        raise ConfigError(
            f"{side.value}_type",
            f"the {side.value} ({adapter.name!r}) has no object type {type_name!r}: {exc.message}",
        ) from None


def check_adapters(core: Core, sync_id: str) -> None:
    """Refuse adapters whose capability flags or batch size are not what they say.

    Raises:
        ConfigError: naming the sync, the side and the attribute.
    """
    for side in Side:
        adapter = core.adapters[side]
        who = f"sync {sync_id!r}: the {side.value} adapter {adapter.name!r}"
        for flag in CAPABILITY_FLAGS:
            value = getattr(adapter, flag, False)
            if type(value) is not bool:
                raise ConfigError(
                    f"{side.value}.{flag}",
                    f"{who} has {flag} = {value!r:.60}; expected True or False",
                )
        if adapter.supports_idempotency_lookup and not implements(
            adapter, "lookup_idempotency_keys"
        ):
            raise ConfigError(
                f"{side.value}.supports_idempotency_lookup",
                f"{who} has supports_idempotency_lookup = True but does not implement "
                f"lookup_idempotency_keys(); implement it or set the flag to False",
            )
        size = adapter.max_batch_size
        if type(size) is not int or size < 1:
            raise ConfigError(
                f"{side.value}.max_batch_size",
                f"{who} has max_batch_size = {size!r:.60}; expected a whole number >= 1",
            )


def links_supported(core: Core) -> bool:
    """Whether both adapters declare links, and implement them."""
    return all(
        core.adapters[side].supports_associations and implements(core.adapters[side], "associate")
        for side in Side
    )


def check_capabilities(core: Core, sync_id: str, obj: ObjectSync) -> None:
    """Refuse an object sync that needs a capability an adapter does not declare (X6).

    An adapter says what it can do with its ``supports_*`` flags; the flag, not the
    presence of a method, is what counts, and the two must agree for what the config
    uses: links (``associations``) need ``supports_associations`` and
    :meth:`~syncengine.adapters.Adapter.associate` on both sides; auto-mapped stages
    (a ``PipelineMap`` without ``stages``) need ``supports_pipelines`` and
    :meth:`~syncengine.adapters.Adapter.pipelines` on both sides.

    Raises:
        ConfigError: naming the sync id, the object type, the side and the flag.
    """
    needs: list[tuple[str, str, str, str, str]] = []
    if obj.associations:
        needs.append(
            (
                "associations",
                "supports_associations",
                "associate",
                "keeps links to " + ", ".join(repr(t) for t in obj.associations),
                "leave 'associations' out of this object sync",
            )
        )
    if any(p.stages is None for p in obj.pipelines):
        needs.append(
            (
                "pipelines",
                "supports_pipelines",
                "pipelines",
                "auto-maps pipeline stages",
                "map the stages explicitly (PipelineMap(..., stages={...}))",
            )
        )
    for path, flag, method, what, otherwise in needs:
        for side in Side:
            adapter = core.adapters[side]
            declared = bool(getattr(adapter, flag, False))
            implemented = implements(adapter, method)
            if declared and implemented:
                continue
            cls = type(adapter).__name__
            if implemented:
                why = (
                    f"{cls} defines {method}() but leaves {flag} = False; if {method}() "
                    f"works, set {flag} = True on the class"
                )
            elif declared:
                why = (
                    f"{cls} sets {flag} = True but does not implement {method}(); "
                    f"implement it, or set {flag} = False and {otherwise}"
                )
            else:
                why = f"{cls} has {flag} = False; {otherwise}"
            raise ConfigError(
                path,
                f"sync {sync_id!r}, object {obj.hub_type!r} {what}, which the "
                f"{side.value} adapter {adapter.name!r} does not support: {why}",
            )


def announce_links(core: Core) -> None:
    """Tell each adapter which links its records must carry (rule A1).

    One declaration, ``ObjectSync(associations=...)``, is enough: the engine passes it
    on through :meth:`~syncengine.adapters.Adapter.include_associations`.
    """
    for plan in core.plans.values():
        targets = plan.sync.associations
        if not targets:
            continue
        for side in Side:
            core.adapters[side].include_associations(
                plan.type_on(side), [core.plans[t].type_on(side) for t in targets]
            )


def check_stage_maps(core: Core, obj: ObjectSync) -> None:
    """Refuse pipeline and stage ids a pipeline map names that an app lacks (A3, X6).

    Checked against each app that lists its pipelines; an app that cannot (it does not
    declare ``supports_pipelines``, or may not read them, A5) is taken at its word.

    Raises:
        ConfigError: at ``pipelines[i].hub_pipeline``/``app_pipeline`` or
            ``pipelines[i].stages[...]``, naming the id and the ones there are.
    """
    if not obj.pipelines:
        return
    for side in Side:
        type_name = obj.hub_type if side is Side.HUB else obj.app_type
        if not core.adapters[side].supports_pipelines:
            continue
        try:
            known = {p.id: p for p in core.adapters[side].pipelines(type_name)}
        except (UnsupportedCapability, AdapterError):
            continue
        for i, pipeline_map in enumerate(obj.pipelines):
            pid = pipeline_map.hub_pipeline if side is Side.HUB else pipeline_map.app_pipeline
            pipeline = known.get(pid)
            if pipeline is None:
                raise ConfigError(
                    f"pipelines[{i}].{side.value}_pipeline",
                    f"the {side.value} has no pipeline {pid!r} of {type_name!r} "
                    f"(known: {', '.join(sorted(known)) or 'none'})",
                )
            stage_ids = [s.id for s in pipeline.stages]
            for hub_stage, app_stage in (pipeline_map.stages or {}).items():
                stage = hub_stage if side is Side.HUB else app_stage
                if stage_ids and stage not in stage_ids:
                    raise ConfigError(
                        f"pipelines[{i}].stages[{hub_stage!r}]",
                        f"the {side.value} pipeline {pid!r} has no stage {stage!r} "
                        f"(its stages: {', '.join(stage_ids)})",
                    )


def resolve_pipelines(core: Core, obj: ObjectSync) -> ObjectSync:
    """Auto-map the stages of pipeline maps that leave them out (rule A3–A5).

    Raises:
        ConfigError: naming the pipeline when an app cannot say its stages: it lacks
            the permission, has no such pipeline, or has no stages (A5). Never an
            empty mapping.
    """
    if all(p.stages is not None for p in obj.pipelines):
        return obj
    found: dict[Side, dict[str, Pipeline]] = {}
    for side in Side:
        adapter = core.adapters[side]
        type_name = obj.hub_type if side is Side.HUB else obj.app_type
        try:
            found[side] = {p.id: p for p in adapter.pipelines(type_name)}
        except UnsupportedCapability:
            raise ConfigError(
                "pipelines",
                f"the {side.value} adapter {adapter.name!r} cannot list pipelines; "
                "map the stages explicitly",
            ) from None
        except AdapterError as exc:
            raise ConfigError(
                "pipelines",
                f"cannot read the {side.value}'s pipelines of {type_name!r} "
                f"({exc.category.value}: {exc.message}); check the account's permissions",
            ) from exc
    maps = []
    for i, pipeline_map in enumerate(obj.pipelines):
        if pipeline_map.stages is not None:
            maps.append(pipeline_map)
            continue
        ends = {}
        for side, pid in (
            (Side.HUB, pipeline_map.hub_pipeline),
            (Side.APP, pipeline_map.app_pipeline),
        ):
            pipeline = found[side].get(pid)
            if pipeline is None:
                raise ConfigError(
                    f"pipelines[{i}].{side.value}_pipeline",
                    f"the {side.value} has no pipeline {pid!r} "
                    f"(known: {', '.join(sorted(found[side])) or 'none'})",
                )
            if not pipeline.stages:
                raise ConfigError(
                    f"pipelines[{i}].{side.value}_pipeline",
                    f"the {side.value} pipeline {pid!r} shows no stages: the account may "
                    "lack permission to read them, or the app has no stage-based process",
                )
            ends[side] = pipeline
        maps.append(
            PipelineMap.auto(
                pipeline_map.hub_pipeline,
                pipeline_map.app_pipeline,
                ends[Side.HUB].stages,
                ends[Side.APP].stages,
            )
        )
    return attrs.evolve(obj, pipelines=maps)


def order_objects(plans: Iterable[ObjectPlan]) -> list[ObjectSync]:
    """Object syncs with the ends of links first (companies before contacts before deals).

    An object that keeps links to others (``associations``) syncs after them, so the
    links can be completed in the same pass; a cycle falls back to the given order (the
    links are then completed by a later pass, A1).
    """
    remaining = [plan.sync for plan in plans]
    ordered: list[ObjectSync] = []
    done: set[str] = set()
    while remaining:
        for obj in remaining:
            if all(dep in done for dep in obj.associations):
                break
        else:
            obj = remaining[0]
        remaining.remove(obj)
        ordered.append(obj)
        done.add(obj.hub_type)
    return ordered


def linking(plans: Mapping[str, ObjectPlan]) -> dict[str, list[str]]:
    """For each object sync, the object syncs that keep links to it (A1)."""
    result: dict[str, list[str]] = {}
    for plan in plans.values():
        for target in plan.sync.associations:
            result.setdefault(target, []).append(plan.name)
    return result


def with_defaults(obj: ObjectSync, config: SyncConfig, links: bool) -> ObjectSync:
    """Invoices link to contacts by default; links to companies are the user's call (A2).

    The default applies when both adapters can link (``links``): it is not something the
    user configured, so it is never a reason to refuse a config (X6).
    """
    hub_types = {o.hub_type for o in config.objects}
    if obj.hub_type == "invoices" and not obj.associations and "contacts" in hub_types and links:
        return attrs.evolve(obj, associations=("contacts",))
    return obj


def implements(adapter: Adapter, method: str) -> bool:
    """Whether ``adapter``'s class overrides the base class's ``method``."""
    return getattr(type(adapter), method, None) is not getattr(Adapter, method)


#: Paths of errors in an adapter's own options (``hub.properties``), not an object sync's.
ADAPTER_PATHS: Final = tuple(f"{side.value}." for side in Side)


def in_object(exc: ConfigError, i: int, sync_id: str, obj: ObjectSync) -> ConfigError:
    """``exc`` (found checking object sync ``i`` against the schemas) naming the sync and it."""
    where = exc.within(f"objects[{i}]")
    if where.problem.startswith(f"sync {sync_id!r}"):  # it says so already
        return where
    return ConfigError(
        where.path,
        f"{where.problem} (sync {sync_id!r}, object sync {obj.hub_type} ↔ {obj.app_type})",
    )


def configure(core: Core, config: SyncConfig, plans: dict[str, ObjectPlan]) -> None:
    """Make ``config``, compiled to ``plans``, the engine's; tell the adapters what it
    links and reads."""
    core.config = config
    core.plans = plans
    core.order = [plans[o.hub_type] for o in order_objects(plans.values())]
    core.linked_from = linking(plans)
    announce_links(core)
    announce_reads(core.adapters, plans.values())


def properties_read(plan: ObjectPlan, side: Side) -> tuple[str, ...]:
    """The properties of ``plan``'s type on ``side`` the engine reads.

    Enabled mappings (and pipeline/stage fields), match keys, and the side's filter. An
    adapter that pays for every property it reads (HubSpot lists them in a URL) may then
    read only these (:meth:`~syncengine.adapters.Adapter.include_properties`).
    """
    names: list[str] = []
    for field in (*plan.fields, *plan.gates):
        names.append(field.hub.name if side is Side.HUB else field.app.name)
    names += [key.prop(side) for key in plan.keys]
    condition = plan.filter_on(side)
    if condition is not None:
        names += sorted(condition.properties)
    return tuple(dict.fromkeys(names))


def announce_reads(adapters: Mapping[Side, Adapter], plans: Iterable[ObjectPlan]) -> None:
    """Tell each adapter the properties each object sync reads on its side."""
    for plan in plans:
        for side in Side:
            adapters[side].include_properties(plan.type_on(side), properties_read(plan, side))
