"""normalize_email's ASCII path against the implementation it replaced (M4, M6).

The ASCII path is one regular expression over the lowered text. The step-by-step
checks it replaced are kept here as the oracle: for every ASCII string, the two must
give the same answer. The generators lean toward the strings where a check could slip:
dots at the ends of the local part and doubled, the specials, spaces and controls, several
``@``, labels with ``-`` at an end, digit top-level labels, labels of 63 and 64
characters, addresses of 254 and 255 characters, upper case.
"""

from __future__ import annotations

import re
import string

from hypothesis import example, given
from hypothesis import strategies as st

from syncengine.matching import normalize_email

_SPECIALS = frozenset('()<>[]:;,\\"')
_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
)


def _oracle_ascii(text: str) -> str | None:
    """``normalize_email``'s ASCII checks as they were before the single expression (f4f6ac1)."""
    if " " in text or not text.isprintable():
        return None
    text = text.lower()
    if len(text) > 254 or text.count("@") != 1:
        return None
    local, domain = text.split("@")
    if not 0 < len(local) <= 64:
        return None
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    if not _SPECIALS.isdisjoint(local):
        return None
    if (
        len(domain) > 253
        or _DOMAIN.fullmatch(domain) is None
        or domain.rpartition(".")[2].isdigit()
    ):
        return None
    return text


def _oracle(value: str) -> str | None:
    """``normalize_email`` of ASCII text as it was: trimmed, bounded, then the checks."""
    text = value.strip()
    if not text or len(text) > 4 * 254:
        return None
    return _oracle_ascii(text)


_ATOMS = [
    *"aZq09.-@_+'!#$%&*/=?^`{|}~",
    *'()<>[]:;,\\"',
    " ",
    "\t",
    "\n",
    "\x00",
    "\x1f",
    "\x7f",
    "..",
    "@@",
    ".-",
    "-.",
    "xn--",
    ".com",
    ".COM",
    ".de",
    ".123",
    ".1",
    "Ada.Lovelace",
    "a" * 62,
    "b" * 63,
    "c" * 64,
]
_ASCII = string.printable + "".join(map(chr, range(0x20))) + "\x7f"

label = st.one_of(
    st.from_regex(r"[A-Za-z0-9\-]{0,66}", fullmatch=True),
    st.sampled_from(["a" * 63, "b" * 64, "-a", "a-", "-", "123", "0", "xn--bcher-kva", "Com"]),
)
local = st.one_of(
    st.from_regex(r"[A-Za-z0-9.\-_+'!#$%&*/=?^`{|}~()<>\[\]:;,\\\" @]{0,66}", fullmatch=True),
    st.sampled_from([".a", "a.", "a..b", "a" * 64, "a" * 65, "", "A.B", '"a"']),
)
structured = st.builds(
    lambda pad, name, labels, tail: f"{pad}{name}@{'.'.join(labels)}{tail}{pad}",
    st.sampled_from(["", " ", "\t", "\n "]),
    local,
    st.lists(label, min_size=1, max_size=5),
    st.sampled_from(["", ".", "@x.de", " ", "\x00"]),
)


def _sized(total: int) -> str:
    """A valid address of ``total`` characters: a 64-character local part, 63-character labels."""
    domain = []
    left = total - 65
    while left > 0:
        size = min(63, left - 2) if left > 65 else left
        domain.append("d" * size)
        left -= size + 1
    return "L" * 64 + "@" + ".".join(domain)


ascii_values = st.one_of(
    st.text(alphabet=_ASCII, max_size=40),
    st.lists(st.sampled_from(_ATOMS), max_size=12).map("".join),
    structured,
    st.sampled_from([_sized(n) for n in (250, 253, 254, 255, 256)]),
    st.builds(lambda n, s: s * n, st.integers(0, 300), st.sampled_from(["a", "a.", "@", "-"])),
)


@given(value=ascii_values)
@example(_sized(254))
@example(_sized(255))
@example("a@" + "b" * 63 + ".de")
@example("a@" + "b" * 64 + ".de")
@example("a" * 64 + "@x.de")
@example("a" * 65 + "@x.de")
@example("a@b.-c")
@example("a@b.c-")
@example("a@-b.c")
@example("a@b-.c")
@example("a@b..c")
@example(".a@b.c")
@example("a.@b.c")
@example("a..b@c.d")
@example("a@b.12")
@example("a@b.1-2")
@example("a@b")
@example("a@b.c.")
@example("A@B.C")
@example("a b@c.d")
@example("a\t@c.d")
@example("a@b@c.d")
@example("(a)@b.cd")
@example("  a@b.cd\n")
def test_the_ascii_path_is_the_step_by_step_checks(value: str) -> None:
    """For every ASCII string, the result is the replaced implementation's, exactly."""
    assert normalize_email(value) == _oracle(value)


def test_the_oracle_accepts_and_refuses() -> None:
    """The oracle is no constant: it accepts the benchmark's addresses and refuses broken ones."""
    assert _oracle(" Ada.Lovelace.7@Example.COM ") == "ada.lovelace.7@example.com"
    assert _oracle(_sized(254)) is not None
    assert _oracle(_sized(255)) is None
    assert _oracle("a..b@c.de") is None
