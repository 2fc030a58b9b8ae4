"""The exception hierarchy of syncengine.

Exceptions are only for what stops a pass or a call. A record that fails inside a pass is
data (an entry in state ``failed`` with an :class:`~syncengine.ErrorCategory`), never an
exception.

The tree::

    SyncEngineError
    ├── ConfigError             (also ValueError)   you built a bad configuration
    ├── AdapterError                                 an app misbehaved or is unreachable
    ├── IndexStoreError                              the index store failed
    ├── SyncDisabledError                            a pass was asked of a disabled sync
    ├── SafetyStop                                   a pass would change too much at once
    └── UnsupportedCapability   (also NotImplementedError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncengine.states import ErrorCategory

__all__ = [
    "AdapterError",
    "ConfigError",
    "IndexStoreError",
    "SafetyStop",
    "SyncDisabledError",
    "SyncEngineError",
    "UnsupportedCapability",
]


class SyncEngineError(Exception):
    """The root of every exception syncengine raises on purpose.

    .. versionadded:: 0.1
    """


class ConfigError(SyncEngineError, ValueError):
    """A configuration is invalid (rule X2).

    Raised when a config object is built, or when an engine checks a config against the
    adapters' schemas. The message starts with the path of the offending field, such as
    ``objects[1].mappings[3].app``, and says what was expected.

    Attributes:
        path: The dotted path of the offending field ("" when it concerns the whole).
        problem: What is wrong, without the path.

    .. versionadded:: 0.1
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)

    def within(self, prefix: str) -> ConfigError:
        """Return the same error with ``prefix`` put in front of its path."""
        path = (
            f"{prefix}.{self.path}"
            if self.path and not self.path.startswith("[")
            else (f"{prefix}{self.path}")
        )
        return ConfigError(path, self.problem)


class AdapterError(SyncEngineError):
    """A whole adapter call failed (the app is down, rate limited, refused access, …).

    Adapters raise it from any method; the engine fails or retries the batch it was
    working on and goes on with the rest of the pass. A failure of a single item of a
    batch is reported with ``WriteResult.failed`` instead.

    Attributes:
        category: What kind of failure; transient categories are retried (rule R7).
        message: A message for humans. It must not contain secrets (rule X4).
        retry_after: Seconds the app asked us to wait, if it said.

    .. versionadded:: 0.1
    """

    def __init__(
        self, category: ErrorCategory, message: str, retry_after: float | None = None
    ) -> None:
        self.category = category
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"{category.value}: {message}")


class IndexStoreError(SyncEngineError):
    """The index store could not read or write (a corrupt file, a lost database, …).

    .. versionadded:: 0.1
    """


class SyncDisabledError(SyncEngineError):
    """A pass that must write was asked of a sync that is turned off (rule S7).

    .. versionadded:: 0.1
    """


class SafetyStop(SyncEngineError):
    """A pass stopped before writing because it would change too much at once.

    Attributes:
        object_type: The object type whose pass stopped.
        side: The side that would have been written to.
        planned: How many records the pass would have changed.
        total: How many records that side holds according to the index.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        message: str,
        *,
        object_type: str = "",
        side: str = "",
        planned: int = 0,
        total: int = 0,
    ) -> None:
        self.object_type = object_type
        self.side = side
        self.planned = planned
        self.total = total
        super().__init__(message)


class UnsupportedCapability(SyncEngineError, NotImplementedError):
    """An optional adapter or store capability was used where it is not supported.

    .. versionadded:: 0.1
    """
