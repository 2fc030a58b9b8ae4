"""SQLiteAdapter (work in progress)."""

__all__ = ["SQLiteAdapter"]


class SQLiteAdapter:
    """Placeholder until it lands."""
