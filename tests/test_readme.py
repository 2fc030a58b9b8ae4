"""The README's example runs as written, and its quick start names real commands."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    """The ```python blocks of the README."""
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_example_runs_and_syncs(capsys):
    """The two-way contacts + companies example works through the public API."""
    (block,) = python_blocks()
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


def test_the_quick_start_has_two_commands_demo_and_tests():
    """The quick start installs and runs the demo, then installs and runs the tests."""
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert 2 <= len(commands)
    assert "syncengine demo" in commands[0]
    assert "pytest" in commands[1]
