"""The filter language (rule L1–L3).

A :class:`Filter` is a list of groups of :class:`Condition`\\ s: every condition of a group
must hold (AND), and at least one group must hold (OR). Conditions name a property of the
record being filtered, in its own app's names.

Evaluation is pure and total: a condition over a value of the wrong type is simply false,
never an exception, so a bad record can never stop a pass (rule X1).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from syncengine.errors import ConfigError

__all__ = ["OPERATORS", "Condition", "Filter", "is_blank"]

OPERATORS: Final = frozenset(
    {
        "eq",
        "neq",
        "in",
        "not_in",
        "contains",
        "starts_with",
        "is_known",
        "is_unknown",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
    }
)
_NO_VALUE: Final = frozenset({"is_known", "is_unknown"})
_MANY_VALUES: Final = frozenset({"in", "not_in"})


def is_blank(value: object) -> bool:
    """Whether a property value counts as blank: ``None``, ``""`` or an empty collection."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (frozenset, set, list, tuple)):
        return len(value) == 0
    return False


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _items(value: Any) -> Iterable[Any]:
    if isinstance(value, (frozenset, set, list, tuple)):
        return value
    return (value,)


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Return a comparable pair, or None when the two cannot be ordered."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a, b
    if isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        return a, b
    if isinstance(a, _dt.date) and isinstance(b, _dt.date):
        if isinstance(a, _dt.datetime) or isinstance(b, _dt.datetime):
            return None
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold(), b.casefold()
    return None


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        pair = _ordered(actual, expected)
        if pair is None:
            return False
        try:
            return op(*pair)
        except TypeError:
            return False

    return check


def _between(actual: Any, expected: Any) -> bool:
    low, high = expected
    lo = _ordered(actual, low)
    hi = _ordered(actual, high)
    return lo is not None and hi is not None and lo[1] <= lo[0] and hi[0] <= hi[1]


def _eq(actual: Any, expected: Any) -> bool:
    want = _fold(expected)
    for item in _items(actual):
        if isinstance(item, bool) or isinstance(expected, bool):
            # True == 1 in Python; a checkbox is never equal to a number here.
            if item is expected:
                return True
        elif _fold(item) == want:
            return True
    return False


def _in(actual: Any, expected: Any) -> bool:
    return any(_eq(actual, option) for option in expected)


def _contains(actual: Any, expected: Any) -> bool:
    want = str(expected).casefold()
    return any(isinstance(item, str) and want in item.casefold() for item in _items(actual))


def _starts_with(actual: Any, expected: Any) -> bool:
    want = str(expected).casefold()
    return any(
        isinstance(item, str) and item.casefold().startswith(want) for item in _items(actual)
    )


# Operators over a known (non-blank) value. Blank values are decided in Condition.matches.
_CHECKS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "eq": _eq,
    "neq": lambda a, e: not _eq(a, e),
    "in": _in,
    "not_in": lambda a, e: not _in(a, e),
    "contains": _contains,
    "starts_with": _starts_with,
    "gt": _compare(lambda a, b: a > b),
    "gte": _compare(lambda a, b: a >= b),
    "lt": _compare(lambda a, b: a < b),
    "lte": _compare(lambda a, b: a <= b),
    "between": _between,
    "is_known": lambda a, e: True,
    "is_unknown": lambda a, e: False,
}
# What an operator says about a blank value: negative operators hold, the rest do not.
_ON_BLANK: Final[Mapping[str, bool]] = {
    op: op in {"neq", "not_in", "is_unknown"} for op in OPERATORS
}


def _normalize_value(op: str, value: Any) -> Any:
    if op in _MANY_VALUES:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ConfigError("value", f"operator {op!r} needs a list of values, got {value!r}")
        return tuple(value)
    if op == "between":
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ConfigError("value", f"operator 'between' needs (low, high), got {value!r}")
        pair = tuple(value)
        if len(pair) != 2:
            raise ConfigError("value", f"operator 'between' needs (low, high), got {value!r}")
        return pair
    if op in _NO_VALUE:
        if value is not None:
            raise ConfigError("value", f"operator {op!r} takes no value, got {value!r}")
        return None
    if value is None:
        raise ConfigError("value", f"operator {op!r} needs a value")
    return value


@attrs.frozen(slots=True)
class Condition:
    """One test on one property (rule L3).

    Args:
        property: The property's name in the filtered record's own app.
        op: One of ``eq, neq, in, not_in, contains, starts_with, is_known, is_unknown,
            gt, gte, lt, lte, between``.
        value: What to compare with: a list for ``in``/``not_in``, ``(low, high)`` for
            ``between`` (inclusive), nothing for ``is_known``/``is_unknown``.

    String comparisons ignore case. A blank value satisfies only ``neq``, ``not_in`` and
    ``is_unknown``. A multi-select value satisfies ``eq`` when it holds the option.

    Raises:
        ConfigError: for an unknown operator or a value of the wrong shape.

    .. versionadded:: 0.1
    """

    property: str
    op: str
    value: Any = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.property, str) or not self.property:
            raise ConfigError("property", "a condition needs a property name")
        if not isinstance(self.op, str) or self.op not in OPERATORS:
            raise ConfigError(
                "op", f"unknown operator {self.op!r}; expected one of {sorted(OPERATORS)}"
            )
        object.__setattr__(self, "value", _normalize_value(self.op, self.value))

    def matches(self, properties: Mapping[str, Any]) -> bool:
        """Whether a record with these properties satisfies the condition."""
        actual = properties.get(self.property)
        if is_blank(actual):
            return _ON_BLANK[self.op]
        return _CHECKS[self.op](actual, self.value)


def _groups(value: Sequence[Sequence[Condition]]) -> tuple[tuple[Condition, ...], ...]:
    if isinstance(value, Condition | str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigError("groups", "expected a list of groups (lists of conditions)")
    groups = []
    for i, group in enumerate(value):
        if isinstance(group, Condition):
            raise ConfigError(
                f"groups[{i}]", "expected a group (a list of conditions), got one condition"
            )
        if isinstance(group, str | bytes | Mapping) or not isinstance(group, Iterable):
            raise ConfigError(f"groups[{i}]", f"expected a list of conditions, got {group!r:.80}")
        conditions = tuple(group)
        if not conditions:
            raise ConfigError(f"groups[{i}]", "a group needs at least one condition")
        for j, condition in enumerate(conditions):
            if not isinstance(condition, Condition):
                raise ConfigError(f"groups[{i}][{j}]", f"expected a Condition, got {condition!r}")
        groups.append(conditions)
    if not groups:
        raise ConfigError("groups", "a filter needs at least one group")
    return tuple(groups)


@attrs.frozen(slots=True)
class Filter:
    """Conditions in groups: AND inside a group, OR across groups (rule L3).

    .. versionadded:: 0.1
    """

    groups: tuple[tuple[Condition, ...], ...] = attrs.field(converter=_groups)

    @classmethod
    def where(cls, *conditions: Condition) -> Filter:
        """A filter of one group: every condition must hold."""
        return cls([conditions])

    def matches(self, properties: Mapping[str, Any]) -> bool:
        """Whether a record with these properties passes the filter."""
        return any(all(c.matches(properties) for c in group) for group in self.groups)

    @property
    def properties(self) -> frozenset[str]:
        """The property names the filter reads."""
        return frozenset(c.property for group in self.groups for c in group)
