"""The overview's chart: each pass's creates, updates and failures, as bars we draw.

Pure geometry: :func:`pass_chart` turns pass records into numbers and short labels; the
template draws them as inline SVG (no script, no file fetched from anywhere). Labels are
escaped by the template like every other text.

.. versionadded:: 0.2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import attrs

__all__ = ["Bar", "Chart", "PassLike", "pass_chart"]

#: The series, in the order they are stacked, with their colours.
SERIES: Final = (("created", "#2e7d32"), ("updated", "#1565c0"), ("failed", "#c62828"))

WIDTH: Final = 720
HEIGHT: Final = 180
_LEFT: Final = 48
_BOTTOM: Final = 24
_TOP: Final = 8


class PassLike(Protocol):
    """What the chart reads of a pass record (:class:`syncengine.history.PassRecord`)."""

    @property
    def number(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def failed(self) -> int: ...


@attrs.frozen
class Segment:
    """One coloured part of a bar."""

    series: str
    colour: str
    y: float
    height: float
    value: int


@attrs.frozen
class Bar:
    """One pass: its stacked segments and its label."""

    x: float
    width: float
    segments: tuple[Segment, ...]
    label: str
    title: str


@attrs.frozen
class Chart:
    """A chart ready to draw."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    top_value: int
    ticks: tuple[tuple[float, int], ...]
    left: int = _LEFT
    baseline: float = HEIGHT - _BOTTOM
    series: tuple[tuple[str, str], ...] = SERIES


def _scale_top(largest: int) -> int:
    """A round number at or above ``largest`` (1, 2, 5 × a power of ten)."""
    if largest <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return step * factor
        step *= 10


def pass_chart(passes: Sequence[PassLike]) -> Chart:
    """The chart of ``passes`` (oldest first, as drawn left to right)."""
    top = _scale_top(max((p.created + p.updated + p.failed for p in passes), default=0))
    plot = HEIGHT - _BOTTOM - _TOP
    baseline = float(HEIGHT - _BOTTOM)
    slot = (WIDTH - _LEFT) / max(len(passes), 1)
    width = max(min(slot * 0.7, 40.0), 1.0)
    bars = []
    for i, record in enumerate(passes):
        y = baseline
        segments = []
        for name, colour in SERIES:
            value = int(getattr(record, name))
            height = plot * value / top
            y -= height
            if value:
                segments.append(Segment(name, colour, round(y, 2), round(height, 2), value))
        title = (
            f"pass {record.number} ({record.kind}, {record.outcome}): {record.created} created, "
            f"{record.updated} updated, {record.failed} failed"
        )
        bars.append(
            Bar(
                x=round(_LEFT + i * slot + (slot - width) / 2, 2),
                width=round(width, 2),
                segments=tuple(segments),
                label=str(record.number),
                title=title,
            )
        )
    ticks = tuple((round(baseline - plot * v / top, 2), v) for v in sorted({0, top // 2, top}))
    return Chart(WIDTH, HEIGHT, tuple(bars), top, ticks)
