"""Which normalizer each match key uses: guessed from names and object types, or stated (M6).

Issue 16: a key ``("name", "title")`` on a companies object was normalized as plain text,
so "Acme Inc" and "ACME" did not pair although company names are compared without legal
suffixes. The kind is now guessed from both property names and the object types, can be
stated with ``MatchRule(kinds=...)`` (or ``kinds = [...]`` in a config file), and
``engine.explain`` shows the kind each key got.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.configfile import load
from syncengine.index import MemoryIndexStore


def _engine(
    hub_type: str = "companies",
    app_type: str = "accounts",
    key: tuple[str, str] = ("name", "title"),
    kinds: tuple[str, ...] | None = None,
) -> tuple[SyncEngine, InMemoryAdapter, InMemoryAdapter]:
    hub = InMemoryAdapter([ObjectSchema(hub_type, [PropertySpec(key[0], "string")])], name="crm")
    app = InMemoryAdapter([ObjectSchema(app_type, [PropertySpec(key[1], "string")])], name="shop")
    config = SyncConfig(
        "s",
        [
            ObjectSync(
                hub_type,
                app_type,
                [FieldMapping(*key)],
                match=MatchRule([key], kinds=kinds),
            )
        ],
    )
    return SyncEngine(hub, app, MemoryIndexStore(), config), hub, app


SUFFIXES = [
    "",
    " Inc",
    " Inc.",
    ", Inc.",
    " INC",
    " Ltd",
    " Ltd.",
    " LLC",
    " GmbH",
    " ApS",
    " A/S",
    " AB",
    " S.A.",
    " Pty Ltd",
    " & Co.",
    " Co.",
    " Corporation",
    " plc",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyzéøåäöü"
_word = st.text(alphabet=_LETTERS, min_size=2, max_size=8)


def _cased(text: str, how: str) -> str:
    return {"lower": text.lower(), "upper": text.upper(), "title": text.title(), "as": text}[how]


_case = st.sampled_from(["lower", "upper", "title", "as"])


@given(
    words=st.lists(_word, min_size=1, max_size=3),
    hub_suffix=st.sampled_from(SUFFIXES),
    app_suffix=st.sampled_from(SUFFIXES),
    hub_case=_case,
    app_case=_case,
)
@example(words=["acme"], hub_suffix=" Inc", app_suffix="", hub_case="title", app_case="upper")
def test_company_names_pair_across_legal_suffixes_and_case(
    words, hub_suffix, app_suffix, hub_case, app_case
):
    """M6: "Acme Inc" in the hub and "ACME" in the app are one company, by a guessed key."""
    base = " ".join(words)
    engine, hub, app = _engine()
    hub.put("companies", name=_cased(base, hub_case) + hub_suffix)
    app.put("accounts", title=_cased(base, app_case) + app_suffix)

    report = engine.initial_sync()

    assert (1, 1) == (hub.count("companies"), app.count("accounts")), report.summary()
    assert 0 == report.created
    explanation = engine.explain(Side.HUB, "companies", hub.records("companies")[0].id)
    assert explanation.entry.app_id == app.records("accounts")[0].id
    assert "name/title" == explanation.matched_by
    assert ("company_name",) == tuple(k.kind for k in explanation.match_keys)


def test_a_stated_kind_wins_over_the_guess():
    """M6: kinds=("text",) compares the names as text, so the suffix keeps them apart."""
    engine, hub, app = _engine(kinds=("text",))
    hub.put("companies", name="Acme Inc")
    app.put("accounts", title="ACME")
    engine.initial_sync()
    assert (2, 2) == (hub.count("companies"), app.count("accounts"))
    explanation = engine.explain(Side.HUB, "companies", hub.records("companies")[0].id)
    assert ("text",) == tuple(k.kind for k in explanation.match_keys)


@pytest.mark.parametrize(
    ("hub_type", "app_type", "key", "kind"),
    [
        ("companies", "accounts", ("name", "title"), "company_name"),
        ("companies", "customers", ("name", "company"), "company_name"),
        ("0-2", "orgs", ("name", "label"), "company_name"),
        ("firms", "Organizations", ("legal_name", "companyName"), "company_name"),
        ("companies", "accounts", ("vat_id", "vat"), "text"),
        ("companies", "accounts", ("domain", "web"), "domain"),
        ("companies", "accounts", ("website", "homepage"), "domain"),
        ("contacts", "people", ("email", "mail"), "email"),
        ("contacts", "people", ("phone", "mobile"), "phone"),
        ("products", "items", ("name", "name"), "text"),
        ("contacts", "people", ("name", "full_name"), "text"),
    ],
)
def test_the_kind_is_guessed_from_names_and_object_types_and_explained(
    hub_type, app_type, key, kind
):
    """M6: explain states the kind each key got, in its text and in as_dict()."""
    engine, hub, _ = _engine(hub_type, app_type, key)
    record = hub.put(hub_type, **{key[0]: "x"})
    engine.initial_sync()
    explanation = engine.explain(Side.HUB, hub_type, record.id)
    assert [{"hub": key[0], "app": key[1], "kind": kind}] == explanation.as_dict()["match_keys"]
    assert kind in str(explanation).split("match keys:")[1].splitlines()[0]


def test_explain_says_when_there_is_no_matching():
    """M7: an object sync without matching explains that it has no keys."""
    hub = InMemoryAdapter([ObjectSchema("notes", [PropertySpec("text", "string")])])
    app = InMemoryAdapter([ObjectSchema("memos", [PropertySpec("body", "string")])])
    config = SyncConfig(
        "s", [ObjectSync("notes", "memos", [FieldMapping("text", "body")], match=MatchRule.none())]
    )
    engine = SyncEngine(hub, app, MemoryIndexStore(), config)
    record = hub.put("notes", text="hello")
    engine.initial_sync()
    explanation = engine.explain(Side.HUB, "notes", record.id)
    assert [] == explanation.as_dict()["match_keys"]
    assert "match keys: none" in str(explanation)


def test_a_config_file_key_on_companies_pairs_company_names(tmp_path):
    """The same guess holds for config files: keys = [["name", "title"]] on companies."""
    path = tmp_path / "sync.toml"
    path.write_text(
        textwrap.dedent(
            """\
            sync_id = "s"
            [hub]
            kind = "memory"
            schemas.companies.properties = [{ name = "name" }]
            [app]
            kind = "memory"
            schemas.accounts.properties = [{ name = "title" }]
            [index]
            kind = "memory"
            [objects.companies]
            app_type = "accounts"
            match = { keys = [["name", "title"]] }
            mappings = [["name", "title"]]
            """
        )
    )
    with load(path) as setup:
        engine = setup.engine()
        setup.hub.put("companies", name="Acme, Inc.")  # type: ignore[attr-defined]
        setup.app.put("accounts", title="ACME")  # type: ignore[attr-defined]
        engine.initial_sync()
        assert 1 == setup.app.count("accounts")  # type: ignore[attr-defined]
        assert "company_name" == engine.plan_for("companies").keys[0].kind
