"""The three-way, per-field merge (rule D2–D6).

Theory of operation
-------------------
For one mapped field of a record pair, the engine knows four values: the current hub
value, the current app value, and the copies of both stored in the index at the last sync
(in each side's own representation, so "changed on this side" is an exact comparison,
never a guess through a conversion). :func:`resolve_field` decides which side's value the
field ends up with. It is a pure function of those values, of which ways values may flow,
and of the conflict policy; it returns a :class:`Resolution`, never performs anything.

The rules, as a table over (changed on hub, changed on app):

==============  ==============  ===========================================================
hub changed     app changed     outcome
==============  ==============  ===========================================================
yes             no              hub value flows to the app (D6) — unless it is a blank:
                                a blank never overwrites (D4), the app refills the hub
                                (D2), except with ``propagate_clears``
no              yes             the mirror image
yes             yes             a conflict: a blank loses to a value (D2/D4); two
                                values → the policy's winner (D3, D6)
no              no              drift (an earlier write failed, or the config changed):
                                resolved like a conflict
(no copy yet)                   the initial merge: resolved like a conflict (D2, D3)
==============  ==============  ===========================================================

Direction always beats the policy (D5): when values may flow one way only, the source
wins whatever the policy says, and the destination is never read for values.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import attrs

from syncengine.records import Side

__all__ = ["Conflict", "Resolution", "Why", "resolve_field"]


class Why(enum.StrEnum):
    """Why a field ended up with the value it has (shown by ``explain``, rule R8)."""

    IN_SYNC = "in_sync"
    CHANGED = "changed"  # changed on one side only (D6)
    FILL_BLANK = "fill_blank"  # the other side was blank (D2)
    REFILL = "refill"  # cleared on one side, refilled from the other (D4)
    CLEARED = "cleared"  # a clear propagated (D4 opt-in)
    WINNER = "winner"  # conflict decided by the default app (D3)
    NEWEST = "newest"  # conflict decided by modification time (D6)
    POLICY = "policy"  # conflict decided by a user function (D6)
    DIRECTION = "direction"  # one-way: the source wins (D5)
    KEPT = "kept"  # nothing may flow, or a blank source: the value stays


@attrs.frozen(slots=True)
class Conflict:
    """What a callable conflict policy is given (rule D6).

    Attributes:
        field: The hub property's name of the mapping.
        hub_value: The current hub value.
        app_value: The current app value, converted to the hub's representation when
            possible (else as the app holds it).
        hub_updated_at: The hub record's modification time, if known.
        app_updated_at: The app record's modification time, if known.
        winner: The object sync's default app.

    The policy returns the :class:`~syncengine.Side` whose value wins.
    """

    field: str
    hub_value: Any
    app_value: Any
    hub_updated_at: datetime | None
    app_updated_at: datetime | None
    winner: Side


Policy = str | Callable[[Conflict], Side] | None


@attrs.frozen(slots=True)
class Resolution:
    """The outcome for one field.

    Attributes:
        source: The side whose value the field takes, or ``None`` when nothing flows.
        clear: Whether the outcome is a propagated clear (the source value is blank).
        why: Why.
    """

    source: Side | None
    why: Why
    clear: bool = False


# Enum members as module constants for the per-field merge: on Python 3.11 each
# ``Why.CHANGED`` is a call through ``EnumType.__getattr__``'s lookup hook.
_HUB: Final = Side.HUB
_APP: Final = Side.APP
_WHY_CHANGED: Final = Why.CHANGED
_WHY_FILL_BLANK: Final = Why.FILL_BLANK
_WHY_REFILL: Final = Why.REFILL
_WHY_CLEARED: Final = Why.CLEARED
_WHY_WINNER: Final = Why.WINNER
_WHY_NEWEST: Final = Why.NEWEST
_WHY_POLICY: Final = Why.POLICY
_WHY_DIRECTION: Final = Why.DIRECTION
_NOTHING = Resolution(None, Why.KEPT)
_IN_SYNC = Resolution(None, Why.IN_SYNC)

#: The resolutions made so far: a few dozen values at most (source x why x clear), made
#: once each instead of once per field of every record.
_MADE: Final[dict[tuple[Side | None, Why, bool], Resolution]] = {}


def _resolution(source: Side | None, why: Why, clear: bool = False) -> Resolution:
    made = _MADE.get((source, why, clear))
    if made is None:
        made = _MADE[(source, why, clear)] = Resolution(source, why, clear)
    return made


def _pick(
    policy: Policy,
    conflict: Callable[[], Conflict],
    winner: Side,
    hub_updated_at: datetime | None,
    app_updated_at: datetime | None,
) -> tuple[Side, Why]:
    if policy is None or policy == "winner":
        return winner, _WHY_WINNER
    if policy == "newest":
        if hub_updated_at is not None and app_updated_at is not None:
            if hub_updated_at > app_updated_at:
                return _HUB, _WHY_NEWEST
            if app_updated_at > hub_updated_at:
                return _APP, _WHY_NEWEST
        return winner, _WHY_WINNER  # unknown or equal times: fall back to the default app
    if callable(policy):
        chosen = policy(conflict())
        return Side(chosen), _WHY_POLICY
    raise ValueError(f"unknown policy {policy!r}")  # pragma: no cover - config validates


def resolve_field(
    *,
    in_sync: bool,
    hub_blank: bool,
    app_blank: bool,
    hub_changed: bool,
    app_changed: bool,
    initial: bool,
    to_app: bool,
    to_hub: bool,
    winner: Side,
    policy: Policy = None,
    propagate_clears: bool = False,
    conflict: Callable[[], Conflict] | None = None,
    hub_updated_at: datetime | None = None,
    app_updated_at: datetime | None = None,
) -> Resolution:
    """Decide one field of a record pair (see the module docstring for the table).

    Args:
        in_sync: Whether the two current values already agree (after conversion).
        hub_blank: Whether the current hub value is blank.
        app_blank: Whether the current app value is blank.
        hub_changed: Whether the hub value differs from the index copy.
        app_changed: Whether the app value differs from the index copy.
        initial: Whether there is no index copy yet (the initial merge).
        to_app: Whether values may flow hub → app (direction, types, filters).
        to_hub: Whether values may flow app → hub.
        winner: The object sync's default app (D3).
        policy: The field's conflict policy: ``"winner"``/``None``, ``"newest"`` or a
            callable (D6).
        propagate_clears: Whether a cleared value clears the other side (D4).
        conflict: Builds the :class:`Conflict` handed to a callable policy.
        hub_updated_at: The hub record's modification time (``"newest"``).
        app_updated_at: The app record's modification time (``"newest"``).

    Returns:
        The :class:`Resolution`: which side's value wins, and why.
    """
    if in_sync:
        return _IN_SYNC
    if not to_app and not to_hub:
        return _NOTHING
    if to_app != to_hub:
        # One-way (D5): the source wins; the destination is never read for values.
        source = _HUB if to_app else _APP
        source_blank = hub_blank if source is _HUB else app_blank
        source_changed = hub_changed if source is _HUB else app_changed
        if not source_blank:
            return _resolution(source, _WHY_DIRECTION)
        if propagate_clears and source_changed and not initial:
            return _resolution(source, _WHY_CLEARED, clear=True)
        return _NOTHING  # a blank never overwrites (D4)
    # Two-way.
    if hub_blank and app_blank:  # pragma: no cover - two blanks are in sync
        return _IN_SYNC
    one_sided = not initial and hub_changed != app_changed
    if one_sided:
        changed = _HUB if hub_changed else _APP
        changed_blank = hub_blank if changed is _HUB else app_blank
        if not changed_blank:
            return _resolution(changed, _WHY_CHANGED)
        if propagate_clears:
            return _resolution(changed, _WHY_CLEARED, clear=True)
        return _resolution(changed.other, _WHY_REFILL)  # D4: the cleared field is refilled
    # Initial merge, conflict (both changed) or drift (neither changed).
    if hub_blank or app_blank:
        blank_side = _HUB if hub_blank else _APP
        if propagate_clears and not initial and hub_changed and app_changed:
            chosen, why = _pick(
                policy, conflict or _no_conflict, winner, hub_updated_at, app_updated_at
            )
            if chosen is blank_side:
                return _resolution(blank_side, _WHY_CLEARED, clear=True)
        return _resolution(blank_side.other, _WHY_FILL_BLANK)  # D2: blanks are filled
    chosen, why = _pick(policy, conflict or _no_conflict, winner, hub_updated_at, app_updated_at)
    return _resolution(chosen, why)


def _no_conflict() -> Conflict:  # pragma: no cover - callers pass one with callables
    raise ValueError("a callable policy needs the conflict")
