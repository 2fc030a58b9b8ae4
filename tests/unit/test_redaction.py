"""Credentials never appear in a repr, a str or an error message (issue 17 §4, SPEC X4).

The PostgreSQL password showed in ``repr()`` of a read config (``IndexSpec(dsn=…)``) and
in the message for a malformed DSN (libpq quotes the URI it cannot parse). Passwords are
generated here, URL-special characters included, and written every way a user might:
percent-encoded or raw in a URL, in its query, quoted or not in a key/value string.
"""

from __future__ import annotations

import traceback
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from syncengine import ConfigError
from syncengine._redact import redact_dsn, redact_options, scrub_dsn
from syncengine.configfile import AdapterSpec, IndexSpec, parse_config
from syncengine.plugins import AdapterOptions

# Passwords with what URLs and libpq treat specially, and some unicode.
_passwords = st.text(
    st.one_of(
        st.sampled_from(list(":@/?#&%'\\ =[]+\"")),
        st.characters(min_codepoint=0x21, max_codepoint=0x7E),
        st.characters(min_codepoint=0xA1, max_codepoint=0x2FFF, exclude_categories=["Cs"]),
    ),
    min_size=8,
    max_size=24,
)


def _kv_quoted(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def dsns(password: str) -> list[str]:
    """``password`` in every form a connection string can carry it, right and careless."""
    encoded = urllib.parse.quote(password, safe="")
    return [
        f"postgresql://sync:{encoded}@127.0.0.1:1/db",
        f"postgresql://sync:{password}@127.0.0.1:1/db",  # typed raw
        f"postgres://sync:{encoded}@[::1]:1/db?sslmode=disable",
        f"postgresql://127.0.0.1:1/db?user=sync&password={encoded}",
        f"postgresql://127.0.0.1:1/db?password={password}&user=sync",
        f"host=127.0.0.1 port=1 user=sync password={_kv_quoted(password)} dbname=db",
        f"host=127.0.0.1 port=1 password = {_kv_quoted(password)}",
        f"host=127.0.0.1 port=1 user=sync password={password} dbname=db",  # unquoted
        f"host=127.0.0.1 port=1 sslpassword={_kv_quoted(password)}",
        f"postgresql://sync:{encoded}@[bad/db",  # malformed: libpq quotes it whole
        # libpq reads a dbname holding "=" or a URL as a connection string of its own.
        f"host=127.0.0.1 port=1 dbname=postgresql://sync:{encoded}@127.0.0.1:1/db",
        "port=1 dbname=" + _kv_quoted(f"host=127.0.0.1 port=1 password={_kv_quoted(password)}"),
    ]


def forms(password: str) -> set[str]:
    """How ``password`` could show: as typed, percent-encoded, escaped for libpq."""
    return {password, urllib.parse.quote(password, safe=""), _kv_quoted(password)[1:-1]}


def chain_text(exc: BaseException) -> str:
    """What an exception shows: messages and reprs of it and every exception it chains."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [*traceback.format_exception_only(seen), repr(seen)]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "".join(parts)


def _distinct(password: str) -> bool:
    # A secret of one repeated character, or mostly spaces, could appear by chance.
    return len(set(password)) >= 4 and len(password.strip()) >= 8


def _shown(dsn: str) -> list[str]:
    return [
        repr(IndexSpec("postgres", dsn=dsn)),
        redact_dsn(dsn),
        scrub_dsn(f"could not parse {dsn!r} or {dsn}", dsn),
    ]


# What is shown whatever the password: a password inside it appears by chance.
_BOILERPLATE = "\n".join(t for dsn in dsns("\x01") for t in _shown(dsn))


@given(password=_passwords)
def test_a_dsns_password_is_in_no_repr_of_the_config(password):
    """IndexSpec's repr (and the pure-Python redaction behind it) hides every form."""
    assume(_distinct(password))
    assume(not any(form in _BOILERPLATE for form in forms(password)))
    for dsn in dsns(password):
        for text in _shown(dsn):
            for form in forms(password):
                assert form not in text, (dsn, text)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=25)
@given(password=_passwords)
def test_a_dsns_password_is_in_no_error_of_the_postgres_store(password):
    """Malformed or unreachable: the IndexStoreError, its repr and traceback hide it."""
    postgres = pytest.importorskip("syncengine.index.postgres")
    assume(_distinct(password))

    def error_text(dsn: str) -> str:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any error, checked below
            postgres.PostgresIndexStore(dsn, connect_timeout=1)
        assert "IndexStoreError" == type(caught.value).__name__, caught.value
        return chain_text(caught.value)

    boilerplate = "\n".join(error_text(dsn) for dsn in dsns("\x01"))
    assume(not any(form in boilerplate for form in forms(password)))
    for dsn in dsns(password):
        text = error_text(dsn)
        for form in forms(password):
            assert form not in text, (dsn, text)


def test_the_reported_leaks_are_gone():
    """The two cases of the issue: repr of a read config, message of a malformed DSN."""
    postgres = pytest.importorskip("syncengine.index.postgres")
    file = parse_config(
        'sync_id = "crm"\n[hub]\nkind = "memory"\n[app]\nkind = "memory"\n'
        '[index]\nkind = "postgres"\ndsn = "postgresql://sync:hunter2-pw@db/sync"\n'
        '[[objects]]\nhub_type = "contacts"\napp_type = "people"\n'
        'mappings = [["email", "mail"]]\nmatch = { keys = [["email", "mail"]] }\n',
        file=Path("sync.toml"),
    )
    assert "hunter2-pw" not in repr(file.index)
    assert "hunter2-pw" not in repr(file)
    assert "[redacted]" in repr(file.index)
    with pytest.raises(postgres.IndexStoreError) as caught:
        postgres.PostgresIndexStore("postgresql://sync:hunter2-pw@[db/sync")
    assert "hunter2-pw" not in chain_text(caught.value)


def test_an_adapters_credential_options_are_hidden_in_its_spec():
    """A plug-in's options: credential-like keys and passwords in URLs are hidden."""
    spec = AdapterSpec(
        "crm",
        {
            "api_key": "k-0123456789",
            "client_secret": "cs-0123456789",
            "url": "https://me:pw-0123456789@crm.example.com/api",
            "nested": {"password": "p-0123456789"},
            "token_env": "CRM_TOKEN",
            "page_size": 100,
        },
    )
    shown = repr(spec)
    for secret in ("k-0123456789", "cs-0123456789", "pw-0123456789", "p-0123456789"):
        assert secret not in shown
    assert "CRM_TOKEN" in shown
    assert 100 == redact_options(spec.options)["page_size"]


def test_an_option_of_the_wrong_type_is_not_echoed_when_it_is_a_credential(tmp_path):
    """A plug-in's config error about a secret-named option names the key, not the value."""
    options = AdapterOptions({"api_key": 123456789, "page_size": "x-987654"}, base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        options.get_str("api_key")
    assert "api_key" in str(caught.value)
    assert "123456789" not in str(caught.value)
    with pytest.raises(ConfigError, match="x-987654"):  # other values are still shown
        options.get_int("page_size", 100)


def test_the_hubspot_adapters_repr_hides_a_password_in_its_base_url():
    """base_url may carry user info (a proxy); the repr hides its password."""
    from syncengine.adapters.hubspot import HubSpotAdapter

    adapter = HubSpotAdapter("pat-0123", base_url="https://me:pw-0123456789@proxy.example")
    try:
        assert "pw-0123456789" not in repr(adapter) + repr(adapter._http)
    finally:
        adapter.close()
