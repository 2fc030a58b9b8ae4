"""The three-way per-field merge as a decision table (SPEC D2–D6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncengine import Side
from syncengine.conflicts import Conflict, Why, resolve_field

H, A = Side.HUB, Side.APP

# (rule, hub_blank, app_blank, hub_changed, app_changed, initial, to_app, to_hub, winner,
#  propagate_clears, expected source, expected why, expected clear)
TABLE = [
    # Initial merge (no index copy): blanks are filled, different values → winner.
    ("D2", True, False, True, True, True, True, True, H, False, A, Why.FILL_BLANK, False),
    ("D2", False, True, True, True, True, True, True, H, False, H, Why.FILL_BLANK, False),
    ("D3", False, False, True, True, True, True, True, H, False, H, Why.WINNER, False),
    ("D3", False, False, True, True, True, True, True, A, False, A, Why.WINNER, False),
    ("D4", True, False, True, True, True, True, True, H, False, A, Why.FILL_BLANK, False),
    ("D4", True, False, True, True, True, True, True, H, True, A, Why.FILL_BLANK, False),
    # After the initial sync: a change on one side flows whoever the winner is.
    ("D6", False, False, True, False, False, True, True, A, False, H, Why.CHANGED, False),
    ("D6", False, False, False, True, False, True, True, H, False, A, Why.CHANGED, False),
    # Both changed: the winner.
    ("D6", False, False, True, True, False, True, True, H, False, H, Why.WINNER, False),
    ("D6", False, False, True, True, False, True, True, A, False, A, Why.WINNER, False),
    # Cleared on one side: refilled from the other, unless clears propagate.
    ("D4", True, False, True, False, False, True, True, H, False, A, Why.REFILL, False),
    ("D4", False, True, False, True, False, True, True, A, False, H, Why.REFILL, False),
    ("D4", True, False, True, False, False, True, True, H, True, H, Why.CLEARED, True),
    ("D4", False, True, False, True, False, True, True, H, True, A, Why.CLEARED, True),
    # Both changed, one to blank: the value wins unless the winner cleared with propagation.
    ("D4", True, False, True, True, False, True, True, A, False, A, Why.FILL_BLANK, False),
    ("D4", True, False, True, True, False, True, True, H, True, H, Why.CLEARED, True),
    ("D4", True, False, True, True, False, True, True, A, True, A, Why.FILL_BLANK, False),
    # Drift (neither changed, values differ): like a conflict.
    ("D3", False, False, False, False, False, True, True, A, False, A, Why.WINNER, False),
    # One-way: the source wins whatever the winner; the destination is never read.
    ("D5", False, False, False, True, False, True, False, A, False, H, Why.DIRECTION, False),
    ("D5", False, False, True, False, False, False, True, H, False, A, Why.DIRECTION, False),
    ("D5", True, False, False, True, False, True, False, A, False, None, Why.KEPT, False),
    ("D5", True, False, True, False, False, True, False, H, True, H, Why.CLEARED, True),
    ("D5", True, False, True, True, True, True, False, H, True, None, Why.KEPT, False),
    # Nothing may flow.
    ("F3", False, False, True, True, False, False, False, H, False, None, Why.KEPT, False),
]


@pytest.mark.parametrize(
    (
        "rule",
        "hub_blank",
        "app_blank",
        "hub_changed",
        "app_changed",
        "initial",
        "to_app",
        "to_hub",
        "winner",
        "propagate",
        "source",
        "why",
        "clear",
    ),
    TABLE,
)
def test_decision_table_row(
    rule,
    hub_blank,
    app_blank,
    hub_changed,
    app_changed,
    initial,
    to_app,
    to_hub,
    winner,
    propagate,
    source,
    why,
    clear,
):
    """Each row of the merge table resolves as the SPEC rule it cites says."""
    resolution = resolve_field(
        in_sync=False,
        hub_blank=hub_blank,
        app_blank=app_blank,
        hub_changed=hub_changed,
        app_changed=app_changed,
        initial=initial,
        to_app=to_app,
        to_hub=to_hub,
        winner=winner,
        propagate_clears=propagate,
    )
    assert (source, why, clear) == (resolution.source, resolution.why, resolution.clear), rule


def test_in_sync_values_never_flow():
    """Values that already agree produce no write, whatever else holds."""
    resolution = resolve_field(
        in_sync=True,
        hub_blank=False,
        app_blank=False,
        hub_changed=True,
        app_changed=True,
        initial=False,
        to_app=True,
        to_hub=True,
        winner=H,
    )
    assert resolution.source is None
    assert resolution.why is Why.IN_SYNC


@pytest.mark.parametrize(
    ("hub_at", "app_at", "expected"),
    [
        (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), H),
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), A),
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), A),
        (None, datetime(2024, 1, 1, tzinfo=UTC), A),
    ],
)
def test_newest_policy_picks_the_later_change_and_falls_back_to_the_winner(
    hub_at, app_at, expected
):
    """D6 'newest': the later modification time wins; unknown or equal → default app."""
    resolution = resolve_field(
        in_sync=False,
        hub_blank=False,
        app_blank=False,
        hub_changed=True,
        app_changed=True,
        initial=False,
        to_app=True,
        to_hub=True,
        winner=A,
        policy="newest",
        hub_updated_at=hub_at,
        app_updated_at=app_at,
    )
    assert expected is resolution.source


def test_callable_policy_receives_the_conflict_and_decides():
    """D6: a user function sees both values and picks the side."""
    seen: list[Conflict] = []

    def longest(conflict: Conflict) -> Side:
        seen.append(conflict)
        return H if len(conflict.hub_value) >= len(conflict.app_value) else A

    resolution = resolve_field(
        in_sync=False,
        hub_blank=False,
        app_blank=False,
        hub_changed=True,
        app_changed=True,
        initial=False,
        to_app=True,
        to_hub=True,
        winner=H,
        policy=longest,
        conflict=lambda: Conflict("name", "Al", "Alfred", None, None, H),
    )
    assert (A, Why.POLICY) == (resolution.source, resolution.why)
    assert ["name"] == [c.field for c in seen]


def test_one_way_ignores_the_policy():
    """D5: the conflict setting never overrides the direction."""
    resolution = resolve_field(
        in_sync=False,
        hub_blank=False,
        app_blank=False,
        hub_changed=True,
        app_changed=True,
        initial=False,
        to_app=False,
        to_hub=True,
        winner=H,
        policy=lambda c: H,
    )
    assert A is resolution.source
