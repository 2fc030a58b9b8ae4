"""Identifier normalizers: turn a property value into the key records are matched on (rule M6).

Every normalizer takes *any* value, because a record property may hold anything an app
sends (rule X1): ints, ``None``, lists, huge strings, control characters, odd unicode. It
returns the normalized identifier as a ``str``, or ``None`` when the value is blank or not a
valid identifier of its kind. Text that is not valid Unicode (a lone surrogate, which no
app or index can store) is never an identifier. A normalizer never raises, and it is
idempotent: normalizing a normalized identifier returns it unchanged.

This module is pure: no I/O, no logging, no clock. Which normalizer a match key uses is
chosen by :meth:`syncengine.MatchRule.kind_of`; :data:`NORMALIZERS` maps each kind of
:data:`syncengine.config.MATCH_KINDS` to its function.
"""

from __future__ import annotations

import re
import types
import unicodedata
from collections.abc import Callable, Mapping
from typing import Final, Literal

import idna

from syncengine._text import lone_surrogate

__all__ = [
    "NORMALIZERS",
    "is_valid_email",
    "normalize_company_name",
    "normalize_domain",
    "normalize_email",
    "normalize_exact",
    "normalize_phone",
    "normalize_text",
]

# Inputs longer than these are not identifiers of their kind; refusing them early also
# bounds the work a hostile value can cause.
_MAX_EMAIL: Final = 254  # RFC 5321 path limit
_MAX_LOCAL: Final = 64
_MAX_DOMAIN: Final = 253
_MAX_LABEL: Final = 63
_MAX_URL: Final = 8192
_MAX_NAME: Final = 1000
_MAX_PHONE: Final = 100
_MAX_TEXT: Final = 65_536  # HubSpot's string property limit (reference §3)

# Unicode categories that never belong in an identifier: controls, format characters,
# surrogates, private use, unassigned, and line/paragraph separators.
_BAD_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# RFC 5322 "specials" that cannot appear unquoted in a local part; quoted local parts are
# too rare in CRM data to be worth accepting.
_EMAIL_SPECIALS: Final = frozenset('()<>[]:;,\\"')
_SCHEME: Final = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_ASCII_LABEL: Final = re.compile(r"^[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?$")
_PORT: Final = re.compile(r"^[0-9]{0,5}$")
_EXTENSION: Final = re.compile(r"(?:ext\.?|extension|x|#)\s*[0-9]{1,6}\s*$", re.IGNORECASE)


def _has_bad_char(text: str, *, spaces: bool) -> bool:
    """Whether ``text`` holds a control/format/unassigned char (or whitespace, if ``spaces``)."""
    for ch in text:
        if spaces and ch.isspace():
            return True
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            return True
    return False


def _fold(text: str, form: Literal["NFC", "NFKC"]) -> str:
    """Unicode-normalize and case-fold ``text`` until it stops changing.

    ``casefold`` can produce decomposed sequences and normalization can produce characters
    that fold again, so one round is not always a fixed point; a few rounds make the
    normalizers idempotent.
    """
    for _ in range(4):
        folded = unicodedata.normalize(form, unicodedata.normalize(form, text).casefold())
        if folded == text:
            break
        text = folded
    return text


#: The letters IDNA 2003 maps to others (``ß`` to ``ss``, ``ς`` to ``σ``) and the joiners
#: it drops, which IDNA 2008 and UTS 46 keep: ``straße.de`` and ``strasse.de`` are two
#: domains, registered by two owners.
_DEVIATIONS: Final = frozenset("\u00df\u03c2\u200c\u200d")


def _idna(host: str) -> str | None:
    """``host`` in ASCII, or ``None`` when it cannot be encoded.

    As mail systems and browsers encode it: UTS 46 without transitional processing, then
    IDNA 2008 (``straße.de`` is ``xn--strae-oqa.de``, not ``strasse.de``). A name IDNA 2008
    refuses (a symbol such as ``☃``, which IDNA 2003 allowed) is encoded as IDNA 2003
    does, unless it holds one of the letters the two read differently.
    """
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    if not _DEVIATIONS.isdisjoint(host):
        return None
    try:
        return host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return None


