"""HTTP for the HubSpot adapter: pacing, retries, error bodies and secret hygiene.

This module owns every byte the adapter sends to HubSpot and every status it gets back.
It knows HubSpot's rate-limit policies and error bodies (reference §2, §4) but nothing of
records, cursors or syncing; :mod:`syncengine.adapters.hubspot` builds on it.

Rules it keeps:

* **Pacing.** A :class:`RateWindow` admits at most ``limit`` requests in any ``seconds``
  window, counting each request from the moment its *response* arrived, so a request can
  never land in HubSpot's rolling window (counted on arrival) too early, whatever the
  latency. Search has a window of its own (it is exempt from the ten-second limit).
* **Retries.** 5xx, 423, 477, timeouts and connection errors are retried with jittered
  exponential back-off (``Retry-After`` wins when it asks for longer); a 429 waits for the
  window its ``policyName`` names; a ``DAILY`` 429 gives up at once. Requests that are not
  safe to repeat (creates) are retried only when HubSpot cannot have processed them.
  Giving up raises :class:`~syncengine.AdapterError` (``RATE_LIMITED``/``UNAVAILABLE``).
* **Secrets.** The token lives in a :class:`Secret` whose ``repr`` and ``str`` hide it;
  messages are scrubbed of it before they leave this module (rule X4). So do an OAuth
  app's client secret, refresh token and every access token it was given.
* **Tokens that expire.** With OAuth (:class:`HubSpotOAuth`) the access token is
  refreshed before it expires (``expires_in``) and once after a 401; a private app's
  token is sent as it is.
* **Time** (clock and sleep) and randomness are injected, so tests never sleep.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, final

import attrs
import httpx
from typing_extensions import override

from syncengine._redact import REDACTED as _REDACTED
from syncengine._redact import redact_dsn
from syncengine.errors import AdapterError
from syncengine.states import ErrorCategory

__all__ = [
    "ErrorBody",
    "HttpClient",
    "HubSpotOAuth",
    "RateWindow",
    "Reply",
    "Secret",
    "TokenProvider",
    "category_of",
]

logger = logging.getLogger("syncengine.adapters.hubspot")

# How long a DAILY 429 asks the engine to wait when HubSpot does not say: the daily
# budget resets at midnight in the account's time zone, which the API does not tell.
_DAILY_RETRY_AFTER: Final = 3600.0
# Longest single wait inside a call; a longer Retry-After (477 can say 24 h) gives up.
_MAX_WAIT: Final = 120.0
# Statuses after which HubSpot has certainly not processed a request.
_NOT_PROCESSED: Final = frozenset({423, 429, 477, 503})
_RETRIED_STATUSES: Final = frozenset({423, 477})
# HubSpot holds a bulk-write lock for about 2 s (reference §2).
_LOCK_WAIT: Final = 2.0
_EPSILON: Final = 1e-9
_REQUIRED_CODES: Final = frozenset({"REQUIRED_PROPERTY", "MISSING_REQUIRED_PROPERTY"})
# h11/httpx quote an illegal header's name or value in their messages: never show it.
_HEADER_IN_TEXT: Final = re.compile(r"(header (?:name|value))\b.*", re.IGNORECASE | re.DOTALL)


@final
class Secret:
    """A secret string (a token) whose ``repr`` and ``str`` never show it (rule X4).

    Call :meth:`reveal` at the one place that must send it.

    Surrounding whitespace (the newline of a token read from a file) is stripped. A
    token that is not visible ASCII (a space, a control or non-ASCII character inside
    it) cannot travel in an HTTP header: it is refused with a message that names the
    position and kind of the character, and the token's length, but never the token.

    Raises:
        ValueError: The token is empty or holds a character a header cannot carry.

    .. versionadded:: 0.1
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, what: str = "HubSpot token") -> None:
        """Wrap ``value``, stripped of surrounding whitespace; ``what`` names it in errors."""
        if not isinstance(value, str):
            raise TypeError(f"a {what} must be a string, got {type(value).__name__}")
        value = value.strip()
        if not value:
            raise ValueError(f"a {what} must not be empty")
        for position, char in enumerate(value, start=1):
            if not "!" <= char <= "~":
                kind = f"the {'whitespace ' if char.isspace() else ''}character U+{ord(char):04X}"
                raise ValueError(
                    f"the {what} ({len(value)} characters) holds {kind} at position "
                    f"{position}; it is visible ASCII only: check how it was copied"
                )
        self._value = value

    def reveal(self) -> str:
        """The secret itself."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced by ``[redacted]``.

        Also the forms ``repr()`` gives it as ``str`` and as ``bytes`` (a quote or a
        backslash in the token is escaped there), as an error quoting a header shows it.
        """
        value = self._value
        for form in (value, repr(value)[1:-1], repr(value.encode())[2:-1]):
            if form in text:
                text = text.replace(form, _REDACTED)
        return text

    @override
    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__

    @override
    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


