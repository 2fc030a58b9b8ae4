"""The index copies of a pair some of whose writes landed and some did not (rules S6, D6).

A decision that updates both records of a pair is made of two writes, one per app. When
only one of them lands (the other fails, or the process dies between them), the index
copy must say what the records hold now: a field written to the app whose write landed
is in sync, and its copy is the value written; a field meant for the app whose write did
not land keeps its old copy on both sides, so the next pass still sees which side changed
it. Keeping the old copy for every field instead makes the landed write look like a
change of its app's own: a user who then sets the other app's field back to the old
value has their edit taken for "no change" and overwritten.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from syncengine.entry import Entry
from syncengine.plan import Apply, ObjectPlan, UpdateIn
from syncengine.records import Side

__all__ = ["landed", "landed_copies"]


def landed(decision: Apply, sides: Collection[Side]) -> Apply:
    """``decision`` with only its writes on ``sides`` (the ones that landed)."""
    return Apply(
        tuple(w for w in decision.writes if w.side in sides),
        decision.hub_values,
        decision.app_values,
        decision.fields,
    )


def landed_copies(
    plan: ObjectPlan, decision: Apply, base: Entry, missed: Collection[Side]
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The (hub, app) index copies once ``decision``'s writes landed everywhere but on
    ``missed``; ``None`` when there is no earlier copy to keep (a first sync, whose next
    pass merges anew) or a missed write is a create (settled by rule S8, not by copies).
    """
    hub_old, app_old = base.hub_values, base.app_values
    if hub_old is None or app_old is None:
        return None
    hub_values = dict(decision.hub_values)
    app_values = dict(decision.app_values)
    for side in missed:
        write = decision.write_on(side)
        if write is None:
            continue
        if not isinstance(write, UpdateIn):
            return None
        for field in plan.fields:
            if field.spec(side).name in write.properties:
                for values, old, name in (
                    (hub_values, hub_old, field.hub.name),
                    (app_values, app_old, field.app.name),
                ):
                    if name in old:
                        values[name] = old[name]
                    else:
                        values.pop(name, None)
    return hub_values, app_values
