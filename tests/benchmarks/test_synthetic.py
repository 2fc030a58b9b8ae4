"""The benchmarks' synthetic apps keep the Adapter contract (benchmarks/README.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from syncengine.adapters import NewRecord
from syncengine.testing import check_adapter


def _load_synthetic():
    """benchmarks/_synthetic.py, loaded from its file: the benchmarks directory is not
    put on sys.path, where its scripts would shadow packages (hubspot.py)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "_synthetic.py"
    spec = importlib.util.spec_from_file_location("_synthetic", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_synthetic", module)  # attrs/dataclasses look classes up here
    spec.loader.exec_module(module)
    return module


_synthetic = _load_synthetic()


@pytest.mark.parametrize("variant", [_synthetic.HUB, _synthetic.APP], ids=["hub", "app"])
def test_synthetic_adapter_keeps_the_adapter_contract(variant):
    """The apps whose figures benchmarks/run.py prints pass the conformance kit."""
    check_adapter(
        lambda: _synthetic.SyntheticAdapter(variant, 0, name="syn", id_prefix="s", page_size=5),
        _synthetic.TYPE,
        max_examples=10,
    )


@pytest.mark.parametrize("variant", [_synthetic.HUB, _synthetic.APP], ids=["hub", "app"])
def test_a_created_person_reads_back_as_created(variant):
    """A create of a person's hub rendering (stored as codes) and of other values (stored
    by comparison, or in the overlay) reads back exactly as it was sent."""
    source = _synthetic.SyntheticAdapter(_synthetic.HUB, 3, name="hub", id_prefix="h")
    adapter = _synthetic.SyntheticAdapter(variant, 0, name="syn", id_prefix="s")
    names = _synthetic.HUB_NAMES if variant == _synthetic.HUB else _synthetic.APP_NAMES
    hub_rendering = source.fetch(_synthetic.TYPE, ["h1"])["h1"].properties
    same = dict(zip(names, hub_rendering.values(), strict=True))
    edited = {**same, names[6]: "Reykjavik"}
    partial = {names[0]: same[names[0]], names[1]: "Ada"}
    results = adapter.create(
        _synthetic.TYPE, [NewRecord(p, f"k{n}") for n, p in enumerate((same, edited, partial))]
    )
    ids = [result.record_id for result in results]
    found = adapter.fetch(_synthetic.TYPE, ids)
    assert [same, edited, partial] == [dict(found[i].properties) for i in ids]
