"""The README's example runs as written, and its quick start names real commands."""

from __future__ import annotations

import logging
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    """The ```python blocks of the README."""
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_example_runs_and_syncs(capsys):
    """The two-way contacts + companies example works through the public API."""
    block = python_blocks()[0]
    namespace: dict[str, object] = {}
    exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "initial: 1 created, 3 updated" in out
    assert "contacts 2 synced, 0 failed" in out
    assert "companies 1 synced, 0 failed" in out
    shop = namespace["shop"]
    crm = namespace["crm"]
    ada = next(r for r in shop.records("customers") if "ada" in r.properties["mail"].lower())
    assert "Ada" == ada.properties["first"]
    assert {"Ada", "Alan M."} == {r.properties["firstname"] for r in crm.records("contacts")}


def test_the_embedding_example_finds_the_failure_without_logging(capsys):
    """The embedding section continues the example: a record deleted in the shop fails,
    and the report and the listing say so; its two logging lines show the library's
    warnings (restored afterwards, so other tests keep their logging)."""
    first, embedding = python_blocks()[:2]
    engine_log = logging.getLogger("syncengine.engine")
    root = logging.getLogger()
    level, handlers = engine_log.level, list(root.handlers)
    namespace: dict[str, object] = {}
    try:
        exec(compile(first, str(README), "exec"), namespace)
        capsys.readouterr()
        exec(compile(embedding, str(README), "exec"), namespace)
        assert engine_log.getEffectiveLevel() == logging.INFO
    finally:
        engine_log.setLevel(level)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
    lines = capsys.readouterr().out.splitlines()
    assert "incremental: 0 created, 0 updated" in lines[0]
    assert ", 1 failed," in lines[0]
    assert "[]" == lines[1]
    (row,) = lines[2:]
    assert row.startswith("contacts ")
    assert " deleted the app record " in row


def test_the_quick_start_has_two_commands_demo_and_tests():
    """The quick start installs and runs the demo, then installs and runs the tests."""
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert 2 <= len(commands)
    assert "syncengine demo" in commands[0]
    assert "pytest" in commands[1]
