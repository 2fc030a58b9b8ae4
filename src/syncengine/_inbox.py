"""The webhook inbox: change events kept in the index store until a pass processed them.

A receiver (:class:`~syncengine.webhooks.WebhookReceiver`) turns each verified event into
an :class:`~syncengine.index.InboxItem` (:func:`item_of`) and adds it to the store at
once; the request is answered without reading any app. A pass then drains the inbox
(:func:`drain`): it reads the items in arrival order, a page at a time, hands their
events to the engine, and removes a page only after the engine processed it (its index
writes are committed by then). A crash in between leaves the page in the inbox, and the
next pass processes it again: delivery is *at least once*, and processing an event twice
is harmless because the engine fetches each record as it is now.

The payload is a :class:`~syncengine.ChangeEvent` as ASCII JSON, field by field (every
attrs field of the class), so events of any kind a parser produces are kept and drained
the same way. An item's key is a digest of its side and payload: a redelivered event
(same record, kind and time) is dropped while its first delivery waits. Events without a
time are never taken for one another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from syncengine.index._entry import InboxItem
from syncengine.index._rowformat import UNREADABLE
from syncengine.index.base import IndexStore, keeps_inbox
from syncengine.records import ChangeEvent, Side

__all__ = ["PAGE", "decode", "drain", "encode", "item_of"]

logger = logging.getLogger("syncengine.inbox")

#: Items a pass reads from the inbox at a time (then processes and removes).
PAGE: Final = 500
_DATETIME: Final = "$datetime"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, tuple | list | frozenset | set):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, frozenset | set) else items
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _restored(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DATETIME}:
            return datetime.fromisoformat(value[_DATETIME])
        return {k: _restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_restored(v) for v in value)
    return value


def encode(event: ChangeEvent) -> str:
    """``event`` as the inbox keeps it: its fields as canonical ASCII JSON."""
    data = {f.name: _jsonable(getattr(event, f.name)) for f in attrs.fields(type(event))}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def decode(payload: str) -> ChangeEvent:
    """The event an inbox payload holds; fields this version does not know are ignored.

    Raises:
        ValueError: The payload is not an event.
    """
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("an inbox payload is a JSON object")
    if UNREADABLE in data:  # a row of the inbox the store could not read: why
        raise ValueError(str(data[UNREADABLE]))
    known = {f.name for f in attrs.fields(ChangeEvent)}
    try:
        return ChangeEvent(**{k: _restored(v) for k, v in data.items() if k in known})
    except TypeError as exc:  # a required field is missing
        raise ValueError(str(exc)) from None


def item_of(sync_id: str, side: Side, event: ChangeEvent, received_at: datetime) -> InboxItem:
    """The inbox item of one received event (see the module docstring for its key)."""
    payload = encode(event)
    if event.occurred_at is None:
        key = "u:" + uuid.uuid4().hex  # no time: nothing tells a redelivery apart
    else:
        digest = hashlib.sha256(f"{side.value}\n{payload}".encode("ascii"))
        key = "e:" + digest.hexdigest()[:40]
    return InboxItem(sync_id, side, key, payload, received_at)


def drain(
    store: IndexStore,
    sync_id: str,
    handle: Callable[[Side, list[ChangeEvent]], None],
    *,
    remove: bool,
    errors: list[str],
) -> int:
    """Hand every event of a sync's inbox to ``handle``, a page at a time, oldest first;
    return how many items were read.

    ``handle`` is called once per side and page; a page is removed (``remove=True``)
    only after ``handle`` returned for all of it, so an exception leaves it, and the
    pages after it, for the next drain. Dry runs pass ``remove=False``. A payload that
    is not an event (written by something else) is noted in ``errors`` and removed.
    """
    if not keeps_inbox(store):
        return 0
    after = 0
    read = 0
    while True:
        items = store.inbox(sync_id, after=after, limit=PAGE)
        if not items:
            return read
        read += len(items)
        after = items[-1].seq
        by_side: dict[Side, list[ChangeEvent]] = {}
        for item in items:
            try:
                event = decode(item.payload)
            except ValueError as exc:
                errors.append(f"inbox event {item.seq} is not an event and was dropped: {exc}")
                logger.warning("dropped inbox event %d: not an event (%s)", item.seq, exc)
                continue
            by_side.setdefault(item.side, []).append(event)
        for side, events in by_side.items():
            handle(side, events)
        if remove:
            store.inbox_remove(sync_id, [item.seq for item in items])
