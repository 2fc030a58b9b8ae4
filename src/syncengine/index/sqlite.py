"""SQLiteIndexStore (work in progress)."""

__all__ = ["SQLiteIndexStore"]


class SQLiteIndexStore:
    """Placeholder until it lands."""
