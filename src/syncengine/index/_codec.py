"""The values codec of the SQL index stores: exact, type-preserving, compact JSON.

An :class:`~syncengine.index.Entry` carries Python values (the last synced copy of each
side's mapped properties, D6) that a store must give back exactly, types included. This
module turns them into plain JSON values and back, and checks what a store may accept.
It is shared by the SQL stores (SQLite now, PostgreSQL later); it performs no I/O.

The encoding is tagged JSON. Plain JSON values stand for themselves (``str``, ``int``,
finite ``float``, ``bool``, ``None``, ``list``, ``dict`` with ``str`` keys); everything
else is a one-key object whose key is a tag:

=========  ===================================  ==============================
tag        Python value                         example
=========  ===================================  ==============================
``$t``     ``tuple``                            ``{"$t":[1,"a"]}``
``$s``     ``frozenset`` (and ``set``)          ``{"$s":["a","b"]}``
``$d``     ``datetime.date``                    ``{"$d":"2024-01-02"}``
``$dt``    ``datetime.datetime`` (offset kept)  ``{"$dt":"2024-01-02T03:04:05+02:00"}``
``$f``     ``nan``, ``inf``, ``-inf``           ``{"$f":"nan"}``
``$o``     a user dict that looks like a tag    ``{"$o":{"$t":1}}``
=========  ===================================  ==============================

A user dict of exactly one key starting with ``$`` is escaped with ``$o``, so no user
value is ever read back as a tag. ``1`` comes back as ``int``, ``1.0`` as ``float``,
``True`` as ``bool``; a ``set`` comes back as a ``frozenset``. Subclasses of ``str``,
``int`` and ``float`` (such as string enums) are stored as their base type.

Anything else (bytes, Decimal, objects, dicts with non-``str`` keys) is refused with
:class:`CodecError`; stores turn it into :class:`~syncengine.IndexStoreError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Set
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from syncengine.index._entry import CorruptEntry, Entry, HistoryItem
from syncengine.records import Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "CodecError",
    "check_entry",
    "decode_history",
    "decode_links",
    "decode_value",
    "dumps",
    "encode_history",
    "encode_links",
    "encode_value",
    "from_micros",
    "loads",
    "may_have_tags",
    "to_json",
    "to_micros",
    "utf8_json",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)
_NON_FINITE: Final = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

_loads = json.JSONDecoder().decode


def _not_json(value: object) -> Any:
    raise CodecError(f"cannot store a value of type {type(value).__qualname__}")


# The C encoder behind json.dumps, built once: json.dumps builds one per call.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_encoder is not None:
    _iterencode = _c_encoder(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def to_json(value: Any) -> str:
        """Compact JSON text of a JSON value (such as one :func:`encode_value` returned)."""
        return "".join(_iterencode(value, 0))

else:  # pragma: no cover - Python builds without the C accelerator
    _py_dumps = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_not_json
    ).encode

    def to_json(value: Any) -> str:
        """Compact JSON text of a JSON value (such as one :func:`encode_value` returned)."""
        return _py_dumps(value)


_dumps = to_json

_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_json(text: str) -> str:
    """JSON text with lone surrogates written as ``\\uXXXX`` escapes.

    ``to_json`` keeps non-ASCII text as it is; a lone surrogate (a ``str`` can hold one,
    UTF-8 cannot) would make the store's UTF-8 encoding fail. Escaped, the text is valid
    UTF-8 and decodes back to the same ``str`` (X1).
    """
    if not text.isascii() and _SURROGATE.search(text):
        return _SURROGATE.sub(lambda found: f"\\u{ord(found[0]):04x}", text)
    return text


class CodecError(ValueError):
    """A value (or entry) that an index store cannot store exactly.

    .. versionadded:: 0.1
    """


# ---- times ----------------------------------------------------------------------------
def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of a timezone-aware datetime.

    Raises:
        CodecError: ``value`` is not a timezone-aware datetime.
    """
    if type(value) is not datetime and not isinstance(value, datetime):
        raise CodecError(f"expected a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CodecError(f"expected a timezone-aware datetime, got naive {value!r}")
    return (value - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    """The UTC datetime ``value`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=value)


# ---- values ---------------------------------------------------------------------------
def encode_value(value: Any) -> Any:
    """Turn a Python value into a JSON value (see the module docstring).

    Raises:
        CodecError: ``value`` holds something the codec cannot round-trip.
    """
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        return {"$f": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if t is list:
        return [encode_value(item) for item in value]
    if t is dict:
        return _encode_dict(value)
    if t is tuple:
        return {"$t": [encode_value(item) for item in value]}
    if t is frozenset or t is set:
        return {"$s": [encode_value(item) for item in _stable(value)]}
    if t is datetime:
        return {"$dt": value.isoformat()}
    if t is date:
        return {"$d": value.isoformat()}
    # Subclasses: stored as their base type (string enums, IntEnum, …).
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return encode_value(float(value))
    if isinstance(value, Mapping):
        return _encode_dict(value)
    if isinstance(value, datetime):
        return encode_value(
            datetime(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
                value.tzinfo,
                fold=value.fold,
            )
        )
    if isinstance(value, date):
        return {"$d": date(value.year, value.month, value.day).isoformat()}
    if isinstance(value, Set):
        return {"$s": [encode_value(item) for item in _stable(value)]}
    raise CodecError(f"cannot store a value of type {t.__qualname__}: {value!r:.80}")


def _encode_dict(value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            if not isinstance(key, str):
                raise CodecError(f"cannot store a dict with a non-str key: {key!r:.80}")
            key = str.__str__(key)
        out[key] = encode_value(item)
    if len(out) == 1 and next(iter(out))[:1] == "$":
        return {"$o": out}
    return out


def _stable(value: Set[Any]) -> list[Any]:
    """The items of a set in a stable order where they can be sorted."""
    try:
        return sorted(value)
    except TypeError:
        return list(value)


def decode_value(value: Any) -> Any:
    """Turn a JSON value made by :func:`encode_value` back into the Python value.

    Raises:
        CodecError: ``value`` holds an unknown tag.
    """
    t = type(value)
    if t is dict:
        if len(value) == 1:
            ((key, item),) = value.items()
            if key[:1] == "$":
                return _decode_tagged(key, item)
        return {key: decode_value(item) for key, item in value.items()}
    if t is list:
        return [decode_value(item) for item in value]
    return value


def _decode_tagged(tag: str, item: Any) -> Any:
    if tag == "$t":
        return tuple(decode_value(x) for x in item)
    if tag == "$s":
        return frozenset(decode_value(x) for x in item)
    if tag == "$dt":
        return datetime.fromisoformat(item)
    if tag == "$d":
        return date.fromisoformat(item)
    if tag == "$f":
        return _NON_FINITE[item]
    if tag == "$o":
        return {key: decode_value(x) for key, x in item.items()}
    raise CodecError(f"unknown tag {tag!r} in stored value")


def may_have_tags(text: str) -> bool:
    """Whether JSON text made by :func:`dumps` may hold tags (if not, skip decoding).

    Every tag is an object key starting with ``$``, so text without ``"$`` has none.
    """
    return '"$' in text


def dumps(value: Any) -> str:
    """Compact JSON text of a Python value (tags applied)."""
    return _dumps(encode_value(value))


def loads(text: str) -> Any:
    """The Python value of JSON text made by :func:`dumps`."""
    raw = _loads(text)
    return decode_value(raw) if may_have_tags(text) else raw


# ---- history and links ----------------------------------------------------------------
def encode_history(history: tuple[HistoryItem, ...], base: int = 0) -> list[list[Any]]:
    """History items as ``[[micros, action], [micros, action, detail], …]``.

    Args:
        history: The items.
        base: Times are stored as ``base`` minus the item's microseconds since the epoch
            (a store passes the entry's ``updated_at`` to keep the numbers short).

    Raises:
        CodecError: an item is not a :class:`HistoryItem` of an aware time and strings.
    """
    if type(history) is not tuple:
        raise CodecError(f"Entry.history must be a tuple, got {type(history).__qualname__}")
    out: list[list[Any]] = []
    for item in history:
        if type(item) is not HistoryItem:
            raise CodecError(f"Entry.history holds a non-HistoryItem: {item!r:.80}")
        if not isinstance(item.action, str) or not isinstance(item.detail, str):
            raise CodecError(f"HistoryItem action and detail must be str: {item!r:.80}")
        at = base - to_micros(item.at) if base else to_micros(item.at)
        out.append([at, str(item.action), str(item.detail)] if item.detail else [at, item.action])
    return out


def decode_history(
    value: list[list[Any]], base: int = 0, base_at: datetime | None = None
) -> tuple[HistoryItem, ...]:
    """The history items encoded by :func:`encode_history` with the same ``base``.

    ``base_at`` (the datetime of ``base``) is reused for items at that very time.
    """
    items = []
    for item in value:
        if base:
            at = base_at if item[0] == 0 and base_at is not None else from_micros(base - item[0])
        else:
            at = from_micros(item[0])
        items.append(HistoryItem(at, item[1], item[2] if len(item) > 2 else ""))
    return tuple(items)


def encode_links(links: Mapping[str, Set[str]]) -> dict[str, list[str]]:
    """Links as ``{type: [sorted hub ids]}``.

    Raises:
        CodecError: ``links`` is not a mapping of ``str`` to a set of ``str``.
    """
    if not isinstance(links, Mapping):
        raise CodecError(f"Entry.links must be a mapping, got {type(links).__qualname__}")
    out: dict[str, list[str]] = {}
    for key, ids in links.items():
        if not isinstance(key, str) or not isinstance(ids, Set):
            raise CodecError(f"Entry.links must map str to a set of str, got {key!r:.40}")
        for record_id in ids:
            if not isinstance(record_id, str):
                raise CodecError(f"Entry.links[{key!r}] holds a non-str id {record_id!r:.40}")
        out[str(key)] = sorted(str(record_id) for record_id in ids)
    return out


def decode_links(value: Mapping[str, list[str]]) -> dict[str, frozenset[str]]:
    """The links encoded by :func:`encode_links`."""
    return {key: frozenset(ids) for key, ids in value.items()}


# ---- entries --------------------------------------------------------------------------
def check_entry(entry: object, *, deep: bool = True) -> Entry:
    """Check that a store can keep ``entry`` exactly, and return it.

    What every store refuses (the conformance kit relies on this list):

    * anything that is not an :class:`~syncengine.index.Entry` (a ``CorruptEntry``
      neither);
    * ``sync_id``, ``object_type``, ``entry_id`` or ``message`` not a ``str``;
      ``hub_id``, ``app_id``, ``matched_by``, ``pending_key``, ``mark`` neither ``str``
      nor ``None``; ``attempts`` not an ``int``;
    * ``updated_at`` (or a history item's ``at``) not a timezone-aware datetime;
    * ``state``, ``category``, ``reason``, ``pending``, ``deleted`` not members of their
      enums (or ``None`` where allowed);
    * ``keys`` not a ``frozenset``/``set`` of ``str``; ``history`` not a tuple of
      :class:`~syncengine.index.HistoryItem`; ``links`` not a mapping of ``str`` to sets
      of ``str``;
    * ``hub_values``/``app_values`` neither ``None`` nor a mapping with ``str`` keys and
      values of the types in the module docstring.

    Args:
        entry: The entry to check.
        deep: Also check the contents of values, links and history. A store that
            encodes them next (and fails inside its transaction) passes ``False``.

    Raises:
        CodecError: naming the entry and the offending field.
    """
    if type(entry) is not Entry:
        if isinstance(entry, CorruptEntry):
            raise CodecError(
                f"a CorruptEntry is not written back (its row stays until it is repaired): "
                f"{entry.message:.300}"
            )
        raise CodecError(f"expected an Entry, got {type(entry).__qualname__}: {entry!r:.80}")
    problem = _problem(entry, deep)
    if problem:
        raise CodecError(
            f"cannot store entry {entry.entry_id!r:.60} of {entry.sync_id!r:.40}/"
            f"{entry.object_type!r:.40}: {problem}"
        )
    return entry


_STR_OR_NONE: Final = frozenset({str, type(None)})
#: Mapping types told apart without an ABC isinstance, which is slow on every write (the
#: empty links default is a MappingProxyType).
_PLAIN_MAPPINGS: Final = frozenset({dict, MappingProxyType})


def _problem(entry: Entry, deep: bool) -> str:
    """What makes ``entry`` unstorable, or ``""``."""
    if type(entry.sync_id) is not str or type(entry.object_type) is not str:
        return "sync_id and object_type must be str"
    if type(entry.entry_id) is not str:
        return f"entry_id must be str, got {entry.entry_id!r:.40}"
    ok = _STR_OR_NONE
    if not (
        type(entry.hub_id) in ok
        and type(entry.app_id) in ok
        and type(entry.matched_by) in ok
        and type(entry.pending_key) in ok
        and type(entry.mark) in ok
    ):
        return "hub_id, app_id, matched_by, pending_key and mark must be str or None"
    if type(entry.message) is not str:
        return f"message must be str, got {entry.message!r:.40}"
    if type(entry.attempts) is not int:
        return f"attempts must be int, got {entry.attempts!r:.40}"
    at = entry.updated_at
    if (type(at) is not datetime or at.tzinfo is not UTC) and (  # UTC: the common case
        not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None
    ):
        return f"updated_at must be a timezone-aware datetime, got {at!r:.60}"
    if not isinstance(entry.state, RecordState):
        return f"state must be a RecordState, got {entry.state!r:.40}"
    if entry.category is not None and not isinstance(entry.category, ErrorCategory):
        return f"category must be an ErrorCategory, got {entry.category!r:.40}"
    if entry.reason is not None and not isinstance(entry.reason, ExcludeReason):
        return f"reason must be an ExcludeReason, got {entry.reason!r:.40}"
    if entry.pending is not None and not isinstance(entry.pending, Side):
        return f"pending must be a Side, got {entry.pending!r:.40}"
    if entry.deleted is not None and not isinstance(entry.deleted, Side):
        return f"deleted must be a Side, got {entry.deleted!r:.40}"
    keys = entry.keys
    if type(keys) not in (frozenset, set):
        return f"keys must be a frozenset of str, got {keys!r:.40}"
    for key in keys:
        if type(key) is not str:
            return f"keys must be a frozenset of str, got key {key!r:.40}"
    if type(entry.history) is not tuple:
        return f"history must be a tuple, got {type(entry.history).__qualname__}"
    for name, mapping in (("hub_values", entry.hub_values), ("app_values", entry.app_values)):
        if (
            mapping is not None
            and type(mapping) not in _PLAIN_MAPPINGS
            and not isinstance(mapping, Mapping)
        ):
            return f"{name} must be a mapping or None, got {mapping!r:.40}"
    links = entry.links
    if type(links) not in _PLAIN_MAPPINGS and not isinstance(links, Mapping):
        return f"links must be a mapping, got {type(links).__qualname__}"
    if deep:
        try:
            for mapping in (entry.hub_values, entry.app_values):
                if mapping is not None:
                    _encode_dict(mapping)
            encode_links(links)
            encode_history(entry.history)
        except CodecError as error:
            return str(error)
    return ""
