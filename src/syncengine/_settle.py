"""Creates in flight, settled by asking the app which of them happened (rule S8).

A create whose reply the engine never saw (a timeout, a 5xx after the app committed, a
crash) stays *pending* in the index with its idempotency key. An adapter with
``supports_idempotency_lookup`` answers, strongly consistently, which of those creates
made a record (:meth:`~syncengine.adapters.Adapter.lookup_idempotency_keys`): the engine
pairs each create with the record it made, and knows for sure that the others made
nothing, without reading the side's change scan (which lags behind writes on apps whose
changes come from a search index, as HubSpot's do) and without sending anything again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from syncengine.adapters.base import Adapter
from syncengine.errors import AdapterError
from syncengine.index._entry import Entry
from syncengine.plan import Apply, CreateIn, Decision, Fail
from syncengine.records import NewRecord, Side
from syncengine.states import ErrorCategory

__all__ = ["LOOKUP_UNSUPPORTED", "created_records", "resend_deferred"]

#: What :func:`created_records` answers when the adapter cannot tell (settle by identifier).
LOOKUP_UNSUPPORTED: Final = None


def _sent(entry: Entry, side: Side) -> NewRecord:
    """The create ``entry`` announced on ``side``, as it was sent (and as a re-send sends it)."""
    values = entry.values_on(side) or {}
    return NewRecord({k: v for k, v in values.items() if v is not None}, entry.pending_key or "")


def created_records(
    adapter: Adapter, object_type: str, side: Side, pending: Sequence[Entry]
) -> dict[str, str] | None:
    """The record each pending create on ``side`` made, by entry id; ``None`` when the
    adapter cannot tell (no lookup, a type it cannot look up, or a create without a key).

    Entries missing from the answer made nothing (or a record deleted since). Asks the
    adapter in batches of its ``max_batch_size``.

    Raises:
        AdapterError: the lookup failed, or answered with something that is not an id.
    """
    if not adapter.supports_idempotency_lookup or any(not e.pending_key for e in pending):
        return LOOKUP_UNSUPPORTED
    made: dict[str, str] = {}
    size = max(1, adapter.max_batch_size)
    for start in range(0, len(pending), size):
        chunk = pending[start : start + size]
        found = adapter.lookup_idempotency_keys(object_type, [_sent(e, side) for e in chunk])
        if found is None:
            return LOOKUP_UNSUPPORTED
        for entry in chunk:
            record_id = found.get(entry.pending_key or "")
            if record_id is None:
                continue
            if type(record_id) is not str or not record_id:
                raise AdapterError(
                    ErrorCategory.UNKNOWN,
                    f"adapter {adapter.name!r}: lookup_idempotency_keys answered "
                    f"{record_id!r:.60} for a key; expected a record id (text)",
                )
            made[entry.entry_id] = record_id
    return made


def resend_deferred(
    base: Entry | None, into: Side, error: AdapterError, decision: Decision
) -> Decision:
    """``decision``, unless it sends again a create in flight into ``into`` whose
    settlement failed in this pass (``error``): then a failure with that transient error.

    The settlement is what tells whether that create made a record, and whether a record
    the side gained meanwhile holds its identifier (M3); a create sent again outside it,
    next to such a namesake, would make a duplicate of it. The entry stays in flight and
    the next pass settles it.
    """
    if (
        base is not None
        and base.pending is into
        and isinstance(decision, Apply)
        and isinstance(decision.write_on(into), CreateIn)
    ):
        return Fail(
            error.category,
            f"waits for its create in flight on the {into.value} side to settle "
            f"(rule S8): {error.message}",
        )
    return decision
