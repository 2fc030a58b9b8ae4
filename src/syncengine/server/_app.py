"""The console: server-rendered pages over one sync, its actions, and the webhook endpoint.

Every page is plain HTML rendered here (Jinja2 with autoescaping: every record value is
hostile input and shows as text), usable without JavaScript; the pages send a strict
Content-Security-Policy that forbids scripts altogether. Actions are POST forms behind a
confirmation page, each with a CSRF token. With a console token, every page and action
needs it (a sign-in form sets an HttpOnly, SameSite=Strict cookie; API clients may send
``Authorization: Bearer …`` instead); without one, the console answers only requests
addressed to this machine (``localhost``, ``127.0.0.1``, ``::1``), which stops DNS
rebinding.

No secret reaches a page: the pages never show the config's options, and every error
text is scrubbed of the secrets this process knows and of connection-string passwords.

.. versionadded:: 0.2
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import tempfile
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs
import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from syncengine._redact import scrub_secrets
from syncengine.engine import SyncEngine
from syncengine.errors import IndexStoreError, SyncDisabledError, SyncEngineError
from syncengine.history import PassRecord
from syncengine.index.base import keeps_history
from syncengine.records import ChangeEvent, Side
from syncengine.server._chart import pass_chart
from syncengine.server._runner import PassRunner, RunnerBusy
from syncengine.states import ErrorCategory, RecordState
from syncengine.status import EntryView, RestorePlan, shown, shown_properties
from syncengine.webhooks import ASGIApp, WebhookReceiver, asgi_app

__all__ = ["build_app"]

_TEMPLATES: Final = Path(__file__).parent / "templates"
_COOKIE: Final = "syncengine_session"
_PAGE_SIZE: Final = 50
_FAILURES_PER_GROUP: Final = 20
_PLAN_SHOWN: Final = 200
_HISTORY_SHOWN: Final = 20
_CHART_PASSES: Final = 50
#: Host names that reach only this machine: without a token, the console answers only them.
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class _HTTPProblem(Exception):
    """Answer the request with ``status`` and a page saying ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _took(record: PassRecord) -> str:
    seconds = max((record.finished_at - record.started_at).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def _duration_text(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g}s"


@attrs.frozen
class _CountRow:
    object_type: str
    synced: int
    failed: int
    excluded: int
    queued: int
    initial: int

    def query(self, state: str) -> str:
        return urllib.parse.urlencode({"object": self.object_type, "state": state})


@attrs.frozen
class _FailureGroup:
    object_type: str
    category: str
    hint: str
    count: int
    rows: tuple[EntryView, ...]
    first_of_type: bool

    @property
    def more_query(self) -> str:
        return urllib.parse.urlencode({"object": self.object_type, "state": "failed"})


@attrs.frozen
class _RestoreRow:
    object_type: str
    sides: tuple[tuple[str, int], ...]

    def query(self, side: str) -> str:
        return urllib.parse.urlencode({"object": self.object_type, "to": side})


def _record_query(row: EntryView, side: str | None = None) -> str:
    if side is None:
        side = "hub" if row.hub_id is not None else "app"
    rid = row.hub_id if side == "hub" else row.app_id
    return urllib.parse.urlencode({"side": side, "type": row.object_type, "id": rid or ""})


def _parse_time(text: str, name: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise _HTTPProblem(
            400, f"{name}: {text[:40]!r} is not an ISO 8601 date or time (2024-05-01T12:00Z)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def plan_digest(plan: RestorePlan) -> str:
    """A short fingerprint of a restore plan: which entries it re-creates, and where."""
    digest = hashlib.sha256(f"{plan.object_type}\0{plan.destination.value}".encode())
    for entry_id in sorted(item.entry_id for item in plan):
        digest.update(b"\0" + entry_id.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


class _Console:
    """The pages and actions of one sync."""

    def __init__(
        self,
        engine: SyncEngine,
        runner: PassRunner,
        *,
        token: str | None,
        secrets_: Sequence[str],
        allowed_hosts: Iterable[str] | None,
        interval_shown: float,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.token = token
        self.secrets = tuple(s for s in secrets_ if s)
        self.key = secrets.token_bytes(32)
        hosts = set(LOCAL_HOSTS) if allowed_hosts is None else set(allowed_hosts)
        self.allowed_hosts = frozenset(h.lower().strip("[]") for h in hosts)
        self.interval = interval_shown
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATES),
            autoescape=True,  # every template is HTML: every value is escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Entry messages and history quote apps' errors: never a secret this process knows.
        self.env.filters["scrub"] = self.scrub
        self.css = (_TEMPLATES / "console.css").read_bytes()
        self.webhooks = False

    # ---- security ------------------------------------------------------------------
    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def _session(self, request: Request) -> str | None:
        """The session's nonce, if its cookie is one this process issued."""
        raw = request.cookies.get(_COOKIE, "")
        nonce, _, signature = raw.partition(".")
        if not nonce or not signature:
            return None
        expected = self._sign(f"session|{nonce}|{'auth' if self.token else 'anon'}")
        return nonce if hmac.compare_digest(expected, signature) else None

    def _issue(self, response: Response, request: Request, nonce: str) -> None:
        """Set the session cookie of ``nonce`` on ``response``."""
        mode = "auth" if self.token else "anon"
        response.set_cookie(
            _COOKIE,
            f"{nonce}.{self._sign(f'session|{nonce}|{mode}')}",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    def _bearer(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return (
            self.token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), self.token.encode())
        )

    def _host_ok(self, request: Request) -> bool:
        if self.token is not None:
            return True  # the token guards; the host may be any name the server has
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
        return name.lower() in self.allowed_hosts

    def csrf_for(self, nonce: str | None) -> str:
        return self._sign(f"csrf|{nonce}") if nonce else ""

    def _check_csrf(self, request: Request, form: Mapping[str, str]) -> None:
        if self._bearer(request):
            return  # not a browser's ambient credential: no cross-site request carries it
        # The token is the session's own (an HMAC of its cookie's nonce, which is
        # SameSite=Strict): a page elsewhere can neither read it nor send the cookie. The
        # Origin header is not compared: behind a proxy the Host the server sees is not
        # the one the browser used.
        nonce = self._session(request)
        given = form.get("csrf", "")
        if nonce is None or not given or not hmac.compare_digest(self.csrf_for(nonce), given):
            raise _HTTPProblem(
                403,
                "refused: the form's CSRF token is missing or not this session's; reload "
                "the page and try again",
            )

    # ---- rendering -----------------------------------------------------------------
    def _enabled(self) -> bool:
        """Whether the sync is on; a damaged setting shows as off, so the Actions page
        offers to turn it on, which writes the setting anew (passes name the damage)."""
        try:
            return self.engine.enabled
        except IndexStoreError:
            return False

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        nonce = self._session(request)
        engine = self.engine
        fresh = nonce is None and self.token is None
        if fresh:
            nonce = secrets.token_urlsafe(18)  # issued with this response, below
        base = {
            "root": request.scope.get("root_path", "").rstrip("/"),
            "sync_id": engine.sync_id,
            "hub_name": engine.hub.name,
            "app_name": engine.app.name,
            "enabled": self._enabled(),
            "signed_in": self.token is not None and nonce is not None,
            "csrf": self.csrf_for(nonce),
            "show_nav": self.token is None or nonce is not None or self._bearer(request),
            "page": "",
            "title": "",
        }
        base.update(context)
        html = self.env.get_template(name).render(**base)
        response = HTMLResponse(html, status_code=status, headers=dict(_HEADERS))
        if fresh and nonce is not None:
            self._issue(response, request, nonce)
        return response

    def problem(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(
            request,
            "message.html",
            status,
            title={
                400: "Bad request",
                401: "Refused",
                403: "Refused",
                404: "Not found",
                409: "Not now",
            }.get(status, "Problem"),
            kind="problem",
            lines=[self.scrub(message)],
            table=None,
            links=[("Overview", "/")],
        )

    def scrub(self, text: str) -> str:
        return scrub_secrets(text, self.secrets)

    # ---- the wrapper every page goes through ----------------------------------------
    def page(
        self, handler: Callable[[Request], Awaitable[Response]], *, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not self._host_ok(request):
                return Response(
                    "refused: this console answers only requests to localhost "
                    "(start it with --token to serve other names)\n",
                    status_code=403,
                    media_type="text/plain",
                    headers=dict(_HEADERS),
                )
            signed_in = (
                self.token is None or self._session(request) is not None or self._bearer(request)
            )
            try:
                if not signed_in:
                    if post:
                        raise _HTTPProblem(401, "refused: sign in first (the console token)")
                    target = urllib.parse.urlencode({"next": _local_path(request)})
                    root = request.scope.get("root_path", "").rstrip("/")
                    return RedirectResponse(f"{root}/login?{target}", 303, headers=dict(_HEADERS))
                if post:
                    form = await _form(request)
                    self._check_csrf(request, form)
                    request.state.form = form
                return await handler(request)
            except _HTTPProblem as exc:
                return self.problem(request, exc.status, exc.message)

        return endpoint

    # ---- sign in / out -------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        if not self._host_ok(request):
            return Response("refused\n", status_code=403, media_type="text/plain")
        if self.token is None:
            return RedirectResponse(request.scope.get("root_path", "") + "/", 303)
        return self.render(
            request,
            "login.html",
            title="Sign in",
            failed=False,
            next=_safe_next(request.query_params.get("next", "/")),
            show_nav=False,
        )

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        given = form.get("token", "")
        root = request.scope.get("root_path", "").rstrip("/")
        if self.token is None:
            return RedirectResponse(root + "/", 303)
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return self.render(
                request,
                "login.html",
                401,
                title="Sign in",
                failed=True,
                next=_safe_next(form.get("next", "/")),
                show_nav=False,
            )
        response = RedirectResponse(root + _safe_next(form.get("next", "/")), 303)
        self._issue(response, request, secrets.token_urlsafe(18))
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse(request.scope.get("root_path", "").rstrip("/") + "/login", 303)
        response.delete_cookie(_COOKIE, path="/")
        return response

    async def css_file(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    # ---- pages ---------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        data = await run_in_threadpool(self._overview_data)
        return self.render(request, "overview.html", title="Overview", page="overview", **data)

    def _overview_data(self) -> dict[str, Any]:
        engine = self.engine
        status = engine.status()
        counts = [
            _CountRow(s.object_type, s.synced, s.failed, s.excluded, s.queued, s.initial)
            for s in status.values()
        ]
        initial_running = engine.initial_sync_running
        progress = self.runner.progress
        initial_progress = ""
        if initial_running:
            done = sum(s.synced + s.failed + s.excluded for s in status.values())
            waiting = sum(s.initial + s.queued for s in status.values())
            initial_progress = f"{done:,} records done, {waiting:,} waiting"
        running = ""
        if progress is not None:
            running = f"{progress.kind} (since {progress.started_at:%H:%M:%S} UTC"
            if progress.phase:
                running += f"; {progress.object_type or ''} {progress.phase}: "
                running += f"{progress.processed:,} records"
            running += ")"
        passes: list[PassRecord] = []
        history_note = ""
        if keeps_history(engine.index):
            # A pass's detail is an error message: it may quote a secret only this
            # process knows (the token, the webhook secret).
            passes = [
                attrs.evolve(p, detail=self.scrub(p.detail)) if p.detail else p
                for p in engine.index.passes(engine.sync_id, limit=_CHART_PASSES)
            ]
        else:
            history_note = "This index store keeps no pass history."
        inbox: int | None = None
        with contextlib.suppress(NotImplementedError):
            inbox = engine.index.inbox_count(engine.sync_id)
        last_error = self.runner.last_error
        last = self.runner.last_report
        return {
            "last_pass": self.scrub(last.summary()) if last is not None else "",
            "counts": counts,
            "initial_running": initial_running,
            "initial_progress": initial_progress,
            "running": running,
            "interval": _duration_text(self.interval) if self.interval else "",
            "inbox": inbox,
            "passes": passes[:_HISTORY_SHOWN],
            "chart": pass_chart(list(reversed(passes))) if passes else None,
            "history_note": history_note,
            "took": _took,
            "last_error": self.scrub(last_error) if last_error else "",
        }

    async def failures(self, request: Request) -> Response:
        groups = await run_in_threadpool(self._failure_groups)
        return self.render(
            request,
            "failures.html",
            title="Failures",
            page="failures",
            groups=groups,
            record_query=_record_query,
        )

    def _failure_groups(self) -> list[_FailureGroup]:
        counts: Counter[tuple[str, ErrorCategory]] = Counter()
        rows: dict[tuple[str, ErrorCategory], list[EntryView]] = {}
        for row in self.engine.records(state=RecordState.FAILED):
            category = row.category or ErrorCategory.UNKNOWN
            key = (row.object_type, category)
            counts[key] += 1
            shown_rows = rows.setdefault(key, [])
            if len(shown_rows) < _FAILURES_PER_GROUP:
                shown_rows.append(row)
        groups = []
        seen: set[str] = set()
        for object_type, category in sorted(counts):
            groups.append(
                _FailureGroup(
                    object_type,
                    category.value,
                    category.hint,
                    counts[object_type, category],
                    tuple(rows[object_type, category]),
                    object_type not in seen,
                )
            )
            seen.add(object_type)
        return groups

    def _filters(self, request: Request) -> dict[str, str]:
        params = request.query_params
        filters = {k: params.get(k, "").strip() for k in ("object", "state", "since", "until")}
        objects = [o.hub_type for o in self.engine.config.objects]
        if filters["object"] and filters["object"] not in objects:
            raise _HTTPProblem(
                400, f"object: {filters['object'][:60]!r} is not a synced object type"
            )
        if filters["state"] and filters["state"] not in {s.value for s in RecordState}:
            raise _HTTPProblem(400, f"state: {filters['state'][:40]!r} is not a state")
        return filters

    async def records(self, request: Request) -> Response:
        filters = self._filters(request)
        after = request.query_params.get("after") or None
        since = _parse_time(filters["since"], "since")
        until = _parse_time(filters["until"], "until")

        def page() -> tuple[list[EntryView], str | None]:
            engine = self.engine
            entries, cursor = engine.index.entries_page(
                engine.sync_id,
                filters["object"] or None,
                states={RecordState(filters["state"])} if filters["state"] else None,
                since=since,
                until=until,
                after=after,
                limit=_PAGE_SIZE,
            )
            views = []
            for entry in entries:
                matched = None
                if entry.matched_by:
                    try:
                        matched = engine.plan_for(entry.object_type).key_name(entry.matched_by)
                    except KeyError:  # an object sync the config no longer has
                        matched = entry.matched_by
                views.append(EntryView.of(entry, matched))
            return views, cursor

        try:
            rows, cursor = await run_in_threadpool(page)
        except ValueError as exc:
            raise _HTTPProblem(400, f"cannot show that page: {exc}") from None
        kept = {k: v for k, v in filters.items() if v}
        return self.render(
            request,
            "records.html",
            title="Records",
            page="records",
            rows=rows,
            filters=filters,
            objects=[o.hub_type for o in self.engine.config.objects],
            states=[s.value for s in RecordState],
            export_query=urllib.parse.urlencode(kept),
            first_query=urllib.parse.urlencode(kept) if after else None,
            next_query=urllib.parse.urlencode({**kept, "after": cursor}) if cursor else "",
            record_query=_record_query,
        )

    async def export(self, request: Request) -> Response:
        filters = self._filters(request)
        fmt = request.query_params.get("format", "csv")
        if fmt not in ("csv", "jsonl"):
            raise _HTTPProblem(400, f"format: expected csv or jsonl, got {fmt[:20]!r}")
        since = _parse_time(filters["since"], "since")
        until = _parse_time(filters["until"], "until")
        spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by the stream below
            max_size=8 << 20, mode="w+", encoding="utf-8", errors="backslashreplace", newline=""
        )

        def write() -> None:
            self.engine.export(
                spool,
                "jsonl" if fmt == "jsonl" else "csv",
                object_type=filters["object"] or None,
                state=filters["state"] or None,
                since=since,
                until=until,
            )
            spool.seek(0)

        try:
            await run_in_threadpool(write)
        except BaseException:
            spool.close()
            raise

        async def stream() -> AsyncIterator[bytes]:
            try:
                while True:
                    chunk = await run_in_threadpool(spool.read, 1 << 16)
                    if not chunk:
                        return
                    yield chunk.encode("utf-8", "backslashreplace")
            finally:
                spool.close()

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.engine.sync_id}-records-{stamp}.{fmt}"
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
        headers = dict(_HEADERS)
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        return StreamingResponse(stream(), media_type=media, headers=headers)

    def _record_args(self, params: Mapping[str, str]) -> tuple[Side, str, str]:
        side = params.get("side", "")
        object_type = params.get("type", "")
        record_id = params.get("id", "")
        if side not in ("hub", "app"):
            raise _HTTPProblem(400, "side: expected hub or app")
        if not object_type or not record_id:
            raise _HTTPProblem(400, "type and id: both are needed")
        return Side(side), object_type, record_id

    async def record(self, request: Request) -> Response:
        side, object_type, record_id = self._record_args(request.query_params)
        try:
            explanation = await run_in_threadpool(self.engine.explain, side, object_type, record_id)
        except KeyError as exc:
            raise _HTTPProblem(404, str(exc.args[0]) if exc.args else "not found") from None
        except SyncEngineError as exc:
            raise _HTTPProblem(502, f"cannot read the record now: {exc}") from None
        entry = explanation.entry
        actions: list[tuple[str, str]] = []
        root = request.scope.get("root_path", "").rstrip("/")
        if entry.state is RecordState.FAILED:
            query = urllib.parse.urlencode(
                {"side": side.value, "type": object_type, "id": record_id}
            )
            actions.append(("Retry now…", f"{root}/actions/retry?{query}"))
            if entry.category is ErrorCategory.DELETED:
                gone = Side.HUB if entry.hub_id is None or not explanation.hub_found else Side.APP
                restore = urllib.parse.urlencode({"object": entry.object_type, "to": gone.value})
                actions.append(
                    (f"Restore deleted {entry.object_type}…", f"{root}/actions/restore?{restore}")
                )
        return self.render(
            request,
            "record.html",
            title=f"{entry.object_type} record",
            page="records",
            x=explanation,
            shown=shown,
            actions=actions,
        )

    # ---- actions ---------------------------------------------------------------------
    async def actions(self, request: Request) -> Response:
        return self.render(
            request,
            "actions.html",
            title="Actions",
            page="actions",
            restorable=await run_in_threadpool(self._restorable),
        )

    def _restorable(self) -> list[_RestoreRow]:
        """Per object type, how many records were deleted in each app (what a restore
        lists, without reading the apps)."""
        engine = self.engine
        rows = []
        for obj in engine.config.objects:
            deleted: Counter[Side] = Counter()
            for entry in engine.index.entries(
                engine.sync_id, obj.hub_type, states={RecordState.FAILED}
            ):
                if entry.category is ErrorCategory.DELETED and entry.deleted is not None:
                    deleted[entry.deleted] += 1
            rows.append(
                _RestoreRow(
                    obj.hub_type, tuple((s.value, deleted[s]) for s in (Side.HUB, Side.APP))
                )
            )
        return rows

    def _restore_args(self, params: Mapping[str, str]) -> tuple[str, Side]:
        object_type = params.get("object", "")
        destination = params.get("to", "")
        if object_type not in {o.hub_type for o in self.engine.config.objects}:
            raise _HTTPProblem(400, f"object: {object_type[:60]!r} is not a synced object type")
        if destination not in ("hub", "app"):
            raise _HTTPProblem(400, "to: expected hub or app")
        return object_type, Side(destination)

    async def restore_review(self, request: Request) -> Response:
        object_type, destination = self._restore_args(request.query_params)
        try:
            plan = await run_in_threadpool(self.engine.plan_restore, object_type, destination)
        except SyncEngineError as exc:
            raise _HTTPProblem(502, f"cannot list the deleted records now: {exc}") from None
        items = [
            (
                item.entry_id,
                "index copy (both gone)"
                if item.from_index_copy
                else f"{item.source.value} {item.source_id}",
                shown_properties(item.properties),
            )
            for item in list(plan)[:_PLAN_SHOWN]
        ]
        count = len(plan)
        question = (
            f"Restore {count:,} {object_type} record(s) into the {destination.value}? Each is "
            f"re-created from the surviving copy, with the values below."
            if count
            else f"Nothing to restore: no {object_type} record was deleted in the "
            f"{destination.value}."
        )
        return self.render(
            request,
            "confirm.html",
            title="Restore deleted records",
            page="actions",
            question=question,
            headings=("entry", "from", "values"),
            items=items,
            more=max(count - _PLAN_SHOWN, 0),
            can_confirm=bool(count),
            action="/actions/restore",
            fields=[
                ("object", object_type),
                ("to", destination.value),
                ("plan", plan_digest(plan)),
            ],
            confirm_label=f"Restore {count:,} record(s)",
            cancel="/actions",
        )

    async def restore(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        object_type, destination = self._restore_args(form)

        def run() -> tuple[RestorePlan, Any] | None:
            def act() -> tuple[RestorePlan, Any] | None:
                plan = self.engine.plan_restore(object_type, destination)
                if plan_digest(plan) != form.get("plan", ""):
                    return None
                return plan, self.engine.restore(plan)

            return self.runner.call("restore", act)

        try:
            done = await run_in_threadpool(run)
        except RunnerBusy as exc:
            raise _HTTPProblem(409, f"nothing restored: {exc}") from None
        except SyncDisabledError:
            raise _HTTPProblem(
                409, "nothing restored: the sync is off; turn it on first (Actions)"
            ) from None
        except SyncEngineError as exc:
            raise _HTTPProblem(502, f"the restore stopped: {exc}") from None
        query = urllib.parse.urlencode({"object": object_type, "to": destination.value})
        if done is None:
            raise _HTTPProblem(
                409,
                "nothing restored: the list of deleted records changed since you reviewed "
                f"it. Review it again: /actions/restore?{query}",
            )
        plan, report = done
        return self.render(
            request,
            "message.html",
            title="Restored",
            page="actions",
            kind="done",
            lines=[
                f"Restored {report.created:,} of {len(plan):,} {object_type} record(s) into "
                f"the {destination.value}.",
                self.scrub(report.summary()),
                *(self.scrub(str(e)) for e in report.errors),
            ],
            table=None,
            links=[("Overview", "/"), ("Failures", "/failures"), ("Actions", "/actions")],
        )

    async def sync_review(self, request: Request) -> Response:
        turn = request.query_params.get("turn", "")
        if turn not in ("on", "off"):
            raise _HTTPProblem(400, "turn: expected on or off")
        question = (
            "Turn the sync off? Passes will write nothing, and the apps' cursors stay where "
            "they are, until it is turned on again."
            if turn == "off"
            else "Turn the sync on? The next pass syncs what changed while it was off."
        )
        return self.render(
            request,
            "confirm.html",
            title=f"Turn the sync {turn}",
            page="actions",
            question=question,
            headings=(),
            items=[],
            more=0,
            can_confirm=True,
            action="/actions/sync",
            fields=[("turn", turn)],
            confirm_label=f"Turn it {turn}",
            cancel="/actions",
        )

    async def sync_turn(self, request: Request) -> Response:
        turn = request.state.form.get("turn", "")
        if turn not in ("on", "off"):
            raise _HTTPProblem(400, "turn: expected on or off")
        await run_in_threadpool(self.engine.disable if turn == "off" else self.engine.enable)
        return self.render(
            request,
            "message.html",
            title=f"The sync is {turn}",
            page="actions",
            kind="done",
            lines=[f"The sync is {turn}."],
            table=None,
            links=[("Overview", "/"), ("Actions", "/actions")],
        )

    async def retry_review(self, request: Request) -> Response:
        side, object_type, record_id = self._record_args(request.query_params)
        return self.render(
            request,
            "confirm.html",
            title="Retry a record now",
            page="actions",
            question=(
                f"Retry the {side.value} {object_type} record {record_id} now? It is read "
                "again from the app and synced as a change would be."
            ),
            headings=(),
            items=[],
            more=0,
            can_confirm=True,
            action="/actions/retry",
            fields=[("side", side.value), ("type", object_type), ("id", record_id)],
            confirm_label="Retry now",
            cancel="/record?"
            + urllib.parse.urlencode({"side": side.value, "type": object_type, "id": record_id}),
        )

    async def retry(self, request: Request) -> Response:
        side, object_type, record_id = self._record_args(request.state.form)

        def act() -> Any:
            engine = self.engine
            engine.explain(side, object_type, record_id)  # KeyError: no such entry
            return engine.handle_events(side, [ChangeEvent(object_type, record_id, "updated")])

        try:
            report = await run_in_threadpool(self.runner.call, "retry", act)
        except RunnerBusy as exc:
            raise _HTTPProblem(409, f"not retried: {exc}") from None
        except KeyError as exc:
            raise _HTTPProblem(404, str(exc.args[0]) if exc.args else "not found") from None
        except SyncDisabledError:
            raise _HTTPProblem(409, "not retried: the sync is off; turn it on first") from None
        except SyncEngineError as exc:
            raise _HTTPProblem(502, f"not retried: {exc}") from None
        back = "/record?" + urllib.parse.urlencode(
            {"side": side.value, "type": object_type, "id": record_id}
        )
        lines = [self.scrub(report.summary()), *(self.scrub(str(e)) for e in report.errors)]
        return self.render(
            request,
            "message.html",
            title="Retried",
            page="actions",
            kind="done",
            lines=lines,
            table=None,
            links=[("Back to the record", back), ("Failures", "/failures")],
        )


def _local_path(request: Request) -> str:
    path = request.url.path
    root = request.scope.get("root_path", "").rstrip("/")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    query = request.url.query
    return path + (f"?{query}" if query else "")


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path of this console, never another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, each field once (the first)."""
    body = await request.body()
    if len(body) > 64 << 10:
        raise _HTTPProblem(413, "the form is too large")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=50
        )
    except (UnicodeDecodeError, ValueError):
        raise _HTTPProblem(400, "the form could not be read") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


class _RawASGI:
    """An ASGI application as a route's endpoint (a plain function would be taken for a
    request handler)."""

    def __init__(self, application: ASGIApp) -> None:
        self._app = application

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        await self._app(scope, receive, send)


def build_app(
    engine: SyncEngine,
    runner: PassRunner,
    *,
    token: str | None = None,
    webhook_secret: str | None = None,
    webhook_path: str = "/webhooks/hubspot",
    public_url: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    secrets_: Sequence[str] = (),
    on_shutdown: Callable[[], None] | None = None,
) -> Starlette:
    """The console of ``engine`` as a Starlette application (see :func:`syncengine.server.app`)."""
    console = _Console(
        engine,
        runner,
        token=token,
        secrets_=[*secrets_, *(s for s in (token, webhook_secret) if s)],
        allowed_hosts=allowed_hosts,
        interval_shown=runner.interval,
    )
    page = console.page
    routes = [
        Route("/", page(console.overview), methods=["GET", "HEAD"]),
        Route("/failures", page(console.failures), methods=["GET", "HEAD"]),
        Route("/records", page(console.records), methods=["GET", "HEAD"]),
        Route("/records/export", page(console.export), methods=["GET"]),
        Route("/record", page(console.record), methods=["GET", "HEAD"]),
        Route("/actions", page(console.actions), methods=["GET", "HEAD"]),
        Route("/actions/restore", page(console.restore_review), methods=["GET", "HEAD"]),
        Route("/actions/restore", page(console.restore, post=True), methods=["POST"]),
        Route("/actions/sync", page(console.sync_review), methods=["GET", "HEAD"]),
        Route("/actions/sync", page(console.sync_turn, post=True), methods=["POST"]),
        Route("/actions/retry", page(console.retry_review), methods=["GET", "HEAD"]),
        Route("/actions/retry", page(console.retry, post=True), methods=["POST"]),
        Route("/login", console.login_page, methods=["GET", "HEAD"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", page(console.logout, post=True), methods=["POST"]),
        Route("/static/console.css", console.css_file, methods=["GET", "HEAD"]),
    ]
    if webhook_secret is not None:
        receiver = WebhookReceiver(engine, webhook_secret)
        endpoint = _RawASGI(asgi_app(receiver, public_url=public_url))
        routes.insert(0, Route(webhook_path, endpoint, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runner.start()
        try:
            yield
        finally:
            await asyncio.to_thread(runner.stop, 5.0)
            if on_shutdown is not None:
                await asyncio.to_thread(on_shutdown)

    application = Starlette(routes=routes, lifespan=lifespan)
    console.webhooks = webhook_secret is not None
    application.state.console = console
    application.state.runner = runner
    return application