#: HubSpot's OAuth token endpoint, relative to the API's base URL: v3. HubSpot's changelog
#: "New OAuth v3 API Endpoints and Standardized Error Responses"
#: (developers.hubspot.com/changelog/new-oauth-v3-api-endpoints-and-standardized-error-
#: responses) introduced ``POST /oauth/v3/token`` (authorization codes and refresh tokens,
#: parameters form-encoded in the body, never the URL) and deprecated the v1 endpoints;
#: its reference (developers.hubspot.com/docs/api-reference/auth-oauth-v3/public-token/
#: post-oauth-v3-token) takes the same form fields as v1 and answers the same
#: ``access_token``, ``refresh_token``, ``expires_in``, ``token_type``. The v1 migration
#: guide (developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/
#: migration-guide) says the v1 endpoints (``/oauth/v1/token``, ``/oauth/v1/access-tokens``,
#: ``/oauth/v1/refresh-tokens``) are deprecated on February 16, 2027, naming the
#: date-versioned ``/oauth/2026-03/token`` as the latest; ``HubSpotOAuth(token_path=…)``
#: takes either. Errors carry RFC 6749's ``error``/``error_description`` besides HubSpot's
#: ``status``/``message``.
OAUTH_TOKEN_PATH: Final = "/oauth/v3/token"
# Refresh this share of an access token's lifetime before it expires (at most 5 min).
_EARLY_SHARE: Final = 0.1
_EARLY_MAX: Final = 300.0
# How many of the latest access tokens are scrubbed from messages.
_RECENT_TOKENS: Final = 8

#: A callable that returns a current access token (from your own secret store or OAuth
#: code); called for the first request and again, once, after HubSpot answers 401.
TokenProvider = Callable[[], str]


@final
class HubSpotOAuth:
    """An OAuth app's credentials for one HubSpot account, for :class:`HubSpotAdapter`.

    The adapter exchanges the refresh token for an access token (``POST
    /oauth/v3/token`` with ``grant_type=refresh_token``, ``client_id``,
    ``client_secret`` and ``refresh_token``, form-encoded in the body; HubSpot retires
    the v1 endpoint, ``/oauth/v1/token``, on February 16, 2027), refreshes it shortly
    before HubSpot's ``expires_in`` runs out (access tokens live 30 minutes), and once
    more when HubSpot answers 401 (an expired or revoked token).

    If HubSpot hands out a new refresh token (rotation: the old one may stop working),
    the adapter uses it from then on, and calls ``on_refresh_token`` with it: store it
    there (a secret store, the file the token came from), or a restarted process would
    start from a refresh token HubSpot no longer takes. A callback that raises is logged
    (without the token) and the sync goes on with the new token in memory.

    Neither the client secret, the refresh token nor any access token appears in
    ``repr``, logs or messages (rule X4); the client id (public: it is in the app's
    install URL) does.

    Args:
        client_id: The app's client id.
        client_secret: The app's client secret.
        refresh_token: The refresh token the account's installation gave.
        access_token: An access token you have already (used until HubSpot refuses it).
        token_path: The token endpoint, relative to the adapter's ``base_url``
            (``/oauth/v3/token``; ``/oauth/2026-03/token`` is the same endpoint in
            HubSpot's date-versioned API).
        on_refresh_token: Called with the new refresh token whenever HubSpot answers
            one that differs from the one sent.

    Raises:
        ValueError: A secret is empty or holds a character a form cannot carry as is
            (the message names the secret and the position, never the value).

    .. versionadded:: 0.3
    """

    __slots__ = (
        "access_token",
        "client_id",
        "client_secret",
        "on_refresh_token",
        "refresh_token",
        "token_path",
    )

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        access_token: str | None = None,
        token_path: str = OAUTH_TOKEN_PATH,
        on_refresh_token: Callable[[str], object] | None = None,
    ) -> None:
        """Hold the credentials; see the class docstring."""
        if not isinstance(client_id, str) or not client_id.strip():
            raise ValueError("a HubSpot OAuth client id must be a non-empty string")
        self.client_id = client_id.strip()
        self.client_secret = Secret(client_secret, "HubSpot client secret")
        self.refresh_token = Secret(refresh_token, "HubSpot refresh token")
        self.access_token = None if access_token is None else Secret(access_token)
        self.token_path = token_path
        self.on_refresh_token = on_refresh_token

    @override
    def __repr__(self) -> str:
        return (
            f"HubSpotOAuth(client_id={self.client_id!r}, client_secret={_REDACTED!r}, "
            f"refresh_token={_REDACTED!r})"
        )

    __str__ = __repr__

    @override
    def __reduce__(self) -> Any:
        raise TypeError("HubSpotOAuth holds secrets and cannot be pickled")


