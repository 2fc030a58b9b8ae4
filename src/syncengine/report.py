"""SyncReport (work in progress in this commit)."""

from __future__ import annotations

__all__ = ["SyncReport"]


class SyncReport:
    """Placeholder until the engine lands."""
