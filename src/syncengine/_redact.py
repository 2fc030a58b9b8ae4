"""Credentials out of reprs and messages (rule X4): connection strings, URLs, option tables.

Pure Python, so a config can be shown without psycopg installed, and tolerant: a
connection string too malformed for libpq to parse is still redacted, erring on hiding
too much. Passwords hide in three places:

* a URL's user info: ``postgresql://user:PASSWORD@host/db`` (also with ``@`` or ``/``
  typed raw in the password: everything up to the last ``@`` is user info);
* a URL's query: ``?password=…`` or ``&sslpassword=…`` (hidden to the end);
* a key/value string: ``password=…`` or ``sslpassword=…``, quoted (``'it\\'s'``) or not;
  an unquoted value runs to the next ``key=`` (a space typed in it is hidden too).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

__all__ = [
    "REDACTED",
    "is_secret_name",
    "redact_dsn",
    "redact_options",
    "redact_text",
    "scrub_dsn",
    "scrub_secrets",
]

REDACTED: Final = "[redacted]"

_URL: Final = re.compile(r"(\s*[A-Za-z][A-Za-z0-9+.-]*://)(.*)", re.DOTALL)
_QUERY_SECRET: Final = re.compile(r"([?&](?:ssl)?password=)(.*)", re.DOTALL | re.IGNORECASE)
_KV_SECRET: Final = re.compile(
    r"((?<![A-Za-z0-9_])(?:ssl)?password\s*=\s*)"
    r"('(?:[^'\\]|\\.)*(?:'|\\?$)|.*?(?=\s+[A-Za-z_]+\s*=|\s*$))",
    re.DOTALL | re.IGNORECASE,
)
_KV_UNESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
# libpq reads a ``dbname`` holding ``=`` or starting like a URL as a whole connection
# string of its own, passwords included.
_KV_DBNAME: Final = re.compile(
    r"((?<![A-Za-z0-9_])dbname\s*=\s*)('(?:[^'\\]|\\.)*(?:'|\\?$)|\S+)",
    re.DOTALL | re.IGNORECASE,
)


def _dbname_dsn(value: str) -> str | None:
    """The connection string a ``dbname=`` value holds (quotes removed), or None."""
    if value.startswith("'"):
        value = _KV_UNESCAPE.sub(r"\1", value[1:].removesuffix("'"))
    return value if ("=" in value or "://" in value) else None


def _redact_dbname(found: re.Match[str]) -> str:
    inner = _dbname_dsn(found.group(2))
    if inner is None or redact_dsn(inner) == inner:
        return found.group(0)
    shown = redact_dsn(inner).replace("\\", "\\\\").replace("'", "\\'")
    return f"{found.group(1)}'{shown}'"


# Option names whose values are credentials, whatever adapter they configure.
_SECRET_NAME: Final = re.compile(
    r"(password|passwd|secret|token|api_?key|credential|private_?key|dsn)(?!_env)",
    re.IGNORECASE,
)


def _url_parts(dsn: str) -> tuple[str, str | None, str, str | None] | None:
    """(scheme, password or None, rest after the user info, query secret or None)."""
    found = _URL.fullmatch(dsn)
    if found is None:
        return None
    scheme, rest = found.groups()
    # The query's password first (an "@" typed in it must not end the user info).
    query = _QUERY_SECRET.search(rest)
    if query is not None:
        rest = rest[: query.start(2)] + REDACTED
    password: str | None = None
    at = rest.rfind("@")
    if at >= 0:
        user, colon, secret = rest[:at].partition(":")
        if colon:
            password = secret
        rest = (f"{user}:{REDACTED}" if colon else user) + rest[at:]
    return scheme, password, rest, query.group(2) if query else None


def redact_dsn(dsn: str) -> str:
    """``dsn`` (a libpq URL or key/value string, or any URL) with its passwords hidden."""
    parts = _url_parts(dsn)
    if parts is not None:
        scheme, _password, rest, _query = parts
        return scheme + rest
    return _KV_DBNAME.sub(_redact_dbname, _KV_SECRET.sub(lambda m: m.group(1) + REDACTED, dsn))


def _secrets(dsn: str) -> Iterator[str]:
    """Every password ``dsn`` holds, as typed and as decoded."""
    parts = _url_parts(dsn)
    if parts is not None:
        _scheme, password, _rest, query = parts
        found = [s for s in (password, query) if s]
        for value in list(found):
            cut = value.split("&", 1)[0]
            found += [cut, urllib.parse.unquote(value), urllib.parse.unquote(cut)]
    else:
        found = []
        for match in _KV_SECRET.finditer(dsn):
            value = match.group(2)
            found.append(value)
            if value.startswith("'"):
                inner = value[1:].removesuffix("'")
                found += [inner, _KV_UNESCAPE.sub(r"\1", inner)]
        for match in _KV_DBNAME.finditer(dsn):
            inner = _dbname_dsn(match.group(2))
            if inner is not None:
                found += _secrets(inner)
    for value in list(found):  # libpq quotes the word it stopped at, alone
        found += [part for part in value.split() if len(part) >= 3]
    yield from (s for s in found if s)


def scrub_dsn(text: str, dsn: str) -> str:
    """``text`` (an error message about ``dsn``) with ``dsn``'s passwords hidden.

    The connection string itself is shown redacted; a password quoted alone (libpq
    quotes fragments of what it cannot parse) is replaced, longest first.
    """
    for shown in (dsn, repr(dsn)[1:-1]):  # as typed, and as a repr() quotes it
        if shown and shown in text:
            text = text.replace(shown, redact_dsn(dsn))
    secrets = set(_secrets(dsn))
    secrets |= {repr(secret)[1:-1] for secret in secrets}
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# Free text (an error message): URLs in it, ``name=value`` / ``name: value`` pairs whose
# name is a credential's, ``Bearer …`` tokens, and HubSpot private app tokens.
_URL_IN_TEXT: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_SECRET_PAIR: Final = re.compile(
    r"((?:password|passwd|secret|token|api_?key|hapikey|credential|private_?key|"
    r"authorization)[\"']?\s*[=:]\s*[\"']?)((?:bearer\s+)?[^\s\"'&,;]+)",
    re.IGNORECASE,
)
_BEARER: Final = re.compile(r"(bearer\s+)(?!\[redacted\])[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_HUBSPOT_TOKEN: Final = re.compile(r"\bpat-[a-z0-9]{2,5}-[0-9a-f-]{16,}", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Free text (an error message) with the credentials it may quote hidden: URLs'
    passwords, ``password=…``, ``token: …``, ``api_key=…`` and the like, ``Bearer``
    tokens, HubSpot private app tokens (``pat-…``)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_dsn(m.group(0)), text)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _HUBSPOT_TOKEN.sub(REDACTED, text)


def is_secret_name(name: str) -> bool:
    """Whether an option called ``name`` holds a credential (``password``, ``api_key``…)."""
    return _SECRET_NAME.search(name) is not None


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """An adapter's options, shown: credential-like keys hidden, URLs' passwords too."""
    shown: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, str) and is_secret_name(str(key)):
            shown[key] = REDACTED
        elif isinstance(value, str):
            shown[key] = redact_dsn(value) if "://" in value else value
        elif isinstance(value, Mapping):
            shown[key] = redact_options(value)
        else:
            shown[key] = value
    return shown


def scrub_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Any text (an error message) with credentials hidden: each of ``secrets`` as given
    (and as ``repr()`` quotes it), the passwords of URLs and ``password=`` pairs in it, and
    ``Bearer`` tokens. For text shown to people who must not see them (a web page).

    .. versionadded:: 0.2
    """
    known = {s for s in secrets if s and len(s) >= 4}
    known |= {repr(s)[1:-1] for s in known}
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return redact_text(text)
