"""A HubSpot token as users hand it in: stripped, or refused without being shown.

Rule X4 (secrets never appear in reprs, logs or messages); issue 17 §4.

A token read from a file or an environment variable often ends with a newline. httpx's
real transport refuses such a header value and quotes it in its error, which the adapter
used to retry as transient and log in full on every retry.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import traceback
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from syncengine import AdapterError, ConfigError, ErrorCategory
from syncengine.adapters._hubspot_http import Secret
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.plugins import load_adapter

TOKEN = "pat-na1-0123456789abcdef-SECRET"


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with an empty page and records its Authorization header."""

    seen: list[str]

    def _answer(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"results": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server on a real socket (httpx's real transport validates headers)."""
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize("padded", [TOKEN + "\n", TOKEN + "\r\n", f"  {TOKEN}\t\n"])
def test_a_token_with_surrounding_whitespace_is_stripped_and_works(server, caplog, padded):
    """The newline of a token read from a file is dropped: requests succeed, nothing is logged."""
    base_url, seen = server
    adapter = HubSpotAdapter(padded, base_url=base_url, sleep=lambda _s: None, max_retries=1)
    try:
        with caplog.at_level(logging.DEBUG):
            adapter.fetch("contacts", ["1"])
    finally:
        adapter.close()
    assert seen
    assert {f"Bearer {TOKEN}"} == set(seen)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


_VISIBLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8)
_BAD = st.one_of(
    st.sampled_from([" ", "\n", "\r", "\t", "\x00", "\x7f", "\u00a0", "\u2028"]),
    st.characters(min_codepoint=0x80, exclude_categories=["Cs"]),
)


@given(head=_VISIBLE, bad=_BAD, tail=_VISIBLE)
def test_a_token_with_a_character_no_header_can_carry_is_refused_without_showing_it(
    head, bad, tail
):
    """Inner whitespace, control or non-ASCII characters: refused, the token never shown."""
    token = head + bad + tail
    with pytest.raises(ValueError, match="HubSpot token") as caught:
        HubSpotAdapter(token)
    text = "".join(traceback.format_exception_only(caught.value)) + repr(caught.value)
    with pytest.raises(ValueError, match="position") as neutral:  # the wording alone
        Secret("x" * len(head) + bad + "x" * len(tail))
    assume(not any(part in str(neutral.value) for part in (head, tail)))
    for part in (token, head, tail, repr(token)[1:-1]):
        assert part not in text
    assert f"position {len(head) + 1}" in str(caught.value)


def test_an_illegal_header_error_is_not_retried_and_never_shows_the_header(caplog):
    """A request httpx refuses to send fails at once, without the header in text or cause."""
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.LocalProtocolError(
            f"Illegal header value {request.headers['authorization'].encode()!r}"
        )

    adapter = HubSpotAdapter(
        TOKEN, transport=httpx.MockTransport(refuse), sleep=lambda _s: None, max_retries=5
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(AdapterError) as caught:
        adapter.schema("contacts")
    adapter.close()
    assert 1 == len(calls)
    assert not caught.value.category.is_transient
    assert ErrorCategory.VALIDATION == caught.value.category
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert TOKEN not in text
    assert TOKEN not in caplog.text
    assert "Bearer" not in text + caplog.text


@pytest.mark.parametrize("quirk", ["'", "\\", "'\\"])
def test_a_token_quoted_by_repr_is_scrubbed_in_that_form_too(quirk):
    """An error quoting the header as bytes escapes quotes and backslashes; still scrubbed."""
    secret = Secret(f"abc{quirk}defghijk")
    for form in (secret.reveal(), repr(secret.reveal()), repr(secret.reveal().encode())):
        assert "defghijk" not in secret.scrub(f"Illegal header value {form}")


def test_the_config_files_token_env_is_stripped(monkeypatch, tmp_path, server):
    """`export HUBSPOT_TOKEN=$(cat token.txt)` style values with a newline work."""
    base_url, seen = server
    monkeypatch.setenv("MY_HS_TOKEN", TOKEN + "\n")
    adapter = load_adapter(
        "hubspot", {"token_env": "MY_HS_TOKEN", "base_url": base_url}, base_dir=tmp_path
    )
    assert isinstance(adapter, HubSpotAdapter)
    try:
        adapter.fetch("contacts", ["1"])
    finally:
        adapter.close()
    assert {f"Bearer {TOKEN}"} == set(seen)


def test_a_config_token_with_inner_whitespace_is_a_config_error_that_hides_it(
    monkeypatch, tmp_path
):
    """A token with a newline inside: ConfigError naming token_env, not the token."""
    monkeypatch.setenv("MY_HS_TOKEN", "pat-na1-0123\n456789abcdef")
    with pytest.raises(ConfigError, match="token_env") as caught:
        load_adapter("hubspot", {"token_env": "MY_HS_TOKEN"}, base_dir=tmp_path)
    text = "".join(traceback.format_exception(caught.value))
    assert "0123" not in text
    assert "456789abcdef" not in text
    assert "MY_HS_TOKEN" in str(caught.value)
