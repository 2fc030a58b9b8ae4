"""docs/how-to/config-files.md documents every adapter kind syncengine ships, option by option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncengine import ConfigError
from syncengine.plugins import adapter_kinds, load_adapter

CONFIG_DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "config-files.md"
#: The kinds syncengine's own pyproject.toml registers (connector packages add others).
SHIPPED = ("memory", "sqlite", "hubspot")


def _options_of(kind: str, tmp_path: Path) -> set[str]:
    """The options a kind accepts, from the error an unknown option gets."""
    unknown = "zz_not_an_option"
    options: dict[str, object] = {}
    for _ in range(5):  # give required options a value until the unknown one is reached
        with pytest.raises(ConfigError) as caught:
            load_adapter(kind, {**options, unknown: 1}, base_dir=tmp_path)
        if caught.value.path == unknown or not caught.value.problem.startswith("missing"):
            break
        options[caught.value.path] = "x.db"
    assert caught.value.path == unknown, caught.value  # finish() names every known option
    known = re.search(r"expected one of (.*)$", caught.value.problem)
    assert known is not None, caught.value.problem
    return {name.strip() for name in known.group(1).split(",")}


def _documented(kind: str) -> set[str]:
    text = CONFIG_DOC.read_text(encoding="utf-8")
    section = re.search(rf"(?ms)^### `{kind}`\n(.*?)(?=^##)", text)
    assert section is not None, f"docs/how-to/config-files.md has no '### `{kind}`' section"
    return set(re.findall(r"(?m)^\| `(\w+)` \|", section.group(1)))


def test_the_shipped_kinds_are_the_installed_ones():
    assert set(SHIPPED) <= set(adapter_kinds())
    text = CONFIG_DOC.read_text(encoding="utf-8")
    assert "syncengine ships three kinds" in text


@pytest.mark.parametrize("kind", SHIPPED)
def test_every_option_of_every_shipped_kind_is_documented(kind, tmp_path):
    accepted = _options_of(kind, tmp_path)
    documented = _documented(kind)
    assert accepted == documented, (
        f"docs/how-to/config-files.md, kind {kind!r}: undocumented {accepted - documented}, "
        f"documented but not accepted {documented - accepted}"
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_mistyped_option_is_named_with_the_option_meant(kind, tmp_path):
    """A near miss of an option is answered with it (sqlite's id_prefix was not suggested)."""
    options: dict[str, object] = {"path": "x.db"} if kind == "sqlite" else {}
    with pytest.raises(ConfigError) as caught:
        load_adapter(kind, {**options, "id_prefx": "s"}, base_dir=tmp_path)
    assert "id_prefx" == caught.value.path
    assert "did you mean 'id_prefix'?" in caught.value.problem, caught.value
