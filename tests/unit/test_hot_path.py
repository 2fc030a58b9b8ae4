"""The per-record path reads enum members from module constants, not through the class.

On Python 3.11 ``Side.HUB`` is a call through ``EnumType.__getattr__``'s lookup hook:
about a thousand machine instructions, against a dictionary lookup for a module global.
The functions below run once (or several times) per record of every pass; together
they looked members up about forty times per changed record of an incremental pass
(``benchmarks/instructions.py``: 6 % of its instructions). This keeps them out.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap

import pytest

from syncengine.config import Direction
from syncengine.conflicts import Why
from syncengine.records import Side
from syncengine.states import RecordState

#: (module, qualified function name) of the per-record path.
HOT: list[tuple[str, str]] = [
    ("syncengine.plan", "decide"),
    ("syncengine.plan", "_decide_pair"),
    ("syncengine.plan", "unchanged_since_sync"),
    ("syncengine.plan", "identify"),
    ("syncengine.conflicts._merge", "resolve_field"),
    ("syncengine.config", "Direction.flows_from"),
    ("syncengine.records", "Side.other"),
    ("syncengine.entry", "Entry.id_on"),
    ("syncengine.entry", "Entry.values_on"),
    ("syncengine.engine.batch", "process_leased"),
    ("syncengine.engine.batch", "decide_item"),
    ("syncengine.engine.execute", "execute"),
    ("syncengine.engine.execute", "outcome_of"),
    ("syncengine.engine.execute", "current_keys"),
    ("syncengine.engine.lean_changes", "merge"),
    ("syncengine.engine.lean_changes", "select"),
    ("syncengine.engine.lean_changes", "sync_pairs"),
    ("syncengine.engine.lean_changes", "_carry_out"),
    ("syncengine.engine.lean_changes", "_keeps_keys"),
    ("syncengine.transitions", "synced"),
    ("syncengine.transitions", "rewrites_keys"),
    ("syncengine.engine.ports", "index_copy"),
    ("syncengine.transitions", "evolve"),
    ("syncengine.transitions", "append_history"),
    ("syncengine.index._rowformat", "RowCodec.decode"),
]

#: Members these functions compare with on every record (rare branches may still name
#: their members through the class).
MEMBERS = {
    "Side": {m.name for m in Side},
    "Why": {m.name for m in Why},
    "Direction": {m.name for m in Direction},
    "RecordState": {RecordState.SYNCED.name},
}


def _function(module: str, qualname: str) -> ast.FunctionDef:
    target: object = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    if isinstance(target, property):
        target = target.fget
    source = textwrap.dedent(inspect.getsource(target))  # type: ignore[arg-type]
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.FunctionDef)
    return node


@pytest.mark.parametrize(("module", "qualname"), HOT, ids=[f"{m}.{q}" for m, q in HOT])
def test_no_enum_member_lookup_through_the_class(module: str, qualname: str) -> None:
    function = _function(module, qualname)
    found = [
        f"{node.value.id}.{node.attr} (line {node.lineno})"
        for statement in function.body
        for node in ast.walk(statement)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.attr in MEMBERS.get(node.value.id, ())
    ]
    assert not found, f"{module}.{qualname} looks up {', '.join(found)}: use a module constant"


def test_the_constants_are_the_members() -> None:
    from syncengine import config, entry, plan, records, transitions
    from syncengine.conflicts import _merge
    from syncengine.engine import batch, execute, ports

    for module in (plan, _merge, config, records, entry, batch, execute, transitions):
        assert getattr(module, "_HUB", Side.HUB) is Side.HUB
        assert getattr(module, "_APP", Side.APP) is Side.APP
    for module in (plan, batch, execute, transitions, ports):
        assert module._SYNCED is RecordState.SYNCED
    assert config._TWO_WAY is Direction.TWO_WAY
    assert config._TO_HUB is Direction.TO_HUB
    assert _merge._WHY_CHANGED is Why.CHANGED
    assert plan._WHY_IN_SYNC is Why.IN_SYNC
