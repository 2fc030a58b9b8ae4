"""Property values: canonical forms, type compatibility and conversion (rule F4, F5, X1).

Every :class:`~syncengine.PropertyType` has one *canonical* Python form, and the decision
core only ever compares and writes canonical values:

============  ======================================================================
STRING        ``str`` of at most 65,536 characters
NUMBER        ``int`` or finite ``float`` (never ``bool``), within the range of a double
BOOL          ``bool``
DATE          ``datetime.date`` (never a ``datetime``)
DATETIME      timezone-aware ``datetime.datetime`` in UTC
ENUM          ``str``: an option value
MULTI_ENUM    non-empty ``frozenset[str]`` of option values
============  ======================================================================

A blank value is ``None``; ``""``, whitespace-only text and empty collections are blank too
and become ``None``.

* :func:`coerce` turns what an adapter read into the canonical value of its property,
  leniently where that is unambiguous (``"17"`` for a number, ``"a;b"`` for a multi-select).
* :func:`flows` says which property types may feed which (the table of reference §3).
* :func:`convert` carries a canonical value across a field mapping into the other app's
  property type, mapping enumeration options value to value.
* :func:`same_value` compares two canonical values of one type.

A value that cannot be coerced or converted raises :class:`ConversionError`, and nothing
else: the caller fails that record with category ``validation`` naming the field (F5, X1).
This module is pure: no I/O, no logging, no clock.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import reprlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from syncengine.filters import is_blank
from syncengine.schema import PropertySpec, PropertyType

__all__ = ["ConversionError", "coerce", "convert", "flows", "same_value"]

_UTC: Final = _dt.UTC
# HubSpot's limit on a string property (reference §3).
_MAX_STRING: Final = 65_536
# Numbers are doubles in HubSpot; an int beyond that range cannot be written anywhere.
_MAX_INT: Final = int(sys.float_info.max)
_INT_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_TEXT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})
# Plain decimal notation for integral floats below this; repr() (shortest round trip,
# possibly with an exponent) for the rest.
_PLAIN_FLOAT_LIMIT: Final = 1e16

_T = PropertyType
_FLOWS: Final = frozenset(
    {(t, t) for t in PropertyType}
    | {(t, PropertyType.STRING) for t in PropertyType}
    | {
        (_T.DATE, _T.DATETIME),
        (_T.DATETIME, _T.DATE),
        (_T.ENUM, _T.MULTI_ENUM),
    }
)


class ConversionError(ValueError):
    """A value cannot be coerced or converted to the property type it must have (rule F5).

    The message says what was wrong with the value and what was expected, without the
    field's name: the caller prefixes it. Values in the message are shortened.

    .. versionadded:: 0.1
    """


_SHORT: Final = reprlib.Repr()
_SHORT.maxstring = 40
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxfrozenset = 4
_SHORT.maxdict = 3
_SHORT.maxlevel = 2


def _show(value: object) -> str:
    """A short, safe description of ``value``: its type and a truncated repr."""
    kind = type(value).__name__
    try:
        text = _SHORT.repr(value)
    except Exception:  # a hostile __repr__, or an int too long to print
        return kind
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"


def _fail(expected: str, value: object) -> ConversionError:
    return ConversionError(f"expected {expected}, got {_show(value)}")


def _check_length(text: str) -> None:
    if len(text) > _MAX_STRING:
        raise ConversionError(
            f"text of {len(text):,} characters is too long; at most {_MAX_STRING:,} allowed"
        )


# --- coerce -------------------------------------------------------------------------------


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise _fail("a number", value)
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise ConversionError("expected a number within the range of a double, got a huge int")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail("a finite number", value)
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            if len(text) > 400:
                raise _fail("a number within the range of a double", value)
            return _number(int(text))
        if _FLOAT_TEXT.fullmatch(text):
            return _number(float(text))
    raise _fail("a number", value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _fail("true or false", value)


def _parse_iso(value: str) -> _dt.datetime | _dt.date | None:
    """An ISO 8601 date or datetime, or ``None`` when ``value`` is neither."""
    text = value.strip()
    if len(text) > 64 or not text.isascii():
        return None
    if _DATE_TEXT.fullmatch(text):
        try:
            return _dt.date.fromisoformat(text)
        except ValueError:
            return None
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _to_utc(value: _dt.datetime) -> _dt.datetime:
    try:
        offset = value.utcoffset()
    except Exception as exc:  # a broken tzinfo
        raise _fail("a datetime with a working time zone", value) from exc
    if offset is None:
        raise _fail("a timezone-aware datetime, not a naive one", value)
    try:
        return value.astimezone(_UTC)
    except (OverflowError, ValueError) as exc:
        raise _fail("a datetime within years 1–9999 in UTC", value) from exc


def _datetime(value: Any) -> _dt.datetime:
    parsed = _parse_iso(value) if isinstance(value, str) else value
    if isinstance(parsed, _dt.datetime):
        return _to_utc(parsed)
    if isinstance(parsed, _dt.date):
        return _dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=_UTC)
    raise _fail("a timezone-aware datetime or an ISO 8601 text with an offset", value)


def _date(value: Any) -> _dt.date:
    parsed = _parse_iso(value) if isinstance(value, str) else value
    if isinstance(parsed, _dt.datetime):
        utc = _to_utc(parsed)
        if utc.time() != _dt.time(0):
            raise _fail("a date, or a datetime at exactly midnight UTC", value)
        return utc.date()
    if isinstance(parsed, _dt.date):
        return _dt.date(parsed.year, parsed.month, parsed.day)
    raise _fail("a date or an ISO 8601 text YYYY-MM-DD", value)


def _check_option(option: str, spec: PropertySpec) -> str:
    if spec.options and option not in spec.options:
        raise ConversionError(
            f"option {_SHORT.repr(option)} is not one of {_options(spec.options)}"
        )
    return option


def _options(options: Iterable[str]) -> str:
    shown = [_SHORT.repr(o) for o in options]
    if len(shown) > 5:
        shown = [*shown[:5], f"… ({len(shown)} in all)"]
    return ", ".join(shown)


def _enum(value: Any, spec: PropertySpec) -> str:
    if not isinstance(value, str):
        raise _fail("an option value (text)", value)
    return _check_option(value.strip(), spec)


def _multi_enum(value: Any, spec: PropertySpec) -> frozenset[str] | None:
    if isinstance(value, str):
        items: Iterable[Any] = value.split(";")
    elif isinstance(value, (frozenset, set, list, tuple)):
        items = value
    else:
        raise _fail("a set of option values, or text of options separated by ';'", value)
    options = set()
    for item in items:
        if not isinstance(item, str):
            raise _fail("option values (text) in the set", item)
        _check_length(item)
        option = item.strip()
        if option:
            options.add(_check_option(option, spec))
    return frozenset(options) or None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("text", value)
    return value


def coerce(value: Any, spec: PropertySpec) -> Any:
    """The canonical value of ``spec.type`` for a ``value`` read from an adapter (rule X1).

    Lenient only where the meaning is unambiguous:

    * STRING: text, unchanged.
    * NUMBER: int, finite float, or numeric text (``" 42 "`` → ``42``, ``"3.5"`` → ``3.5``).
    * BOOL: bool, ``"true"``/``"false"`` (any case), ``"1"``/``"0"`` or the ints 1/0.
    * DATE: date, ``"YYYY-MM-DD"``, or a datetime (or ISO text) at exactly midnight UTC.
    * DATETIME: aware datetime or ISO text with an offset or ``Z`` (→ UTC), or a date
      (→ midnight UTC). Naive datetimes are refused: their instant is unknown.
    * ENUM: text (stripped), one of ``spec.options`` when declared.
    * MULTI_ENUM: a set, list or tuple of text, or ``;``-separated text; items stripped,
      empty ones dropped, each one of ``spec.options`` when declared.

    Args:
        value: What the adapter returned for the property.
        spec: The property it belongs to.

    Returns:
        The canonical value, or ``None`` when ``value`` is blank.

    Raises:
        ConversionError: when ``value`` is of the wrong type or invalid for ``spec``.

    .. versionadded:: 0.1
    """
    if is_blank(value):
        return None
    if isinstance(value, str):
        _check_length(value)
    kind = spec.type
    if kind is PropertyType.STRING:
        return _string(value)
    if kind is PropertyType.NUMBER:
        return _number(value)
    if kind is PropertyType.BOOL:
        return _bool(value)
    if kind is PropertyType.DATE:
        return _date(value)
    if kind is PropertyType.DATETIME:
        return _datetime(value)
    if kind is PropertyType.ENUM:
        return _enum(value, spec)
    return _multi_enum(value, spec)


# --- flows and convert --------------------------------------------------------------------


def flows(source: PropertyType, target: PropertyType) -> bool:
    """Whether values of a ``source`` property may flow into a ``target`` property (rule F4).

    From the compatibility table of reference §3: every type flows into itself; dates and
    datetimes into each other; anything into text (one way: text never flows back into a
    typed property); a single select into a multi-select (as a one-option set).

    .. versionadded:: 0.1
    """
    return (source, target) in _FLOWS


def _number_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < _PLAIN_FLOAT_LIMIT:
        return str(int(value))
    return repr(value)


def _datetime_text(value: _dt.datetime) -> str:
    return value.astimezone(_UTC).replace(tzinfo=None).isoformat() + "Z"


_TO_STRING: Final[Mapping[PropertyType, Callable[[Any], str]]] = {
    PropertyType.STRING: str,
    PropertyType.NUMBER: _number_text,
    PropertyType.BOOL: lambda v: "true" if v else "false",
    PropertyType.DATE: lambda v: v.isoformat(),
    PropertyType.DATETIME: _datetime_text,
}


def _translate(option: str, options: Mapping[str, str] | None, target: PropertySpec) -> str:
    """``option`` through the mapping's option map, checked against ``target``'s options (F4)."""
    if options is not None and option in options:
        mapped = options[option]
        if target.options and mapped not in target.options:
            raise ConversionError(
                f"option {_SHORT.repr(option)} maps to {_SHORT.repr(mapped)}, which is not "
                f"one of the target's options {_options(target.options)}"
            )
        return mapped
    if target.options and option not in target.options:
        raise ConversionError(
            f"option {_SHORT.repr(option)} has no mapping and is not one of the target's "
            f"options {_options(target.options)}"
        )
    return option


def convert(
    value: Any,
    source: PropertySpec,
    target: PropertySpec,
    options: Mapping[str, str] | None = None,
) -> Any:
    """Carry a value of a ``source`` property into a ``target`` property (rule F4, F5).

    Same type: the same value; enumeration options go through ``options`` (a value without
    an entry passes unchanged when the target declares it or declares no options).
    DATETIME → DATE: the UTC date. DATE → DATETIME: midnight UTC. ENUM → MULTI_ENUM: a
    one-option set. Into STRING: numbers as their shortest round-tripping text (``17``,
    ``3.5``), bools as ``true``/``false``, dates ISO, datetimes ISO 8601 UTC with ``Z``,
    options translated, multi-selects sorted and joined by ``;``.

    Args:
        value: The source value; canonical, or anything :func:`coerce` accepts for
            ``source``.
        source: The property the value comes from.
        target: The property it goes into.
        options: The mapping's option map in this direction (source value → target value).

    Returns:
        The canonical value for ``target``, or ``None`` when the value is blank.

    Raises:
        ConversionError: when the types do not flow into each other (:func:`flows`) or the
            value cannot be converted (an option with no mapping that the target lacks,
            a text too long for the target).

    .. versionadded:: 0.1
    """
    if not flows(source.type, target.type):
        raise ConversionError(
            f"a {source.type} value cannot flow into a {target.type} property; expected "
            "the same type, date/datetime, enum into multi_enum, or any type into string"
        )
    canonical = coerce(value, source)
    if canonical is None:
        return None
    result: Any
    if source.type is PropertyType.ENUM:
        translated = _translate(canonical, options, target)
        result = frozenset({translated}) if target.type is PropertyType.MULTI_ENUM else translated
    elif source.type is PropertyType.MULTI_ENUM:
        items = frozenset(_translate(item, options, target) for item in canonical)
        result = ";".join(sorted(items)) if target.type is PropertyType.STRING else items
    elif target.type is PropertyType.STRING:
        result = _TO_STRING[source.type](canonical)
    elif (source.type, target.type) == (PropertyType.DATETIME, PropertyType.DATE):
        result = canonical.date()
    elif (source.type, target.type) == (PropertyType.DATE, PropertyType.DATETIME):
        result = _dt.datetime(canonical.year, canonical.month, canonical.day, tzinfo=_UTC)
    else:
        result = canonical
    # Enforces what the target itself demands (text length, declared options).
    return coerce(result, target)


def same_value(a: Any, b: Any, type: PropertyType) -> bool:
    """Whether two canonical values of one property ``type`` are equal.

    Blank values (``None``) equal each other only; ``1 == 1.0``; a bool never equals a
    number; multi-selects compare as sets; datetimes compare as instants. Never raises.

    .. versionadded:: 0.1
    """
    if is_blank(a) or is_blank(b):
        return is_blank(a) and is_blank(b)
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if type is PropertyType.MULTI_ENUM:
        if isinstance(a, (frozenset, set, list, tuple)) and isinstance(
            b, (frozenset, set, list, tuple)
        ):
            try:
                return frozenset(a) == frozenset(b)
            except TypeError:  # unhashable items
                return False
        return False
    try:
        return bool(a == b)
    except Exception:  # comparing hostile objects
        return False
