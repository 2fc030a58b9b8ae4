"""Property types and object schemas, as adapters describe them (rule F4).

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence

import attrs

from syncengine.errors import ConfigError

__all__ = ["ObjectSchema", "PropertySpec", "PropertyType"]


class PropertyType(enum.StrEnum):
    """The type of a property, and the Python values that carry it.

    ============  =====================================================
    STRING        ``str``
    NUMBER        ``int`` or ``float`` (finite)
    BOOL          ``bool``
    DATE          ``datetime.date``
    DATETIME      timezone-aware ``datetime.datetime``
    ENUM          ``str``: the option's value, never its label
    MULTI_ENUM    ``frozenset[str]`` of option values
    ============  =====================================================

    .. versionadded:: 0.1
    """

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    MULTI_ENUM = "multi_enum"


def _tuple_of_str(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(slots=True)
class PropertySpec:
    """One property of an object type.

    Args:
        name: The property's name in its app.
        type: Its :class:`PropertyType`.
        required: Whether a record cannot be created without a value.
        options: The allowed option values of an ``ENUM``/``MULTI_ENUM``.
        read_only: Whether the app refuses writes to it (mappings into it are one-way).
        unique: Whether the app holds each value at most once (usable as an identifier).

    .. versionadded:: 0.1
    """

    name: str
    type: PropertyType = attrs.field(converter=PropertyType)
    required: bool = False
    options: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    read_only: bool = False
    unique: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise ConfigError("name", "a property needs a non-empty name")
        if self.options and self.type not in (PropertyType.ENUM, PropertyType.MULTI_ENUM):
            raise ConfigError(
                f"{self.name}.options", f"only enum properties have options, not {self.type}"
            )


def _specs(value: Sequence[PropertySpec]) -> tuple[PropertySpec, ...]:
    return tuple(value)


@attrs.frozen(slots=True)
class ObjectSchema:
    """The properties of one object type in one app.

    Args:
        name: The object type's name in its app (``"contacts"``).
        properties: Its properties; names must be unique.

    .. versionadded:: 0.1
    """

    name: str
    properties: tuple[PropertySpec, ...] = attrs.field(converter=_specs)
    _by_name: Mapping[str, PropertySpec] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, PropertySpec] = {}
        for i, spec in enumerate(self.properties):
            if spec.name in by_name:
                raise ConfigError(
                    f"{self.name}.properties[{i}]", f"property {spec.name!r} is declared twice"
                )
            by_name[spec.name] = spec
        object.__setattr__(self, "_by_name", by_name)

    def get(self, name: str) -> PropertySpec | None:
        """The property called ``name``, or ``None``."""
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> PropertySpec:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[PropertySpec]:
        return iter(self.properties)

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required properties."""
        return tuple(p.name for p in self.properties if p.required)
