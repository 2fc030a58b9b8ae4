"""InMemoryAdapter (work in progress)."""

__all__ = ["InMemoryAdapter"]


class InMemoryAdapter:
    """Placeholder until it lands."""
