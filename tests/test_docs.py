"""The docs stand on their own: every snippet runs, every command parses, every rule is defined.

* Every ```python block of README.md and docs/**/*.md runs. The blocks of one page run in
  order in one namespace (a page may build an example up), in a fresh temporary working
  directory, in a child process with a timeout. A failure names the page and the line of
  the block, and the traceback points into the Markdown file.
* A block preceded by ``<!-- file: NAME.py -->`` is also written to NAME.py in that
  directory, so the page's later blocks can import it as the reader would.
* A block preceded by ``<!-- not run: REASON -->`` is skipped; the reason is visible in the
  Markdown, and such blocks stay rare (a real account, a web framework).
* Every ``syncengine …`` command line of a shell block parses with the real command.
* No page or user-facing message sends users to files that are not in the repository, and
  every rule id used is defined in docs/rules.md (and linked to it in the docs' prose).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from syncengine.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "rules.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: A page's python blocks, run in one child process, must finish within this many seconds.
TIMEOUT = 600

_FENCE = re.compile(r"^\s*```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(not run|file):\s*(.*?)\s*-->\s*$")
#: A rule id: a group letter and a number (S6, D4, …).
RULE_ID = re.compile(r"(?<![\w/#.-])([SDMFLARX][1-9][0-9]?)(?![\w-])")
#: Words that point users to project files they do not have.
_ELSEWHERE = re.compile(r"\bSPEC\b|\bDESIGN\b|SPEC\.md|DESIGN\.md|\.\./shared")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # the line of the block's first code line, 1-based
    lang: str
    code: str
    not_run: str | None = None  # the reason, when marked not to run
    file: str | None = None  # the file name the block is saved as, if marked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the marker (if any) right above each."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    n = 0
    while n < len(lines):
        opening = _FENCE.match(lines[n])
        if opening is None:
            n += 1
            continue
        lang = opening.group(1)
        end = n + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        assert end < len(lines), f"{page.relative_to(ROOT)}:{n + 1}: a ``` block is never closed"
        code = textwrap.dedent("\n".join(lines[n + 1 : end])) + "\n"
        above = n - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        marker = _MARKER.match(lines[above]) if above >= 0 else None
        not_run = file = None
        if marker is not None:
            kind, value = marker.groups()
            assert value, f"{page.relative_to(ROOT)}:{above + 1}: a marker needs a value"
            if kind == "not run":
                not_run = value
            else:
                file = value
        found.append(Block(page, n + 2, lang, code, not_run, file))
        n = end + 1
    return found


def _code_free(page: Path) -> list[tuple[int, str]]:
    """The lines of a page outside fenced blocks, with inline code spans blanked."""
    out: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
        if re.match(r"^\s*```", line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, re.sub(r"`[^`]*`", "``", line)))
    return out


def defined_rules() -> set[str]:
    """The rule ids docs/rules.md defines, one anchor each."""
    anchors = re.findall(r'<a id="([a-z][0-9]+)"></a>\*\*([A-Z][0-9]+) ', RULES.read_text())
    assert anchors, "docs/rules.md defines no rule"
    for anchor, rule in anchors:
        assert anchor == rule.lower(), f"docs/rules.md: anchor {anchor!r} for rule {rule}"
    ids = [rule for _, rule in anchors]
    assert len(ids) == len(set(ids)), "docs/rules.md defines a rule twice"
    return set(ids)


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ---- python blocks ------------------------------------------------------------------------

_RUNNER = r"""
import json, sys, traceback
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__docs__"}
for block in blocks:
    code = "\n" * (block["line"] - 1) + block["code"]
    try:
        exec(compile(code, block["page"], "exec"), namespace)
    except BaseException:
        print(f"{block['where']}: this python block failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def _python_pages() -> list[Path]:
    return [page for page in PAGES if any(b.lang == "python" for b in blocks(page))]


@pytest.mark.parametrize("page", _python_pages(), ids=_page_id)
def test_every_python_block_of_the_page_runs(page, tmp_path):
    """The page's python blocks, in order, in one namespace, in an empty working directory."""
    import json

    to_run = []
    for block in blocks(page):
        if block.lang != "python" or block.not_run is not None:
            continue
        if block.file is not None:
            (tmp_path / block.file).write_text(block.code, encoding="utf-8")
        to_run.append(
            {"page": str(page), "line": block.line, "code": block.code, "where": block.where}
        )
    if not to_run:
        pytest.skip("every python block of this page is marked not to run")
    (tmp_path / "blocks.json").write_text(json.dumps(to_run), encoding="utf-8")
    (tmp_path / "runner.py").write_text(_RUNNER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    try:
        done = subprocess.run(
            [sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "blocks.json")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{_page_id(page)}: its python blocks ran longer than {TIMEOUT} s")
    assert 0 == done.returncode, f"{done.stderr}\n{done.stdout}"


def test_blocks_marked_not_to_run_are_few_and_say_why():
    """Skipping a block is visible in the Markdown, with a reason, and rare."""
    marked = [b for page in PAGES for b in blocks(page) if b.not_run is not None]
    for block in marked:
        assert block.lang == "python", f"{block.where}: only python blocks are run or skipped"
        assert len(block.not_run or "") >= 10, f"{block.where}: say why the block is not run"
    python = [b for page in PAGES for b in blocks(page) if b.lang == "python"]
    assert len(marked) * 5 <= len(python), [b.where for b in marked]


def test_python_blocks_are_fenced_as_python():
    """Fragments and output use another fence; python blocks at least compile."""
    for page in PAGES:
        for block in blocks(page):
            if block.lang in ("py", "python3", "pycon"):
                pytest.fail(f"{block.where}: fence python blocks as ```python")
            if block.lang == "python":
                compile(block.code, block.where, "exec")


# ---- shell blocks ---------------------------------------------------------------------------

_SHELL = ("bash", "sh", "console", "shell")


def _command_lines() -> list[tuple[str, list[str]]]:
    """Each `syncengine …` command of a shell block: (page:line, its arguments)."""
    found = []
    for page in PAGES:
        for block in blocks(page):
            if block.lang not in _SHELL:
                continue
            for offset, line in enumerate(block.code.split("\n")):
                for segment in re.split(r"&&|\|\||;|\|", line.split(" #")[0]):
                    segment = re.sub(r"^\s*[\w.@-]*\$\s+", "", segment)  # a prompt: machine-a$
                    words = shlex.split(segment)
                    if words and words[0].rsplit("/", 1)[-1] == "syncengine":
                        found.append((f"{_page_id(page)}:{block.line + offset}", words[1:]))
    return found


@pytest.mark.parametrize(("where", "args"), _command_lines(), ids=[w for w, _ in _command_lines()])
def test_every_syncengine_command_line_of_the_docs_parses(where, args):
    """`syncengine …` lines name real commands and options, with values of the right kind."""
    assert args, f"{where}: `syncengine` without a command"
    try:
        if args[0].startswith("-"):  # syncengine --help, --version
            main.make_context("syncengine", list(args))
            return
        command = main.commands.get(args[0])
        assert command is not None, f"{where}: no command {args[0]!r} in {sorted(main.commands)}"
        command.make_context(args[0], list(args[1:]))
    except click.exceptions.Exit:
        pass  # --help, --version
    except click.ClickException as exc:
        pytest.fail(
            f"{where}: `syncengine {shlex.join(args)}` does not parse: {exc.format_message()}"
        )


def test_install_lines_never_install_the_unrelated_syncengine_distribution():
    """`syncengine` on the package index is someone else's project: ours is syncengine-hub."""
    bare = re.compile(r"""pip install\b[^\n]*?(?<![\w./-])["']?syncengine(?![\w-])""")
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
            command = line.split(" #")[0]  # not the comment after a shell command
            assert not bare.search(command), f"{_page_id(page)}:{number}: {line.strip()}"


# ---- rules and references ---------------------------------------------------------------------


def test_rules_page_defines_every_rule_with_its_own_anchor():
    rules = defined_rules()
    for group in "SDMFLARX":
        assert any(r.startswith(group) for r in rules), f"no rule of group {group}"


def test_pages_never_send_users_to_files_outside_the_repository():
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
            found = _ELSEWHERE.search(line)
            assert found is None, (
                f"{_page_id(page)}:{number}: {found.group()!r} in {line.strip()!r}"
            )


def test_every_rule_id_in_the_docs_is_defined_and_linked():
    """Ids anywhere are defined; in prose each is a link to its anchor in docs/rules.md."""
    rules = defined_rules()
    for page in PAGES:
        text = page.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(text, 1):
            for rule in RULE_ID.findall(line):
                assert rule in rules, f"{_page_id(page)}:{number}: rule {rule} is not defined"
        if page == RULES:
            continue
        target = os.path.relpath(RULES, page.parent).replace(os.sep, "/")
        link = re.compile(rf"\[([A-Z][0-9]+)\]\({re.escape(target)}#([a-z][0-9]+)\)")
        for number, line in _code_free(page):
            for rule, anchor in link.findall(line):
                assert rule.lower() == anchor, (
                    f"{_page_id(page)}:{number}: {rule} links to #{anchor}"
                )
            unlinked = RULE_ID.findall(link.sub("", line))
            assert not unlinked, f"{_page_id(page)}:{number}: link {unlinked} to {target}#<id>"


def _user_facing_strings() -> list[tuple[str, str]]:
    """String constants of the package that users can see: everything but docstrings."""
    found = []
    for path in sorted((ROOT / "src" / "syncengine").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        documentation = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list):
                for n, statement in enumerate(body):
                    is_doc = isinstance(statement, ast.Expr) and isinstance(
                        statement.value, ast.Constant
                    )
                    # A docstring, or an attribute's docstring right after an assignment.
                    if is_doc and (n == 0 or isinstance(body[n - 1], ast.Assign | ast.AnnAssign)):
                        documentation.add(id(statement.value))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in documentation
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append((where, node.value))
    return found


def _help_texts() -> list[tuple[str, str]]:
    runner = CliRunner()
    texts = [("syncengine --help", runner.invoke(main, ["--help"]).output)]
    for name in main.commands:
        texts.append((f"syncengine {name} --help", runner.invoke(main, [name, "--help"]).output))
    return texts


def test_messages_never_send_users_to_files_outside_the_repository():
    """CLI help, error messages, hints and exceptions cite only rules docs/rules.md defines."""
    rules = defined_rules()
    for where, text in [*_user_facing_strings(), *_help_texts()]:
        found = _ELSEWHERE.search(text)
        assert found is None, f"{where}: {found.group()!r} in {text!r}"
        for rule in RULE_ID.findall(text):
            assert rule in rules, f"{where}: rule {rule} is not defined in docs/rules.md"


def test_cli_help_points_to_the_rules_page():
    """Where the command prints rule ids, its help says where they are explained."""
    for where, text in _help_texts():
        assert "SPEC" not in text, where
    assert "docs/rules.md" in CliRunner().invoke(main, ["--help"]).output
    assert "docs/rules.md" in CliRunner().invoke(main, ["explain", "--help"]).output


def _config_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.lang == "toml" and "sync_id" in b.code]


@pytest.mark.parametrize("block", _config_blocks(), ids=lambda b: b.where)
def test_every_config_file_example_parses(block):
    """A complete config file shown in the docs is one `syncengine` accepts."""
    from syncengine.configfile import ConfigFileError, parse_config

    try:
        parse_config(block.code, file=block.where)
    except ConfigFileError as exc:
        pytest.fail(f"{block.where}: {exc}")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    found = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for _, line in _code_free(page):
        heading = re.match(r"^#+\s+(.*)$", line)
        if heading:
            found.add(_slug(re.sub(r"``", "", heading.group(1))))
    return found


def test_every_relative_link_of_the_docs_leads_somewhere():
    """Links to other pages and files exist, and so do their #anchors."""
    for page in PAGES:
        for number, line in _code_free(page):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue  # https:, mailto:
                path, _, anchor = target.partition("#")
                goal = (page.parent / path).resolve() if path else page
                assert goal.exists(), f"{_page_id(page)}:{number}: no file {path}"
                if anchor and goal.suffix == ".md":
                    assert anchor in _anchors(goal), f"{_page_id(page)}:{number}: no #{anchor}"


def test_every_dotted_syncengine_name_in_the_docs_exists():
    """`syncengine.x.Y` in the docs' text names a module or attribute that exists."""
    import importlib

    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for name in sorted(set(re.findall(r"`(syncengine(?:\.\w+)+)`", text))):
            if re.search(r"\.(toml|db|md|py|json|jsonl|csv)$", name):
                continue  # a file name: syncengine.toml
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    found: object = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                for attribute in parts[cut:]:
                    assert hasattr(found, attribute), f"{_page_id(page)}: {name} does not exist"
                    found = getattr(found, attribute)
                break
