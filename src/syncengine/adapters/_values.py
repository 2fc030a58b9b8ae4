"""Property values of the local apps: what is blank, how values are stored, what is valid.

:class:`~syncengine.adapters.InMemoryAdapter` (the reference adapter) and
:class:`~syncengine.adapters.SQLiteAdapter` validate writes alike, the way a strict app
would (rule X1: wrong types, unknown properties and the like fail the record with a
category, never the pass). This module holds those rules once: the blank test, the
normalization of multi-selects, the type check of one value against its
:class:`~syncengine.schema.PropertySpec`, and the checks of one create or update item.
The error texts are part of the adapters' behaviour (tests pin them): change them here
and only on purpose.

What differs between the adapters stays with them: how a ``unique`` value is looked up
(a dict versus an SQL query) and what only SQLite cannot store (integers beyond 64 bits).

This module is private; nothing outside ``syncengine.adapters`` may import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from syncengine._text import lone_surrogate
from syncengine.records import WriteResult
from syncengine.schema import ObjectSchema, PropertySpec, PropertyType
from syncengine.states import ErrorCategory

__all__ = [
    "MULTI_TYPES",
    "check_values",
    "is_blank",
    "merged",
    "normalize",
    "type_problem",
    "unknown_property",
]

#: The Python collections a multi-select value may come in.
MULTI_TYPES: Final = (frozenset, set, list, tuple)


def is_blank(spec: PropertySpec | None, value: Any) -> bool:
    """Whether ``value`` is blank: ``None``, ``""``, or an empty multi-select.

    A blank is "no value" (rule D2, D4): it is never stored, and a required property may
    not be set to one.
    """
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return (
        spec is not None
        and spec.type is PropertyType.MULTI_ENUM
        and isinstance(value, MULTI_TYPES)
        and len(value) == 0
    )


def normalize(spec: PropertySpec | None, value: Any) -> Any:
    """Multi-select values are stored as frozensets, whatever collection they came in.

    A collection that cannot be one (it holds lists or dicts) is kept as it came: only
    ``put()`` stores such values, to play an app that returns malformed data.
    """
    if spec is not None and spec.type is PropertyType.MULTI_ENUM and isinstance(value, MULTI_TYPES):
        try:
            return frozenset(value)
        except TypeError:
            return value
    return value


def merged(
    current: Mapping[str, Any], schema: ObjectSchema, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """``current`` with ``changes`` applied: ``None`` removes a property, others are normalized.

    A property set to ``None`` is absent from the result (``None`` is never stored).
    """
    result = dict(current)
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = normalize(schema.get(name), value)
    return result


def _options_text(options: Sequence[str]) -> str:
    return ", ".join(repr(o) for o in options)


def type_problem(spec: PropertySpec, value: Any) -> str | None:
    """Why ``value`` is not a non-blank value of ``spec``'s type, or None if it is.

    Text (a ``str``, or an option of a multi-select) must be valid Unicode: one that
    holds a lone surrogate is refused whatever the type (:func:`lone_surrogate`).
    The Python types of rule F4's property types: ``str``; a finite ``int`` or ``float``
    (not ``bool``); ``bool``; a ``date`` (not a ``datetime``); a timezone-aware
    ``datetime``; one of the options; a collection of options (any option when a
    property declares none).
    """
    kind = spec.type
    multi = kind is PropertyType.MULTI_ENUM and isinstance(value, MULTI_TYPES)
    for text in (value,) if isinstance(value, str) else value if multi else ():
        if isinstance(text, str) and (problem := lone_surrogate(text)) is not None:
            return f"property {spec.name!r} {problem}: {text!r}"
    if kind is PropertyType.STRING:
        if isinstance(value, str):
            return None
        expected = "a str"
    elif kind is PropertyType.NUMBER:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return None
            expected = "a finite number"
        else:
            expected = "an int or float (not bool)"
    elif kind is PropertyType.BOOL:
        if isinstance(value, bool):
            return None
        expected = "a bool"
    elif kind is PropertyType.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return None
        expected = "a datetime.date (not a datetime)"
    elif kind is PropertyType.DATETIME:
        if isinstance(value, datetime) and value.utcoffset() is not None:
            return None
        expected = "a timezone-aware datetime.datetime"
    elif kind is PropertyType.ENUM:
        if isinstance(value, str) and (not spec.options or value in spec.options):
            return None
        expected = f"one of {_options_text(spec.options)}" if spec.options else "a str option"
    else:  # PropertyType.MULTI_ENUM
        if isinstance(value, MULTI_TYPES) and all(
            isinstance(v, str) and (not spec.options or v in spec.options) for v in value
        ):
            return None
        expected = (
            f"a set of options among {_options_text(spec.options)}"
            if spec.options
            else "a set of str options"
        )
    return (
        f"property {spec.name!r} expects {expected} ({spec.type.value}), "
        f"got {value!r} ({type(value).__name__})"
    )


def unknown_property(schema: ObjectSchema, name: str) -> str:
    """The message for a property ``name`` that ``schema`` does not declare (rule X1)."""
    known = ", ".join(repr(p.name) for p in schema.properties)
    return f"unknown property {name!r} of {schema.name!r} (known: {known})"


def check_values(
    schema: ObjectSchema,
    values: Mapping[str, Any],
    *,
    creating: bool,
    holder: Callable[[PropertySpec, Any], str | None],
    extra_problem: Callable[[PropertySpec, Any], str | None] | None = None,
) -> WriteResult | None:
    """The failure of one create (``creating=True``) or update item, or None if it is valid.

    The checks, in order; the first failure is returned (rule X1, R7):

    1. Per property, in the item's order: an unknown or read-only property fails with
       ``VALIDATION``; a blank value of a required property with
       ``REQUIRED_FIELD_MISSING``; a non-blank value that :func:`type_problem` (then
       ``extra_problem``, the adapter's own limits) finds fault with, with ``VALIDATION``.
    2. On create: a required property that is not given fails with
       ``REQUIRED_FIELD_MISSING``.
    3. A non-blank value of a ``unique`` property that another live record holds fails
       with ``DUPLICATE``.

    Args:
        schema: The object type's schema.
        values: The item's properties, as the engine sent them.
        creating: A create (required properties must be present) rather than an update.
        holder: The id of another live record holding ``value`` (normalized) for the
            unique property ``spec``, or None; the adapter looks it up.
        extra_problem: What else is wrong with a well-typed non-blank value, or None.
    """
    for name, value in values.items():
        spec = schema.get(name)
        if spec is None:
            return WriteResult.failed(ErrorCategory.VALIDATION, unknown_property(schema, name))
        if spec.read_only:
            return WriteResult.failed(ErrorCategory.VALIDATION, f"property {name!r} is read-only")
        if is_blank(spec, value):
            if spec.required:
                return WriteResult.failed(
                    ErrorCategory.REQUIRED_FIELD_MISSING,
                    f"required property {name!r} may not be blank",
                )
            continue
        problem = type_problem(spec, value)
        if problem is None and extra_problem is not None:
            problem = extra_problem(spec, value)
        if problem is not None:
            return WriteResult.failed(ErrorCategory.VALIDATION, problem)
    if creating:
        for name in schema.required:
            if name not in values:
                return WriteResult.failed(
                    ErrorCategory.REQUIRED_FIELD_MISSING,
                    f"required property {name!r} is missing",
                )
    for name, value in values.items():
        spec = schema[name]
        if not spec.unique or is_blank(spec, value):
            continue
        other = holder(spec, normalize(spec, value))
        if other is not None:
            return WriteResult.failed(
                ErrorCategory.DUPLICATE,
                f"property {name!r}: value {value!r} is already held by record {other!r}",
            )
    return None
