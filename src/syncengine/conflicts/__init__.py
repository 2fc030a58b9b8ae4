"""Conflict resolution: the three-way per-field merge and its policies (rule D2–D6)."""

from syncengine.conflicts._merge import Conflict as Conflict
from syncengine.conflicts._merge import Resolution as Resolution
from syncengine.conflicts._merge import Why as Why
from syncengine.conflicts._merge import resolve_field as resolve_field

__all__ = ["Conflict", "Resolution", "Why", "resolve_field"]
