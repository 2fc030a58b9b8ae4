"""``syncengine serve``: the console and the webhook endpoint of one sync, as an ASGI app.

Needs the extra ``syncengine-hub[server]`` (Starlette, uvicorn, Jinja2); the rest of
syncengine never imports this package. :func:`app` builds the application from an engine
(to mount in your own service); :func:`app_from_config` from a config file, as
``syncengine serve`` does. The guide is ``docs/console.md``.

.. versionadded:: 0.2
"""

from __future__ import annotations

from syncengine.server._runner import PassRunner as PassRunner
from syncengine.server._runner import Progress as Progress
from syncengine.server._runner import RunnerBusy as RunnerBusy
from syncengine.server._serve import TOKEN_ENV as TOKEN_ENV
from syncengine.server._serve import app as app
from syncengine.server._serve import app_from_config as app_from_config

__all__ = ["TOKEN_ENV", "PassRunner", "Progress", "RunnerBusy", "app", "app_from_config"]
