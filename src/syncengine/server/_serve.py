"""Build the console application: from an engine, or from a config file.

.. versionadded:: 0.2
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette

from syncengine.configfile import ConfigFile, ConfigFileError, read_config
from syncengine.engine import SyncEngine
from syncengine.errors import ConfigError
from syncengine.server._app import LOCAL_HOSTS, build_app
from syncengine.server._runner import PassRunner

__all__ = ["MIN_TOKEN", "TOKEN_ENV", "app", "app_from_config", "check_token", "is_local"]

#: The environment variable ``syncengine serve`` reads the console token from.
TOKEN_ENV: Final = "SYNCENGINE_TOKEN"
#: The shortest console token accepted.
MIN_TOKEN: Final = 16


def is_local(host: str) -> bool:
    """Whether binding to ``host`` serves this machine only."""
    return host.strip("[]").lower() in LOCAL_HOSTS


def check_token(token: str | None) -> str | None:
    """``token`` if it is acceptable as a console token (or ``None``).

    Raises:
        ValueError: it is shorter than :data:`MIN_TOKEN` characters or holds whitespace or
            control characters (the message never repeats it).
    """
    if token is None:
        return None
    token = token.strip()
    if len(token) < MIN_TOKEN or any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError(
            f"the console token must be at least {MIN_TOKEN} characters, without spaces "
            f"(it has {len(token)}); make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(24))'"
        )
    return token


def app(
    engine: SyncEngine,
    *,
    token: str | None = None,
    interval: float = 0,
    webhook_secret: str | None = None,
    webhook_path: str = "/webhooks/hubspot",
    public_url: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    runner: PassRunner | None = None,
    secrets: Iterable[str] = (),
) -> Starlette:
    """The console of ``engine``, with its webhook endpoint, as an ASGI application.

    Mount it in your own service, or serve it with any ASGI server (``uvicorn``). The
    scheduled passes start with the application (its ``lifespan``) and stop with it.

    Args:
        engine: The sync. For the overview to show a running pass's progress, build it
            with ``on_event=runner.on_event`` and pass that ``runner``.
        token: The console token: with it, every page and action needs it (a sign-in form,
            or an ``Authorization: Bearer`` header). Without it, the console answers only
            requests addressed to ``localhost``, ``127.0.0.1`` or ``::1``.
        interval: Seconds between scheduled passes; ``0``: none (run passes elsewhere).
        webhook_secret: The HubSpot app's client secret: turns on the webhook endpoint at
            ``webhook_path``, which keeps verified events in the index's inbox for the
            next pass (:class:`~syncengine.webhooks.WebhookReceiver`).
        webhook_path: Where the webhook endpoint answers.
        public_url: The webhook URL HubSpot calls, when a proxy stands in front.
        allowed_hosts: Without a token, the host names the console answers besides
            (instead of) the local ones.
        runner: The :class:`PassRunner` to use (its ``interval`` wins); one is made.
        secrets: More texts never to show on a page (credentials your adapters hold).

    Raises:
        ValueError: the token is too short, or the interval is out of range.
    """
    token = check_token(token)
    runner = runner if runner is not None else PassRunner(engine, interval)
    runner.engine = engine  # raises if the runner runs another engine
    known = [*secrets, *(s for s in (token, webhook_secret) if s)]
    runner.add_secrets(known)
    return build_app(
        engine,
        runner,
        token=token,
        webhook_secret=webhook_secret,
        webhook_path=webhook_path,
        public_url=public_url,
        allowed_hosts=allowed_hosts,
        secrets_=known,
    )


def _env_secrets(options: Mapping[str, Any]) -> list[str]:
    """The values of the environment variables and files an adapter's options name
    (``token_env``, ``client_secret_file``, …): credentials to keep off the pages."""
    found: list[str] = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            found += _env_secrets(value)
        elif isinstance(value, str) and str(key).endswith("_env"):
            found.append(os.environ.get(value, ""))
        elif isinstance(value, str) and str(key).endswith("_file"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                found.append(Path(value).expanduser().read_text(encoding="utf-8").strip())
    return [s for s in found if s]


def app_from_config(
    config: str | os.PathLike[str],
    *,
    token: str | None = None,
    interval: float | None = None,
    allowed_hosts: Iterable[str] | None = None,
) -> Starlette:
    """The console of the sync a config file describes, as ``syncengine serve`` runs it.

    Reads the ``[serve]`` table: ``interval``, ``webhook_secret_env``, ``webhook_path``
    and ``public_url`` (docs/console.md). The adapters and the index are opened now and
    closed when the application shuts down. For ``uvicorn --factory``, wrap it in a
    function of no arguments.

    Args:
        config: The config file.
        token: The console token; ``None`` reads :data:`TOKEN_ENV` (no token when unset).
        interval: Seconds between passes, instead of ``serve.interval``.
        allowed_hosts: See :func:`app`.

    Raises:
        ConfigFileError: the file is invalid, its SQLite index file or its folder is
            read-only, its index holds no such sync yet (start it
            with ``syncengine run CONFIG --new``), or ``serve.webhook_secret_env`` names
            an unset variable.
        ValueError: the token is too short.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    token = check_token(token)
    file: ConfigFile = read_config(config)
    spec = file.serve
    secret: str | None = None
    if spec.webhook_secret_env is not None:
        secret = (os.environ.get(spec.webhook_secret_env) or "").strip() or None
        if secret is None:
            raise ConfigFileError(
                str(file.file),
                "serve.webhook_secret_env",
                f"the environment variable {spec.webhook_secret_env} is not set; it must hold "
                "the HubSpot app's client secret, which signs the webhooks",
            )
    setup = file.open(create_index=False)
    try:
        try:  # passes and webhook events write to the index: a read-only one is refused now
            file.index.check_writable()
        except ConfigError as exc:
            raise file.error(exc) from None
        runner = PassRunner(interval=spec.interval if interval is None else interval)
        engine = setup.engine(on_event=runner.on_event)
        runner.engine = engine
        if not engine.started:
            raise ConfigFileError(
                str(file.file),
                "index",
                f"the index holds no sync {engine.sync_id!r} yet: start it with "
                f"`syncengine run {file.file} --new`, then serve it",
            )
        known = _env_secrets(file.hub.options) + _env_secrets(file.app.options)
        if file.index.dsn_env:
            known.append(os.environ.get(file.index.dsn_env, ""))
        elif file.index.dsn:
            known.append(file.index.dsn)
        runner.add_secrets(known)
        application = app(
            engine,
            token=token,
            runner=runner,
            webhook_secret=secret,
            webhook_path=spec.webhook_path,
            public_url=spec.public_url,
            allowed_hosts=allowed_hosts,
            secrets=known,
        )
    except BaseException:
        setup.close()
        raise
    application.state.setup = setup
    application.router.lifespan_context = _closing(application.router.lifespan_context, setup)
    return application


def _closing(lifespan: Any, setup: Any) -> Any:
    """``lifespan``, then close ``setup`` when the application shuts down."""

    @contextlib.asynccontextmanager
    async def closing(application: Any) -> Any:
        try:
            async with lifespan(application) as state:
                yield state
        finally:
            setup.close()

    return closing
