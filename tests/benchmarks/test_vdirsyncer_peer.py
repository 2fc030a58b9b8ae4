"""benchmarks/vdirsyncer_peer.py: the peer is found, or skipped with a reason under --smoke,
and its vCards carry the synthetic people's fields."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load():
    spec = importlib.util.spec_from_file_location(
        "_vdirsyncer_peer", BENCHMARKS / "vdirsyncer_peer.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load()


def _args(**kwargs) -> argparse.Namespace:
    defaults = {"python": None, "smoke": False, "no_install": False}
    return argparse.Namespace(**{**defaults, **kwargs})


def test_without_vdirsyncer_smoke_skips_with_the_reason(tmp_path, monkeypatch):
    """--smoke installs nothing: no venv in the cache means skipped, and it says where."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    python, why = peer.find_peer(_args(smoke=True))
    assert python is None
    assert str(tmp_path / "syncengine-bench" / "vdirsyncer-0.21") in why
    assert "--smoke installs nothing" in why
    assert not (tmp_path / "syncengine-bench").exists()


def test_a_python_without_vdirsyncer_is_refused_with_the_reason():
    """--python names the interpreter; one that cannot import vdirsyncer is named."""
    python, why = peer.find_peer(_args(python=sys.executable))
    assert python is None
    assert f"{sys.executable} cannot import vdirsyncer" in why


def test_the_main_run_fails_without_the_peer_unless_smoke(tmp_path, monkeypatch, capsys):
    """Asked for the comparison, a missing peer is an error, not a figure without it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert 1 == peer.main(["--no-install", "--n", "100", "--dir", str(tmp_path)])
    assert "vdirsyncer is not available" in capsys.readouterr().err


def test_a_vcard_holds_the_persons_fields():
    """Person 7 as vCard 3.0: UID, name, e-mail, phone, company, title, city, country."""
    card = peer.vcard(7).split("\r\n")
    assert ["BEGIN:VCARD", "VERSION:3.0", "UID:person-7"] == card[:3]
    assert "EMAIL;TYPE=INTERNET:ken.clarke.7@acme.io" in card
    assert "TEL;TYPE=CELL:+45 20000049" in card
    assert "ORG:Lovelace & Ada ApS" in card
    assert "END:VCARD" == card[-2]
