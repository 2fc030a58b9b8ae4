"""A forgotten ``match`` never duplicates records (SPEC M1, M7, X6).

Left out, ``match`` is the usual rule of the object type (contacts by e-mail, companies by
name or domain), in Python and in config files alike; a type without a usual rule is
refused, and no matching at all is asked for explicitly: ``MatchRule.none()`` in Python,
``match = "none"`` in a config file.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine import (
    ConfigError,
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.configfile import ConfigFileError, parse_config
from syncengine.index import MemoryIndexStore


def crm_and_shop():
    crm = InMemoryAdapter(
        [
            ObjectSchema(
                "contacts", [PropertySpec("email", "string"), PropertySpec("firstname", "string")]
            ),
            ObjectSchema(
                "companies", [PropertySpec("name", "string"), PropertySpec("domain", "string")]
            ),
        ],
        name="crm",
    )
    shop = InMemoryAdapter(
        [
            ObjectSchema(
                "customers", [PropertySpec("mail", "string"), PropertySpec("first", "string")]
            ),
            ObjectSchema(
                "accounts", [PropertySpec("title", "string"), PropertySpec("web", "string")]
            ),
        ],
        name="shop",
    )
    return crm, shop


class TestLeftOutInPython:
    def test_contacts_without_match_pair_by_email_instead_of_duplicating(self):
        """The README's case: on today's main Ada ended up twice in each app."""
        crm, shop = crm_and_shop()
        crm.put("contacts", email="ada@example.com", firstname="Ada")
        shop.put("customers", mail=" ADA@example.com", first="Augusta")
        crm.put("companies", name="Acme, Inc.", domain="acme.com")
        shop.put("accounts", title="ACME", web="https://www.acme.com/about")
        config = SyncConfig(
            "crm-shop",
            [
                ObjectSync(
                    "companies",
                    "accounts",
                    [FieldMapping("name", "title"), FieldMapping("domain", "web")],
                ),
                ObjectSync(
                    "contacts",
                    "customers",
                    [FieldMapping("email", "mail"), FieldMapping("firstname", "first")],
                ),
            ],
        )
        engine = SyncEngine(crm, shop, MemoryIndexStore(), config)
        engine.initial_sync()
        assert 1 == crm.count("contacts") == shop.count("customers")
        assert 1 == crm.count("companies") == shop.count("accounts")
        assert MatchRule.email("email", "mail") == config.object("contacts").match
        assert MatchRule.company(("name", "title"), ("domain", "web")) == (
            config.object("companies").match
        )

    def test_a_type_without_a_usual_rule_is_refused_saying_how_to_ask_for_none(self):
        with pytest.raises(ConfigError) as caught:
            ObjectSync("deals", "opportunities", [FieldMapping("dealname", "title")])
        assert "match" == caught.value.path
        assert "MatchRule.none()" in str(caught.value)
        assert "'deals'" in str(caught.value)

    def test_contacts_without_an_email_mapping_are_refused(self):
        with pytest.raises(ConfigError, match=r"MatchRule\.none\(\)"):
            ObjectSync("contacts", "people", [FieldMapping("firstname", "first")])

    def test_no_matching_is_explicit_and_creates_everything(self):
        """M7: MatchRule.none() still means what match=None used to."""
        crm, shop = crm_and_shop()
        crm.put("contacts", email="ada@example.com", firstname="Ada")
        shop.put("customers", mail="ada@example.com", first="Ada")
        contacts = ObjectSync(
            "contacts", "customers", [FieldMapping("email", "mail")], match=MatchRule.none()
        )
        assert contacts.match.is_none
        SyncEngine(crm, shop, MemoryIndexStore(), SyncConfig("s", [contacts])).initial_sync()
        assert 2 == crm.count("contacts") == shop.count("customers")

    def test_an_empty_key_list_is_not_a_way_to_say_none(self):
        with pytest.raises(ConfigError, match=r"at least one key; MatchRule.none\(\)"):
            MatchRule([])
        with pytest.raises(ConfigError, match="expected a MatchRule"):
            ObjectSync("deals", "opportunities", [FieldMapping("a", "b")], match="none")


FILE = """\
sync_id = "s"
[hub]
kind = "memory"
[app]
kind = "memory"
[objects.{hub_type}]
app_type = "things"
mappings = [{mappings}]
{match}
"""

HUB_PROPERTIES = ["email", "name", "domain", "dealname", "phone"]


@given(
    hub_type=st.sampled_from(["contacts", "companies", "deals", "tickets"]),
    hub_props=st.lists(st.sampled_from(HUB_PROPERTIES), min_size=1, max_size=4, unique=True),
    explicit_none=st.booleans(),
)
def test_python_and_config_files_agree_on_a_left_out_match(hub_type, hub_props, explicit_none):
    """Property: for any object type and mappings, leaving ``match`` out (or saying
    none) gives the same rule in Python and in a config file, or is refused by both."""
    mappings = [FieldMapping(p, f"app_{p}") for p in hub_props]
    text = FILE.format(
        hub_type=hub_type,
        mappings=", ".join(f'["{p}", "app_{p}"]' for p in hub_props),
        match='match = "none"' if explicit_none else "",
    )
    try:
        in_python = ObjectSync(
            hub_type, "things", mappings, match=MatchRule.none() if explicit_none else None
        ).match
    except ConfigError:
        in_python = None
    refusal = ""
    try:
        (obj,) = parse_config(text, file="sync.toml").config.objects
        in_file = obj.match
    except ConfigFileError as exc:
        refusal, in_file = str(exc), None
    if in_file is None:
        assert f"objects.{hub_type}.match: missing" in refusal
        assert '"none"' in refusal
    assert in_python == in_file
    usual = hub_type == "contacts" and "email" in hub_props
    usual = usual or (hub_type == "companies" and bool({"name", "domain"} & set(hub_props)))
    assert (in_python is not None) == (explicit_none or usual)