def _valid_ascii_domain(host: str) -> bool:
    """Whether ``host`` is a lowercase ASCII domain name with at least two labels."""
    if not 0 < len(host) <= _MAX_DOMAIN:
        return False
    labels = host.split(".")
    if len(labels) < 2:
        return False
    if labels[-1].isdigit():  # an IPv4 address, not a domain
        return False
    return all(len(label) <= _MAX_LABEL and _ASCII_LABEL.match(label) for label in labels)


# --- e-mail -------------------------------------------------------------------------------


def normalize_email(value: object) -> str | None:
    """An e-mail address in one canonical form, or ``None`` when it is not one (rule M6, M4).

    The canonical form: trimmed; the local part (before the ``@``) NFKC-normalized and
    case-folded, so full-width ``ａｂ`` is ``ab`` and ``Jörg`` is ``jörg`` (``ß`` folds to
    ``ss``); the domain in lowercase ASCII, IDNA-encoded (punycode), so ``bücher.de`` and
    ``xn--bcher-kva.de`` are the same domain, and the ideographic full stop ``。`` separates
    its labels as ``.`` does. Addresses that differ only in those ways
    are the same identifier and match.

    The check is pragmatic, not RFC 5322: exactly one ``@``; a local part of 1–64
    characters without whitespace or control characters, not starting or ending with a dot
    and without ``..``; a domain of at least two labels made of letters, digits and
    hyphens (not at either end of a label) that IDNA can encode; at most 254 characters in
    all. Text that is not valid Unicode (a lone surrogate) is no address.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 4 * _MAX_EMAIL:
        return None
    if text.isascii():
        # For ASCII, the bad characters are the controls and the whitespace (none of
        # them in _ASCII_EMAIL's classes), NFC changes nothing, case-folding is
        # lower(), and a domain IDNA can encode is one of 1–63 character labels: the
        # checks of _valid_local, _valid_email_domain and _valid_ascii_domain, in one
        # expression (and inline: a call costs as much as a tenth of this).
        text = text.lower()
        if len(text) > _MAX_EMAIL or ".." in text or _ASCII_EMAIL.fullmatch(text) is None:
            return None
        return text
    if _has_bad_char(text, spaces=True):
        return None
    # The "@": any character NFKC makes one (the full-width "＠" too).
    ats = [i for i, ch in enumerate(text) if ch in _NFKC_AT]
    if len(ats) != 1:
        return None
    local, domain = _fold(text[: ats[0]], "NFKC"), text[ats[0] + 1 :]
    # The domain is mapped as IDNA maps it (UTS 46), not with NFKC and case-folding,
    # which make "ϲ" "ς", "ß" "ss" and "ς" "σ", other domains' letters. The mapping
    # also turns the full-width, half-width and ideographic full stops into ".".
    try:
        domain = idna.uts46_remap(domain, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    if not _valid_local(local) or _has_bad_char(local, spaces=True):
        return None
    if not _valid_email_domain(domain):
        return None
    ascii_domain = _idna(domain)
    if ascii_domain is None:
        return None
    text = f"{local}@{ascii_domain.lower()}"
    if len(text) > _MAX_EMAIL:
        return None
    return text


#: The characters NFKC makes an "@": itself, full-width and small.
_NFKC_AT: Final = frozenset("@\uff20\ufe6b")


def _valid_local(local: str) -> bool:
    if not 0 < len(local) <= _MAX_LOCAL:
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return _EMAIL_SPECIALS.isdisjoint(local)


#: A lowercase ASCII address as :func:`normalize_email` accepts it, but for its length
#: and a ``..`` anywhere (checked before): a local part of 1–64 printable characters but
#: the specials and the ``@``, without a dot at either end; exactly one ``@``; at least
#: two labels of 1–63 letters, digits and hyphens, none at a label's ends; a last label
#: that is not all digits (an IPv4 address). Possessive repeats: nothing backtracks.
_ASCII_LOCAL: Final = "".join(
    re.escape(chr(c)) for c in range(0x21, 0x7F) if chr(c) not in _EMAIL_SPECIALS | {"@"}
)
_ASCII_EMAIL: Final = re.compile(
    rf"(?!\.)[{_ASCII_LOCAL}]{{1,64}}+(?<!\.)@"
    r"(?:(?!-)[a-z0-9\-]{1,63}+(?<!-)\.)++(?![0-9]++\Z)(?!-)[a-z0-9\-]{1,63}+(?<!-)"
)


def _valid_email_domain(domain: str) -> bool:
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    for label in labels:
        if not label or label.startswith("-") or label.endswith("-"):
            return False
        if not all(ch.isalnum() or ch == "-" for ch in label):
            return False
    ascii_domain = _idna(domain)
    return ascii_domain is not None and _valid_ascii_domain(ascii_domain.lower())


def is_valid_email(value: object) -> bool:
    """Whether ``value`` is an e-mail address :func:`normalize_email` accepts (rule M4)."""
    return normalize_email(value) is not None


# --- domain -------------------------------------------------------------------------------


def normalize_domain(value: object) -> str | None:
    """A company domain in lowercase ASCII, from a bare domain or a URL, or ``None`` (rule M6).

    Drops the scheme, user info, port, path, query, fragment, a trailing dot and leading
    ``www`` labels; encodes unicode labels with IDNA (``bücher.de`` → ``xn--bcher-kva.de``).
    The result has at least two labels of letters, digits and hyphens; IP addresses are not
    domains.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_URL or lone_surrogate(text):
        return None
    text = _SCHEME.sub("", text, count=1)
    text = text.removeprefix("//")
    for stop in "/?#\\":
        text = text.split(stop, 1)[0]
    host = text.rsplit("@", 1)[-1]  # user info
    if ":" in host:
        host, port = host.rsplit(":", 1)
        if not _PORT.match(port):
            return None
    if not host or len(host) > 4 * _MAX_DOMAIN or _has_bad_char(host, spaces=True):
        return None
    host = unicodedata.normalize("NFC", host).removesuffix(".")  # IDNA maps its case (_idna)
    if not host:
        return None
    ascii_host = _idna(host)
    if ascii_host is None:
        return None
    ascii_host = ascii_host.lower().removesuffix(".")
    # Drop every leading ``www`` label (so the result is a fixed point), but never the
    # last two labels: ``www.com`` is a domain of its own.
    while ascii_host.startswith("www.") and ascii_host.count(".") >= 2:
        ascii_host = ascii_host[len("www.") :]
    return ascii_host if _valid_ascii_domain(ascii_host) else None


