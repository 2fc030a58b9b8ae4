"""SyncEngine: the driver (work in progress in this commit)."""

from __future__ import annotations

__all__ = ["SyncEngine"]


class SyncEngine:
    """Placeholder until the engine lands."""
