"""MemoryIndexStore (work in progress)."""

__all__ = ["MemoryIndexStore"]


class MemoryIndexStore:
    """Placeholder until it lands."""