# --- company name -------------------------------------------------------------------------

# Legal-form suffixes, as whole words after punctuation removal (so "A/S" is "as", "S.A."
# is "sa", "Co." is "co"). A trailing run of single letters is joined before lookup, so
# "A S" and "S. A." are handled the same way.
_LEGAL_SUFFIXES: Final = frozenset(
    {
        # English-speaking countries
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "co",
        "cos",
        "corp",
        "corporation",
        "company",
        "pty",
        "pte",
        "pvt",
        # German-speaking countries
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "ug",
        "se",
        # Nordic countries
        "as",
        "asa",
        "aps",
        "is",
        "ks",
        "ps",
        "ivs",
        "amba",
        "ab",
        "oy",
        "oyj",
        # Romance-language countries
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "sl",
        "slu",
        "sau",
        "ltda",
        "lda",
        # Benelux
        "bv",
        "nv",
        # elsewhere
        "kk",
        "sro",
        "bhd",
        "sdn",
    }
)
_MULTIWORD_SUFFIXES: Final = (("sp", "z", "oo"),)
# Characters removed without a trace, so abbreviations stay one word ("A/S" → "as",
# "S.A." → "sa", "O'Reilly" → "oreilly"). Any other non-alphanumeric char splits words.
_JOINERS: Final = frozenset(".'’ʼ`´/")


def _name_words(text: str) -> list[str]:
    text = _fold(text, "NFKC").replace("&", " and ")
    chars = []
    for ch in text:
        if ch.isalnum():
            chars.append(ch)
        elif ch not in _JOINERS:
            chars.append(" ")
    return "".join(chars).split()