class RateWindow:
    """At most ``limit`` requests in any window of ``seconds`` (thread-safe).

    A request holds a slot from :meth:`acquire` until its response arrives
    (:meth:`release`), and the slot stays taken for ``seconds`` after that. HubSpot
    counts a request when it arrives, which is between those two moments, so requests
    admitted here never exceed HubSpot's rolling window of the same size.

    :meth:`observe` takes HubSpot's ``X-HubSpot-RateLimit-*`` headers into account: a
    stricter policy than the configured one is adopted, and when HubSpot has fewer
    requests left than this window thinks (another client shares the limit), the
    difference is marked used. :meth:`block` pauses every caller (after a 429).

    Args:
        limit: Requests per window.
        seconds: The window's length.
        clock: Monotonic seconds.
        sleep: Waits for the given seconds.
    """

    def __init__(
        self,
        limit: int,
        seconds: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        """Set the limit; see the class docstring for the arguments."""
        if limit < 1 or not seconds > 0:
            raise ValueError(
                f"a rate limit needs limit >= 1 and seconds > 0, got {limit}, {seconds}"
            )
        self.limit = limit
        self.seconds = float(seconds)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._done: deque[float] = deque()
        self._in_flight = 0
        self._blocked_until = -math.inf

    @override
    def __repr__(self) -> str:
        return f"<RateWindow {self.limit} per {self.seconds:g}s>"

    def _prune(self, now: float) -> None:
        edge = now - self.seconds + _EPSILON
        done = self._done
        while done and done[0] <= edge:
            done.popleft()

    def acquire(self) -> None:
        """Wait until a request may be sent, and take a slot for it."""
        while True:
            with self._cond:
                now = self._clock()
                self._prune(now)
                wait = self._blocked_until - now
                if wait <= 0:
                    if len(self._done) + self._in_flight < self.limit:
                        self._in_flight += 1
                        return
                    if not self._done:
                        # Every slot is in flight: wait for a response (other threads).
                        self._cond.wait(timeout=1.0)
                        continue
                    wait = self._done[0] + self.seconds - now
            self._sleep(max(wait, 0.0))

    def release(self) -> None:
        """The response of an acquired request arrived (or it failed to send)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._done.append(self._clock())
            self._cond.notify_all()

    def block(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` from now (HubSpot said 429)."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def observe(self, headers: httpx.Headers) -> None:
        """Adjust to HubSpot's ``X-HubSpot-RateLimit-*`` headers of a response."""
        limit = _int_header(headers, "x-hubspot-ratelimit-max")
        interval_ms = _int_header(headers, "x-hubspot-ratelimit-interval-milliseconds")
        remaining = _int_header(headers, "x-hubspot-ratelimit-remaining")
        with self._cond:
            if limit and interval_ms and limit > 0 and interval_ms > 0:
                seconds = interval_ms / 1000
                if limit / seconds < self.limit / self.seconds:
                    self.limit, self.seconds = limit, seconds
            if remaining is not None:
                now = self._clock()
                self._prune(now)
                free = self.limit - len(self._done) - self._in_flight
                for _ in range(max(0, free - max(0, remaining))):
                    self._done.append(now)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float_header(headers: httpx.Headers, name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@attrs.frozen
class ErrorBody:
    """What a HubSpot error (or one item of a batch's ``errors``) says.

    Every field is optional in HubSpot's error bodies (reference §2).
    """

    status: int
    category: str = ""
    message: str = ""
    correlation_id: str = ""
    codes: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    context: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    policy: str = ""
    sub_category: str = ""
    #: One item of a batch's ``errors`` (its ``status`` is "error", not an HTTP status).
    item: bool = False

    @classmethod
    def parse(
        cls, status: int, data: Any, correlation_id: str = "", *, item: bool = False
    ) -> ErrorBody:
        """Read an error body (a dict), or one item of a batch's ``errors`` (``item``)."""
        if not isinstance(data, Mapping):
            return cls(status, message=str(data)[:500] if data else "")
        codes: list[str] = []
        details: list[str] = []
        context: dict[str, tuple[str, ...]] = {}
        contexts = [data.get("context")]
        for item in data.get("errors") or ():
            if isinstance(item, Mapping):
                if item.get("code"):
                    codes.append(str(item["code"]))
                if item.get("message"):
                    details.append(str(item["message"]))
                contexts.append(item.get("context"))
        for raw_context in contexts:
            if not isinstance(raw_context, Mapping):
                continue
            for key, value in raw_context.items():
                values = value if isinstance(value, list | tuple) else [value]
                found = tuple(str(v) for v in values if v is not None)
                context[str(key)] = context.get(str(key), ()) + found
        sub = data.get("subCategory")
        return cls(
            status=status,
            category=str(data.get("category") or data.get("errorType") or ""),
            message=str(data.get("message") or ""),
            correlation_id=str(data.get("correlationId") or correlation_id or ""),
            codes=tuple(codes),
            details=tuple(details),
            context=context,
            policy=str(data.get("policyName") or ""),
            sub_category=sub if isinstance(sub, str) else "",
            item=item,
        )

    def describe(self) -> str:
        """HubSpot's own words: category, message, details, correlation id."""
        parts = ["HubSpot" if self.item else f"HubSpot {self.status}"]
        if self.category:
            parts[0] += f" {self.category}"
        text = self.message
        extra = [d for d in self.details if d and d not in text]
        if extra:
            text = f"{text} ({'; '.join(extra)})" if text else "; ".join(extra)
        scopes = self.context.get("requiredGranularScopes") or self.context.get("requiredScopes")
        if scopes:
            text += f" [required scopes: {', '.join(scopes)}]"
        message = f"{parts[0]}: {text}" if text else parts[0]
        if self.correlation_id:
            message += f" (correlationId {self.correlation_id})"
        return message


def category_of(error: ErrorBody) -> ErrorCategory:
    """The :class:`ErrorCategory` of a HubSpot error (reference §2).

    ``VALIDATION_ERROR`` is ``VALIDATION``, or ``REQUIRED_FIELD_MISSING`` when HubSpot says
    a required property is missing; ``MISSING_SCOPES`` and 401s are ``PERMISSION``;
    ``CONFLICT`` is ``DUPLICATE`` when a unique value exists already, else ``CONFLICT``;
    ``OBJECT_NOT_FOUND`` and 404 are ``NOT_FOUND``; 429 and 423 are ``RATE_LIMITED``;
    5xx and 477 are ``UNAVAILABLE``.
    """
    category = error.category.upper()
    text = " ".join((error.message, *error.details)).lower()
    if error.status == 401 or category in (
        "INVALID_AUTHENTICATION",
        "EXPIRED_AUTHENTICATION",
        "MISSING_SCOPES",
        "MISSING_SCOPE",
    ):
        return ErrorCategory.PERMISSION
    if error.status == 403:
        return ErrorCategory.PERMISSION
    if error.status in (429, 423) or category in ("RATE_LIMIT", "RATE_LIMITS"):
        return ErrorCategory.RATE_LIMITED
    if error.status >= 500 or error.status == 477:
        return ErrorCategory.UNAVAILABLE
    if category == "VALIDATION_ERROR":
        if _REQUIRED_CODES.intersection(error.codes) or "required" in text:
            return ErrorCategory.REQUIRED_FIELD_MISSING
        return ErrorCategory.VALIDATION
    if category == "CONFLICT" or error.status == 409:
        if "already exists" in text or "existing id" in text or "unique" in text:
            return ErrorCategory.DUPLICATE
        return ErrorCategory.CONFLICT
    if category == "OBJECT_NOT_FOUND" or error.status == 404:
        return ErrorCategory.NOT_FOUND
    if error.status in (400, 414):  # 414: a request line too long for HubSpot's front end
        return ErrorCategory.VALIDATION
    return ErrorCategory.UNKNOWN


@attrs.frozen
class Reply:
    """A response the caller handles itself: 2xx, 207, or a status it accepted."""

    status: int
    data: Any
    correlation_id: str = ""

    def error(self) -> ErrorBody:
        """The reply's body read as an error."""
        return ErrorBody.parse(self.status, self.data, self.correlation_id)


def _decode(response: httpx.Response, secrets: Iterable[Secret]) -> Any:
    content = response.content
    if not content:
        return None
    for secret in secrets:
        token = secret.reveal().encode()
        if token in content:  # an error that quotes the request: never let it travel on
            content = content.replace(token, _REDACTED.encode())
    try:
        return json.loads(content)
    except ValueError:
        return content[:500].decode("utf-8", "replace")


class HttpClient:
    """Sends requests to HubSpot: paced, retried, errors mapped, token hidden.

    Thread-safe: ``httpx.Client`` is, and so are the rate windows.

    Args:
        token: A private app's (or a fixed OAuth) access token; an OAuth app's
            credentials (refreshed as they expire); or a callable returning the current
            token (called again once after a 401).
        base_url: ``https://api.hubapi.com``, or a local fake.
        transport: An ``httpx`` transport (``httpx.MockTransport`` in tests).
        timeout: Seconds before a request times out.
        rate_limit: (requests, seconds) of the ten-second burst limit.
        search_rate: (requests, seconds) of search's own limit.
        max_retries: Retries after the first attempt before giving up.
        backoff: (first delay, longest delay) of the exponential back-off, in seconds.
        clock: Monotonic seconds.
        sleep: Waits the given seconds.
        rng: Jitter source.
    """

    def __init__(
        self,
        token: Secret | HubSpotOAuth | TokenProvider,
        *,
        base_url: str,
        transport: httpx.BaseTransport | None,
        timeout: float,
        rate_limit: tuple[int, float],
        search_rate: tuple[int, float],
        max_retries: int,
        backoff: tuple[float, float],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        """Build the client; see the class docstring for the arguments."""
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self._credentials = token
        #: The access token sent now; ``None`` until the first is obtained.
        self._access: Secret | None = None
        #: Monotonic time after which the access token is renewed before use.
        self._renew_at: float | None = None
        #: The credentials, and the access tokens of late (a bounded number: an old one
        #: can still be quoted by an answer to a request sent with it): scrubbed from
        #: every message.
        self._fixed: list[Secret] = []
        self._recent: deque[Secret] = deque(maxlen=_RECENT_TOKENS)
        self._auth_lock = threading.RLock()
        if isinstance(token, Secret):
            self._access = token
            self._fixed.append(token)
        elif isinstance(token, HubSpotOAuth):
            self._fixed += [token.client_secret, token.refresh_token]
            if token.access_token is not None:
                self._access = token.access_token
                self._recent.append(token.access_token)
        elif not callable(token):
            raise TypeError(
                "token must be a string, a HubSpotOAuth or a callable returning a token, "
                f"got {type(token).__name__}"
            )
        self._clock = clock
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._rng = rng
        self._rng_lock = threading.Lock()
        self.window = RateWindow(*rate_limit, clock=clock, sleep=sleep)
        self.search_window = RateWindow(*search_rate, clock=clock, sleep=sleep)
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "syncengine-hubspot"},
        )
        #: Requests sent, including retries (for tests and benchmarks).
        self.requests = 0
        self._count_lock = threading.Lock()

    @override
    def __repr__(self) -> str:
        return f"<HttpClient {redact_dsn(self.base_url)!r}>"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _delay(self, attempt: int) -> float:
        first, longest = self._backoff
        ceiling = min(longest, first * (2**attempt))
        with self._rng_lock:
            return float(ceiling * (0.5 + self._rng.random() / 2))

    @property
    def _secrets(self) -> list[Secret]:
        return [*self._fixed, *self._recent]

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = secret.scrub(text)
        return text

    # ---- the access token ------------------------------------------------------------

    def _bearer(self) -> str:
        """The access token to send now, renewed first when it is missing or due."""
        with self._auth_lock:
            due = self._renew_at is not None and self._clock() >= self._renew_at
            if self._access is None or due:
                self._renew()
            assert self._access is not None
            return self._access.reveal()

    def _reauthorize(self, sent: str) -> bool:
        """HubSpot answered 401 to ``sent``: renew the token once; whether to resend."""
        with self._auth_lock:
            if self._access is not None and self._access.reveal() != sent:
                return True  # another thread renewed it meanwhile
            if isinstance(self._credentials, Secret):
                return False  # a private app's token: nothing to renew
            self._renew()
            return True

    def _adopt(self, value: str, what: str, *, fixed: bool = False) -> Secret:
        try:
            secret = Secret(value, what)
        except (TypeError, ValueError) as exc:
            raise AdapterError(
                ErrorCategory.PERMISSION, f"renew the HubSpot access token: {exc}"
            ) from None
        (self._fixed.append if fixed else self._recent.append)(secret)
        return secret

    def _renew(self) -> None:
        """Obtain a new access token (caller holds the auth lock)."""
        credentials = self._credentials
        if isinstance(credentials, HubSpotOAuth):
            self._refresh(credentials)
        elif not isinstance(credentials, Secret):
            try:
                value = credentials()
            except AdapterError as exc:
                raise AdapterError(exc.category, self._scrub(exc.message)) from None
            except Exception as exc:  # the provider's own failure, shown without secrets
                raise AdapterError(
                    ErrorCategory.PERMISSION,
                    self._scrub(f"the HubSpot token provider failed: {type(exc).__name__}: {exc}"),
                ) from None
            self._access = self._adopt(value, "HubSpot token")
            self._renew_at = None

    def _refresh(self, oauth: HubSpotOAuth) -> None:
        """Exchange the refresh token for an access token (``POST /oauth/v3/token``)."""
        label = "refresh the HubSpot access token"
        attempt = 0
        while True:
            form = {
                "grant_type": "refresh_token",
                "client_id": oauth.client_id,
                "client_secret": oauth.client_secret.reveal(),
                "refresh_token": oauth.refresh_token.reveal(),
            }
            with self._count_lock:
                self.requests += 1
            try:
                response = self._client.post(oauth.token_path, data=form)
            except httpx.TransportError as exc:
                message = self._scrub(
                    _HEADER_IN_TEXT.sub(r"\1 [redacted]", f"{label}: {type(exc).__name__}: {exc}")
                )
                if attempt >= self.max_retries or isinstance(exc, httpx.LocalProtocolError):
                    raise AdapterError(ErrorCategory.UNAVAILABLE, message) from None
                logger.warning(
                    "%s; retrying (retry %d of %d)", message, attempt + 1, self.max_retries
                )
                self._sleep(self._delay(attempt))
                attempt += 1
                continue
            status = response.status_code
            # A good answer holds the new tokens themselves: read as it is. Any other
            # answer is read scrubbed (it may quote the request).
            data = _decode(response, () if status < 300 else self._secrets)
            if status == 429 or status >= 500:
                error = ErrorBody.parse(status, data)
                message = self._scrub(f"{label}: {error.describe()}")
                if attempt >= self.max_retries:
                    raise AdapterError(category_of(error), message)
                logger.warning(
                    "%s; retrying (retry %d of %d)", message, attempt + 1, self.max_retries
                )
                self._sleep(self._delay(attempt))
                attempt += 1
                continue
            if status >= 300 or not isinstance(data, Mapping):
                word = str(data.get("status") or "") if isinstance(data, Mapping) else ""
                said = (
                    str(data.get("message") or data.get("error_description") or "")
                    if isinstance(data, Mapping)
                    else str(data or "")
                )
                if not word and isinstance(data, Mapping):
                    word = str(data.get("error") or "")  # RFC 6749 (the v3 endpoint)
                correlation = (
                    str(data.get("correlationId") or "") if isinstance(data, Mapping) else ""
                )
                text = f"{label}: HubSpot {status}"
                text += f" {word}" if word and word != "error" else ""
                text += f": {said}" if said else ""
                text += f" (correlationId {correlation})" if correlation else ""
                raise AdapterError(
                    ErrorCategory.PERMISSION,
                    self._scrub(
                        f"{text}. Check the app's client id and client secret, and that the "
                        "refresh token belongs to them; if the app was uninstalled, install "
                        "it again for a new refresh token"
                    ),
                )
            access = data.get("access_token")
            if not isinstance(access, str) or not access.strip():
                raise AdapterError(
                    ErrorCategory.UNAVAILABLE, f"{label}: HubSpot's answer holds no access_token"
                )
            self._access = self._adopt(access, "HubSpot access token")
            renewed = data.get("refresh_token")
            if (
                isinstance(renewed, str)
                and renewed.strip()
                and renewed.strip() != oauth.refresh_token.reveal()
            ):
                oauth.refresh_token = self._adopt(renewed, "HubSpot refresh token", fixed=True)
                self._rotated(oauth)
            lifetime = data.get("expires_in")
            if (
                isinstance(lifetime, int | float)
                and not isinstance(lifetime, bool)
                and lifetime > 0
            ):
                early = min(_EARLY_MAX, float(lifetime) * _EARLY_SHARE)
                self._renew_at = self._clock() + float(lifetime) - early
            else:
                self._renew_at = None  # until HubSpot says 401
            logger.info(
                "renewed the HubSpot access token of OAuth app %s (expires in %ss)",
                oauth.client_id,
                lifetime,
            )
            return

    def _rotated(self, oauth: HubSpotOAuth) -> None:
        """Hand a new refresh token to the owner's ``on_refresh_token`` (if any)."""
        keep = oauth.on_refresh_token
        if keep is None:
            logger.warning(
                "HubSpot gave OAuth app %s a new refresh token; it is kept in memory only "
                "(pass on_refresh_token to HubSpotOAuth to store it, or a restart starts "
                "from the old one)",
                oauth.client_id,
            )
            return
        try:
            keep(oauth.refresh_token.reveal())
        except Exception as exc:  # the sync goes on with the new token in memory
            logger.error(
                "on_refresh_token failed to store OAuth app %s's new refresh token (the "
                "sync goes on with it in memory; store it before the process ends): %s",
                oauth.client_id,
                self._scrub(f"{type(exc).__name__}: {exc}"),
            )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        search: bool = False,
        idempotent: bool = True,
        accept: Iterable[int] = (),
        what: str = "",
    ) -> Reply:
        """Send one request, pacing and retrying it; return the reply.

        Args:
            method: The HTTP method.
            path: The path under the base URL.
            params: Query parameters.
            json_body: The JSON body.
            search: Pace by search's own limit instead of the ten-second limit.
            idempotent: Whether sending it twice is harmless; creates are not, and are
                retried only when HubSpot cannot have processed them.
            accept: Error statuses to return as a :class:`Reply` instead of raising.
            what: What the request does, for messages ("create contacts").

        Raises:
            AdapterError: The request failed for good: ``PERMISSION`` (401/403),
                ``RATE_LIMITED`` (429 after retries, a daily limit, 423),
                ``UNAVAILABLE`` (5xx, 477, timeouts, connection errors), ``NOT_FOUND``
                (404) or ``VALIDATION`` (400), with HubSpot's message and correlation id.
        """
        accepted = frozenset(accept)
        window = self.search_window if search else self.window
        label = what or f"{method} {path}"
        attempt = 0
        reauthorized = False
        while True:
            bearer = self._bearer()
            window.acquire()
            try:
                with self._count_lock:
                    self.requests += 1
                response = self._client.request(
                    method,
                    path,
                    params=params,
                    json=json_body,
                    headers={"Authorization": f"Bearer {bearer}"},
                )
            except httpx.TransportError as exc:
                window.release()
                text = f"{label}: {type(exc).__name__}: {exc}"
                message = self._scrub(_HEADER_IN_TEXT.sub(r"\1 [redacted]", text))
                if isinstance(exc, httpx.LocalProtocolError):
                    # The request itself is malformed: sending it again cannot help, and
                    # the exception's text may quote a header (the token): not chained.
                    raise AdapterError(ErrorCategory.VALIDATION, message) from None
                not_sent = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                if (not idempotent and not not_sent) or attempt >= self.max_retries:
                    if message != text:  # the cause's text carries what was redacted
                        raise AdapterError(ErrorCategory.UNAVAILABLE, message) from None
                    raise AdapterError(ErrorCategory.UNAVAILABLE, message) from exc
                delay = self._delay(attempt)
                logger.warning(
                    "%s; retrying in %.2fs (retry %d of %d)",
                    message,
                    delay,
                    attempt + 1,
                    self.max_retries,
                )
                self._sleep(delay)
                attempt += 1
                continue
            window.release()
            status = response.status_code
            if not search:
                window.observe(response.headers)
            correlation = response.headers.get("x-hubspot-correlation-id", "")
            if status == 401 and not reauthorized and self._reauthorize(bearer):
                # An expired (or revoked) OAuth token: HubSpot did nothing; once more.
                reauthorized = True
                continue
            if 200 <= status < 300 or status in accepted:
                return Reply(status, _decode(response, self._secrets), correlation)
            error = ErrorBody.parse(status, _decode(response, self._secrets), correlation)
            message = self._scrub(f"{label}: {error.describe()}")
            if error.category.upper() == "EXPIRED_AUTHENTICATION" and not reauthorized:
                message += (
                    "; an OAuth access token expires after 30 minutes: give HubSpotAdapter "
                    "a HubSpotOAuth (client id, client secret, refresh token) to renew it"
                )
            retry_after = _float_header(response.headers, "retry-after")
            if status == 429:
                if error.policy.upper() == "DAILY":
                    raise AdapterError(
                        ErrorCategory.RATE_LIMITED,
                        message,
                        retry_after=retry_after if retry_after is not None else _DAILY_RETRY_AFTER,
                    )
                wait = retry_after
                if wait is None:
                    interval = _int_header(
                        response.headers, "x-hubspot-ratelimit-interval-milliseconds"
                    )
                    if interval:
                        wait = interval / 1000
                    elif search or "secondly limit" in error.message.lower():
                        wait = 1.0
                    else:
                        wait = 10.0
                window.block(wait)
                if attempt >= self.max_retries:
                    raise AdapterError(ErrorCategory.RATE_LIMITED, message, retry_after=wait)
                logger.warning(
                    "%s; waiting %.2fs for the rate window (retry %d of %d)",
                    message,
                    wait,
                    attempt + 1,
                    self.max_retries,
                )
                attempt += 1
                continue
            if status in _RETRIED_STATUSES or status >= 500:
                category = (
                    ErrorCategory.RATE_LIMITED if status == 423 else ErrorCategory.UNAVAILABLE
                )
                delay = self._delay(attempt)
                if status == 423:
                    delay = max(delay, _LOCK_WAIT)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                if (
                    attempt >= self.max_retries
                    or delay > _MAX_WAIT
                    or (not idempotent and status not in _NOT_PROCESSED)
                ):
                    raise AdapterError(category, message, retry_after=retry_after)
                logger.warning(
                    "%s; retrying in %.2fs (retry %d of %d)",
                    message,
                    delay,
                    attempt + 1,
                    self.max_retries,
                )
                self._sleep(delay)
                attempt += 1
                continue
            raise AdapterError(category_of(error), message)
