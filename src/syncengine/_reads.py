"""Which properties a sync reads, per side: what the engine tells adapters when it is built.

An adapter that pays for every property it reads (HubSpot lists them in a URL) may then
read only these (:meth:`~syncengine.adapters.Adapter.include_properties`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from syncengine.adapters.base import Adapter
from syncengine.plan import ObjectPlan
from syncengine.records import Side

__all__ = ["announce_reads", "properties_read"]


def properties_read(plan: ObjectPlan, side: Side) -> tuple[str, ...]:
    """The properties of ``plan``'s type on ``side`` the engine reads.

    Enabled mappings (and pipeline/stage fields), match keys, and the side's filter.
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
