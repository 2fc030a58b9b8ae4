"""`syncengine serve`: what it refuses (exit 2, naming the flag, key or extra), and that it
serves the demo's pages from a real process."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from syncengine.cli import main

_spec = importlib.util.spec_from_file_location(
    "syncengine_tests_console_demo", Path(__file__).with_name("console_demo.py")
)
console_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(console_demo)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serve-demo")
    console_demo.build(directory)
    return directory


@pytest.fixture
def config(demo_dir, tmp_path):
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    return copy / "syncengine.toml"


def serve(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["serve", *args], env=env)


class TestRefusals:
    def test_another_address_without_a_token_is_refused(self, config):
        """--host other than this machine's needs a token: exit 2 naming --token and the
        environment variable, nothing served."""
        result = serve(str(config), "--host", "0.0.0.0", env={"SYNCENGINE_TOKEN": ""})
        assert 2 == result.exit_code, result.output
        assert "--token" in result.output
        assert "SYNCENGINE_TOKEN" in result.output

    def test_a_short_token_is_refused(self, config, monkeypatch):
        """A token under 16 characters: exit 2 naming --token, without echoing it."""
        import uvicorn

        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served"))
        result = serve(str(config), "--token", "tiny-secret")
        assert 2 == result.exit_code, result.output
        assert "--token" in result.output
        assert "tiny-secret" not in result.output

    def test_without_the_server_extra_it_says_which_to_install(self, config, monkeypatch):
        """No uvicorn (or starlette, jinja2): exit 2 naming syncengine-hub[server], and
        how to install it from a clone (the distribution is not on the package index, so
        `pip install 'syncengine-hub[server]'` alone finds nothing)."""
        monkeypatch.setitem(sys.modules, "uvicorn", None)
        result = serve(str(config))
        assert 2 == result.exit_code, result.output
        assert "syncengine-hub[server]" in result.output
        assert "pip install '.[server]'" in result.output

    @pytest.mark.parametrize(
        ("table", "key"),
        [
            ('interval = "often"', "serve.interval"),
            ('interval = "30d"', "serve.interval"),
            ('webhook_secret_env = "MY SECRET"', "serve.webhook_secret_env"),
            ('webhook_secret_env = "SURELY_UNSET_SECRET_VARIABLE"', "serve.webhook_secret_env"),
            ('webhook_path = "no-slash"', "serve.webhook_path"),
            ('public_url = "ftp://x"', "serve.public_url"),
            ("colour = 1", "serve.colour"),
        ],
    )
    def test_a_bad_serve_table_is_refused_naming_the_key(self, config, table, key):
        """Each mistake in [serve] exits 2 naming the file and the key."""
        config.write_text(config.read_text() + f"\n[serve]\n{table}\n")
        result = serve(str(config))
        assert 2 == result.exit_code, result.output
        assert str(config) in result.output
        assert key in result.output

    def test_an_index_without_the_sync_is_refused(self, config):
        """A new index (the sync never ran there) is not served: run it with --new first."""
        (config.parent / "index.db").unlink()
        result = serve(str(config))
        assert 2 == result.exit_code, result.output
        assert "--new" in result.output
        assert not (config.parent / "index.db").exists()


def test_serve_runs_the_demo_in_one_process(config):
    """`syncengine serve` on the demo: prints where, serves every page, runs the first pass
    at once, and stops cleanly on Ctrl-C."""
    env = {**os.environ, "SYNCENGINE_TOKEN": "", "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "syncengine", "serve", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines = []
    guard = threading.Timer(300, child.kill)  # only if serve hangs: the test then fails
    guard.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:  # waits on the process's output, not on time
            lines.append(line)
            if "pass completed: sync=crm-sales kind=incremental" in line:
                break
        else:
            pytest.fail("serve stopped:\n" + "".join(lines))
        output = "".join(lines)
        port = int(re.search(r"console: http://127\.0\.0\.1:(\d+)/\n", output).group(1))
        assert port > 0
        assert "passes: every 60s" in output
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for path in ("/", "/failures", "/records", "/actions", "/records?state=failed"):
                response = client.get(path)
                assert 200 == response.status_code, path
            assert "incremental" in client.get("/").text
    finally:
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=60)
        guard.cancel()
    assert 0 == child.returncode, "".join(lines) + rest


@pytest.mark.parametrize(("ci", "expected"), [("true", "1 error"), ("", "1 skipped")])
def test_a_missing_browser_skips_locally_and_fails_in_ci(tmp_path, ci, expected):
    """Without chromium the browser tests skip, saying why; with CI=true they fail."""
    browser_tests = Path(__file__).with_name("test_console_browser.py")
    env = {**os.environ, "CI": ci, "SYNCENGINE_CHROMIUM": str(tmp_path / "no-chromium")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(browser_tests),
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "-rs",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert expected in result.stdout, result.stdout + result.stderr
    assert "no-chromium" in result.stdout  # the reason names what is missing
