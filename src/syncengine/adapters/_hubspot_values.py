"""HubSpot property definitions and values: types, and the string forms on the wire.

HubSpot sends and takes every property value as a string (reference §3): numbers as
``"17"``, booleans as ``"true"``/``"false"``, dates as ``YYYY-MM-DD`` (or epoch
milliseconds at midnight UTC), datetimes as ISO 8601 with ``Z`` (or epoch milliseconds),
enumerations as the option's *value* (never its label), multi-selects as option values
joined by ``;``, and a cleared value as ``""``.

This module owns that translation and nothing else: no I/O, no clock, no logging.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from syncengine._text import lone_surrogate
from syncengine.mapping import ConversionError, coerce
from syncengine.schema import PropertySpec, PropertyType

__all__ = [
    "ConversionError",
    "from_hubspot",
    "from_ms",
    "lastmod_property",
    "parse_ms",
    "reader",
    "spec_from_definition",
    "to_hubspot",
]

_UTC: Final = _dt.UTC
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_DIGITS: Final = re.compile(r"-?[0-9]{1,16}")
_INT: Final = re.compile(r"[+-]?[0-9]{1,300}")
# A multi-select's option values are joined by ";" on the wire.
_SEPARATOR: Final = ";"

#: Field types that make an ``enumeration`` property a multi-select.
_MULTI_FIELD_TYPES: Final = frozenset({"checkbox"})
_TYPES: Final[Mapping[str, PropertyType]] = {
    "string": PropertyType.STRING,
    "phone_number": PropertyType.STRING,
    "number": PropertyType.NUMBER,
    "bool": PropertyType.BOOL,
    "date": PropertyType.DATE,
    "datetime": PropertyType.DATETIME,
    "enumeration": PropertyType.ENUM,
}
# Internal-only types (reference §3): readable as text, never writable.
_INTERNAL_TYPES: Final = frozenset({"object_coordinates", "json"})

#: Object types whose unique identifier HubSpot enforces without ``hasUniqueValue``.
_IMPLICIT_UNIQUE: Final[Mapping[str, frozenset[str]]] = {"contacts": frozenset({"email"})}


def lastmod_property(object_type: str) -> str:
    """The last-modified property of ``object_type`` (reference §4, Search).

    ``lastmodifieddate`` on contacts, ``hs_lastmodifieddate`` on every other object.
    """
    return "lastmodifieddate" if object_type in ("contacts", "0-1") else "hs_lastmodifieddate"


def spec_from_definition(
    object_type: str, definition: Mapping[str, Any], *, required: bool = False
) -> PropertySpec:
    """A :class:`PropertySpec` from one property of HubSpot's properties API.

    * ``type``/``fieldType`` → :class:`PropertyType`: ``enumeration`` with field type
      ``checkbox`` is a multi-select, any ``booleancheckbox`` a bool; ``phone_number`` is
      text; the internal types ``json`` and ``object_coordinates`` read as text.
    * ``options`` are the options' *values* (hidden ones too: records may hold them).
    * ``read_only`` from ``modificationMetadata.readOnlyValue``, ``calculated``, or an
      internal type.
    * ``unique`` from ``hasUniqueValue``; a contact's ``email`` is unique too, since
      HubSpot refuses a second contact with the same address (409).

    Args:
        object_type: The object type the property belongs to.
        definition: One item of ``GET /crm/v3/properties/{objectType}``.
        required: Whether the object's schema lists it in ``requiredProperties``.

    Raises:
        KeyError: The definition has no ``name``.
    """
    name = str(definition["name"])
    hs_type = str(definition.get("type") or "string")
    field_type = str(definition.get("fieldType") or "")
    metadata = definition.get("modificationMetadata") or {}
    read_only = bool(
        metadata.get("readOnlyValue")
        or definition.get("calculated")
        or field_type == "calculation_equation"
        or hs_type in _INTERNAL_TYPES
    )
    if field_type == "booleancheckbox":
        kind = PropertyType.BOOL
    elif hs_type == "enumeration" and field_type in _MULTI_FIELD_TYPES:
        kind = PropertyType.MULTI_ENUM
    else:
        kind = _TYPES.get(hs_type, PropertyType.STRING)
    options: tuple[str, ...] = ()
    if kind in (PropertyType.ENUM, PropertyType.MULTI_ENUM):
        seen: dict[str, None] = {}
        for option in definition.get("options") or ():
            value = option.get("value") if isinstance(option, Mapping) else None
            if isinstance(value, str):
                seen.setdefault(value, None)
        options = tuple(seen)
    unique = bool(definition.get("hasUniqueValue")) or name in _IMPLICIT_UNIQUE.get(
        object_type, frozenset()
    )
    return PropertySpec(
        name,
        kind,
        required=required and not read_only,
        options=options,
        read_only=read_only,
        unique=unique,
    )


def parse_ms(text: str) -> int | None:
    """Epoch milliseconds of a HubSpot timestamp (ISO 8601 or epoch ms), or ``None``."""
    text = text.strip()
    if _DIGITS.fullmatch(text):
        return int(text)
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> _dt.datetime | None:
    """The UTC datetime of epoch milliseconds, or ``None`` when out of range."""
    try:
        return _EPOCH + _dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None


def _moment(text: str) -> _dt.datetime | None:
    ms = parse_ms(text)
    return None if ms is None else from_ms(ms)


def _text(text: str) -> Any:
    return text


def _multi(text: str) -> Any:
    return frozenset(part for part in text.split(_SEPARATOR) if part) or None


def _bool(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _number(text: str) -> Any:
    stripped = text.strip()
    try:
        return int(stripped) if _INT.fullmatch(stripped) else float(stripped)
    except ValueError:
        return text


def _date(text: str) -> Any:
    moment = _moment(text)
    return text if moment is None else moment.date()


def _datetime(text: str) -> Any:
    moment = _moment(text)
    return text if moment is None else moment


_READERS: Final[Mapping[PropertyType, Callable[[str], Any]]] = {
    PropertyType.STRING: _text,
    PropertyType.ENUM: _text,
    PropertyType.MULTI_ENUM: _multi,
    PropertyType.BOOL: _bool,
    PropertyType.NUMBER: _number,
    PropertyType.DATE: _date,
    PropertyType.DATETIME: _datetime,
}


def reader(spec: PropertySpec) -> Callable[[str], Any]:
    """The function that reads a non-blank value of ``spec`` (see :func:`from_hubspot`)."""
    return _READERS[spec.type]


def from_hubspot(text: Any, spec: PropertySpec) -> Any:
    """The Python value of a property value HubSpot sent (its string form).

    Blank (``None`` or ``""``) gives ``None``. Numbers give ``int`` when integral text,
    else ``float``; dates and datetimes accept ISO 8601 and epoch milliseconds. Options
    are not checked against ``spec.options``: a record may hold an option that was
    hidden or removed since. Text that does not parse as its type is returned unchanged,
    so a bad value fails one record in the engine instead of stopping a scan (X1).
    """
    if text is None or text == "":
        return None
    return _READERS[spec.type](text if isinstance(text, str) else str(text))


def _number_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    # Plain notation: HubSpot's number parser is not documented to take exponents.
    return format(decimal.Decimal(repr(value)), "f")


def _datetime_text(value: _dt.datetime) -> str:
    utc = value.astimezone(_UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_hubspot(value: Any, spec: PropertySpec | None) -> str:
    """The string HubSpot takes for ``value`` of property ``spec``.

    ``None`` (and other blanks) give ``""``, which clears the property. A property the
    schema does not know (``spec=None``) is sent as ``str(value)``, so HubSpot's own
    validation names it.

    Raises:
        ConversionError: ``value`` is not a value of ``spec``'s type (or not one of its
            options), or its text holds a lone surrogate (not valid Unicode); the message
            says what was expected, without the property's name.
    """
    text = _to_text(value, spec)
    problem = lone_surrogate(text)
    if problem is not None:
        # HubSpot's API takes JSON in UTF-8, which cannot carry it (the request would fail
        # as a whole, for every record of the batch).
        raise ConversionError(f"{problem}: {text!r}")
    return text


def _to_text(value: Any, spec: PropertySpec | None) -> str:
    if spec is None:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    canonical = coerce(value, spec)
    if canonical is None:
        return ""
    kind = spec.type
    if kind is PropertyType.NUMBER:
        return _number_text(canonical)
    if kind is PropertyType.BOOL:
        return "true" if canonical else "false"
    if kind is PropertyType.DATE:
        # Midnight UTC as YYYY-MM-DD; any other time of day is refused by HubSpot.
        return str(canonical.isoformat())
    if kind is PropertyType.DATETIME:
        return _datetime_text(canonical)
    if kind is PropertyType.MULTI_ENUM:
        return _SEPARATOR.join(sorted(canonical))
    return str(canonical)