def _strip_suffix(words: list[str]) -> int:
    """How many trailing words of ``words`` form one legal suffix (0 when none)."""
    if words[-1] in _LEGAL_SUFFIXES:
        return 1
    for suffix in _MULTIWORD_SUFFIXES:
        if tuple(words[-len(suffix) :]) == suffix:
            return len(suffix)
    # A trailing run of single letters spelled with spaces ("a s" for "A S", "A. S.").
    for size in (2, 3, 4):
        tail = words[-size:]
        single_letters = len(tail) == size and all(len(w) == 1 for w in tail)
        if single_letters and "".join(tail) in _LEGAL_SUFFIXES:
            return size
    return 0


def normalize_company_name(value: object) -> str | None:
    """A company name without case, punctuation or legal suffixes, or ``None`` (rule M2, M6).

    NFKC-normalized and case-folded; ``&`` reads as ``and``; punctuation is dropped;
    whitespace collapsed; then trailing legal suffixes (Inc, Ltd, GmbH, ApS, A/S, …) are
    dropped as long as any are left, together with an ``and`` before them ("& Co."). A name
    is never reduced to nothing: a company called "Company" stays ``"company"``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_NAME or lone_surrogate(text):
        return None
    words = _name_words(text)
    # Normalizing can join characters (Hangul jamo) once punctuation between them is gone;
    # iterate to a fixed point so the result is stable.
    for _ in range(3):
        again = _name_words(" ".join(words))
        if again == words:
            break
        words = again
    if not words:
        return None
    while True:
        size = _strip_suffix(words)
        if size == 0 or size >= len(words):
            break
        words = words[:-size]
        if words[-1] == "and" and len(words) > 1:
            words = words[:-1]
    return " ".join(words)


# --- phone --------------------------------------------------------------------------------


def normalize_phone(value: object) -> str | None:
    """A phone number as digits with an optional leading ``+``, or ``None`` (rule M6).

    Formatting (spaces, dashes, dots, parentheses) and a trailing extension (``ext. 12``,
    ``x12``) are dropped; an international ``00`` prefix becomes ``+``. Fewer than five
    digits is not a phone number. Non-negative ints are accepted.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value < 0 or value.bit_length() > 80:
            return None
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_PHONE or lone_surrogate(text):
            return None
    else:
        return None
    text = unicodedata.normalize("NFKC", text)
    text = _EXTENSION.sub("", text)
    plus = text.lstrip("( ").startswith("+")
    digits = "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())
    if not plus and digits.startswith("00"):
        plus, digits = True, digits[2:]
    if len(digits) < 5:
        return None
    return ("+" if plus else "") + digits


# --- text and exact -----------------------------------------------------------------------


def _int_text(value: int) -> str | None:
    try:
        return str(value)
    except ValueError:  # more digits than int -> str allows
        return None


def normalize_text(value: object) -> str | None:
    """Text trimmed, NFC-normalized, case-folded, inner whitespace collapsed (rule M6).

    For identifiers without a kind of their own. Ints count as their decimal text; a blank
    value, another type, or text over 65,536 characters gives ``None``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text: str | None = _int_text(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    if text is None or len(text) > _MAX_TEXT or lone_surrogate(text):
        return None
    for _ in range(4):
        again = " ".join(_fold(text, "NFC").split())
        if again == text:
            break
        text = again
    return text or None


def normalize_exact(value: object) -> str | None:
    """The value itself, compared exactly: a non-blank ``str`` as is, an int as its text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, str):
        return value if value.strip() and not lone_surrogate(value) else None
    return None


#: The normalizer of each identifier kind of :data:`syncengine.config.MATCH_KINDS`.
NORMALIZERS: Final[Mapping[str, Callable[[object], str | None]]] = types.MappingProxyType(
    {
        "email": normalize_email,
        "domain": normalize_domain,
        "company_name": normalize_company_name,
        "phone": normalize_phone,
        "text": normalize_text,
        "exact": normalize_exact,
    }
)
