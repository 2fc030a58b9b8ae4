"""Text that is not valid Unicode: the one test every adapter, store and the engine share.

This module is private.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["lone_surrogate"]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """Why ``text`` is not valid Unicode text, or None if it is.

    A Python ``str`` may hold a lone surrogate (U+D800 to U+DFFF: half of a UTF-16 pair,
    as left by text cut in the middle of an emoji, or by bytes that were not UTF-8 read
    with ``surrogateescape``). No UTF-8 app can store one, so a value holding one is a
    validation failure of its record (rule X1), the same in every adapter.
    """
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return (
        f"holds a lone surrogate (U+{ord(found[0]):04X} at position {found.start()}), "
        "which is not valid Unicode text: half of an emoji or of another character "
        "outside the Basic Multilingual Plane, or bytes that were not UTF-8"
    )
