"""Entry states, error categories and exclude reasons (rule R1–R3, R7).

These are plain string enums, so they serialise as their values in the index, in exports
and in JSON, and compare equal to those strings.
"""

from __future__ import annotations

import enum

__all__ = ["ErrorCategory", "ExcludeReason", "RecordState"]


class RecordState(enum.StrEnum):
    """The state of one index entry (rule R1).

    .. versionadded:: 0.1
    """

    INITIAL = "initial"
    """Being processed by the initial sync, or waiting for it (S3)."""
    SYNCED = "synced"
    """Both sides hold the mapped values the engine last wrote or read."""
    FAILED = "failed"
    """The last attempt failed; the entry carries a category and a message (R2)."""
    EXCLUDED = "excluded"
    """The record does not take part in the sync; the entry carries a reason (R3)."""
    QUEUED = "queued"
    """Another pass held the entry; it is processed when that pass lets go (S9)."""


_HINTS: dict[str, str] = {
    "validation": "Fix the value named in the message (or the field mapping), then resync.",
    "required_field_missing": "Give the record a value for the required field, then resync.",
    "permission": "Grant the connected account access to this object or field, then resync.",
    "not_found": "The record no longer exists on that side; restore or re-create it.",
    "deleted": "The record was deleted on one side; restore it from the surviving copy.",
    "duplicate": "Another record already holds this unique value; merge the two or change one.",
    "rate_limited": "The app asked us to slow down; the record is retried on the next pass.",
    "unavailable": "The app was unreachable; the record is retried on the next pass.",
    "association": "The app refused a link to an associated record (see the message); "
    "fix it in the app, then resync.",
    "conflict": "The app rejected the write as conflicting; check the record in both apps.",
    "unknown": "An unexpected error; the record is retried on the next pass.",
    "index": "The index's row of this record cannot be read (see the message): restore the "
    "index from a backup, or rebuild it; the record is retried on every pass.",
}

_TRANSIENT = frozenset({"rate_limited", "unavailable", "unknown", "index"})


class ErrorCategory(enum.StrEnum):
    """Why a record failed (rule R2), with a one-line resolution hint.

    Transient categories (:attr:`is_transient`) are retried on every pass, even when
    nothing changed; the others wait for a change to the record or an explicit resync
    instead of being retried in a loop (rule R7).

    .. versionadded:: 0.1
    """

    VALIDATION = "validation"
    REQUIRED_FIELD_MISSING = "required_field_missing"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    DELETED = "deleted"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    ASSOCIATION = "association"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"
    INDEX = "index"
    """The record's entry in the index cannot be read (a damaged row): the record fails
    alone, on every pass, until the row is repaired (see :class:`~syncengine.entry.CorruptEntry`).

    .. versionadded:: 0.3
    """

    @property
    def hint(self) -> str:
        """A one-line resolution hint for users (the tooltip of rule R2)."""
        return _HINTS[self.value]

    @property
    def is_transient(self) -> bool:
        """Whether a failure of this category is retried without a change (rule R7)."""
        return self.value in _TRANSIENT


class ExcludeReason(enum.StrEnum):
    """Why a record is excluded from the sync (rule R3).

    .. versionadded:: 0.1
    """

    FILTERED = "filtered"
    """The record fails the filter of its direction (L1, L2)."""
    DUPLICATE = "duplicate"
    """An earlier record of the same app holds the same identifier (M3)."""
    NO_IDENTIFIER = "no_identifier"
    """Matching requires an identifier and the record has none (M4, M5)."""
    UNMAPPED_STAGE = "unmapped_stage"
    """A deal whose pipeline stage is not mapped (A3)."""
    DIRECTION = "direction"
    """The record exists only on a side that the sync's direction never reads from (D1)."""
    MERGED = "merged"
    """The other app merged this record's counterpart into a record that syncs with
    another record of this app; this record is kept (X3) and no longer syncs.

    .. versionadded:: 0.2
    """
