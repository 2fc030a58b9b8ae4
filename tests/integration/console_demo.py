"""The demo's sync, made hostile, for the console's tests (a plain helper file: tests are not
a package; loaded with :func:`load`)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_SCORE = "<img src=x onerror=alert(2)>"
#: The demo contact whose lead score fails validation (made hostile below).
HOSTILE_ID = "c23"


def build(directory: Path, contacts: int = 60) -> Path:
    """Run the demo in ``directory``, then make one failing contact's values hostile and
    sync that; return the config file."""
    from syncengine.configfile import load
    from syncengine.demo import run_demo

    run_demo(directory, Console(file=io.StringIO(), width=120), contacts=contacts, seed=7)
    with sqlite3.connect(directory / "crm.db") as db:
        db.execute(
            'UPDATE contacts SET firstname = ?, lead_score = ? WHERE "__id" = ?',
            (HOSTILE_NAME, HOSTILE_SCORE, HOSTILE_ID),
        )
    db.close()
    config = directory / "syncengine.toml"
    with load(config) as setup:
        setup.engine().incremental_sync()
    return config


def load() -> object:
    """This module, importable from test files."""
    name = "syncengine_tests_console_demo"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__))
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@contextlib.contextmanager
def serving(application: object) -> Iterator[str]:
    """Serve ``application`` with uvicorn in a thread on a free local port; yield its URL.

    The socket is bound and listening before the server starts, so a request made at once
    waits in the backlog instead of failing: no polling, no sleeping.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        application, lifespan="on", log_level="warning", access_log=False, ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
