"""Config files: TOML in, SyncConfig and adapter specs out, errors naming file and key."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from syncengine import ConfigError, Direction, Filter, MatchRule, Side
from syncengine.configfile import ConfigFileError, parse_config, read_config
from syncengine.plugins import AdapterOptions, load_adapter, schemas_from_options

BASE = """\
sync_id = "crm-sales"

[hub]
kind = "memory"

[app]
kind = "memory"
"""


def parse(body: str, *, file: str = "sync.toml"):
    """Parse BASE plus ``body`` as a file named ``file``."""
    return parse_config(BASE + textwrap.dedent(body), file=file)


def error_of(body: str) -> str:
    """The message of the ConfigFileError that BASE plus ``body`` raises."""
    with pytest.raises(ConfigFileError) as caught:
        parse(body)
    return str(caught.value)


class TestParsing:
    """What a valid file says."""

    def test_array_of_tables_builds_every_part_of_an_object_sync(self):
        """Mappings, match, filters, pipelines and options all reach the ObjectSync."""
        parsed = parse_config(
            'sync_id = "crm-sales"\nmax_change_ratio = 0.5\n'
            + BASE.split("\n", 1)[1]
            + """
            [[objects]]
            hub_type = "contacts"
            app_type = "people"
            direction = "to_app"
            winner = "app"
            associations = []
            filter_lifetime = true
            match = { keys = [["email", "mail"]], require = false, kinds = ["email"] }
            mappings = [
              ["email", "mail"],
              { hub = "stage", app = "status", options = { lead = "Lead" }, policy = "newest" },
            ]

            [[objects.hub_filter.where]]
            property = "since"
            op = "gte"
            value = 2024-01-02

            [[objects.pipelines]]
            hub_pipeline = "default"
            app_pipeline = "main"
            stages = { a = "s1" }
            """.replace("\n            ", "\n")
        )
        (obj,) = parsed.config.objects
        assert "crm-sales" == parsed.config.sync_id
        assert 0.5 == parsed.config.max_change_ratio
        assert ("contacts", "people", Direction.TO_APP, Side.APP) == (
            obj.hub_type,
            obj.app_type,
            obj.direction,
            obj.winner,
        )
        assert MatchRule([("email", "mail")], require=False, kinds=("email",)) == obj.match
        assert ("email", "stage") == tuple(m.hub for m in obj.mappings)
        assert {"lead": "Lead"} == obj.mappings[1].options
        assert "newest" == obj.mappings[1].policy
        assert obj.hub_filter is not None
        assert obj.hub_filter.matches({"since": date(2024, 5, 1)})
        assert not obj.hub_filter.matches({"since": date(2023, 5, 1)})
        assert {"a": "s1"} == obj.pipelines[0].stages
        assert obj.filter_lifetime

    def test_table_of_object_syncs_takes_the_hub_type_from_the_key(self):
        """``[objects.contacts]`` names the hub type; ``match = "none"`` turns matching off."""
        parsed = parse(
            """
            [objects.contacts]
            app_type = "people"
            match = "none"
            mappings = [["email", "mail"]]
            """
        )
        (obj,) = parsed.config.objects
        assert ("contacts", MatchRule.none()) == (obj.hub_type, obj.match)
        assert ("objects.contacts",) == parsed.object_paths

    def test_groups_filter_is_an_or_of_ands_and_datetimes_keep_their_offset(self):
        """``groups`` holds alternatives; offset datetimes become aware datetimes."""
        parsed = parse(
            """
            [objects.contacts]
            app_type = "people"
            match = "none"
            mappings = [["email", "mail"]]
            app_filter = { groups = [
              [{ property = "seen", op = "gt", value = 2024-01-01T00:00:00Z }],
              [{ property = "vip", op = "eq", value = true }],
            ] }
            """
        )
        app_filter = parsed.config.objects[0].app_filter
        assert isinstance(app_filter, Filter)
        assert datetime(2024, 1, 1, tzinfo=UTC) == app_filter.groups[0][0].value
        assert app_filter.matches({"vip": True})
        assert app_filter.matches({"seen": datetime(2024, 2, 1, tzinfo=UTC)})
        assert not app_filter.matches({"vip": False})

    def test_index_defaults_to_sqlite_next_to_the_file(self, tmp_path):
        """Without [index], the index is index.db in the config file's folder."""
        path = tmp_path / "sync.toml"
        path.write_text(
            BASE + '[objects.c]\napp_type = "p"\nmatch = "none"\nmappings = [["a", "b"]]'
        )
        parsed = read_config(path)
        assert ("sqlite", tmp_path / "index.db") == (parsed.index.kind, parsed.index.path)

    def test_adapter_options_are_passed_on_without_kind(self):
        """[hub] minus ``kind`` is what the adapter factory receives."""
        parsed = parse_config(
            'sync_id = "s"\n[hub]\nkind = "sqlite"\npath = "crm.db"\n[app]\nkind = "memory"\n'
            '[objects.c]\napp_type = "p"\nmatch = "none"\nmappings = [["a", "b"]]'
        )
        assert ("sqlite", {"path": "crm.db"}) == (parsed.hub.kind, dict(parsed.hub.options))


class TestErrors:
    """Every mistake names the file, the key path and what was expected (SPEC X2)."""

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (
                """
                [[objects]]
                hub_type = "contacts"
                app_type = "people"
                match = "none"
                mappings = [["a", "b"], ["c", "d"], { hub = "e", app = 3 }]
                """,
                "sync.toml: objects[0].mappings[2].app: expected the app property's name, "
                "got an integer",
            ),
            (
                """
                [objects.contacts]
                app_type = "people"
                match = "none"
                mappings = [["a", "b"], { hub = "c", app = "d", drection = "to_app" }]
                """,
                "sync.toml: objects.contacts.mappings[1].drection: unknown key 'drection'; "
                "did you mean 'direction'?",
            ),
            (
                """
                [objects.contacts]
                app_type = "people"
                mappings = [["a", "b"]]
                """,
                "sync.toml: objects.contacts.match: missing;",
            ),
            (
                """
                [objects.contacts]
                app_type = "people"
                match = "none"
                direction = "sideways"
                mappings = [["a", "b"]]
                """,
                "sync.toml: objects.contacts.direction: unknown direction 'sideways'",
            ),
            (
                """
                [objects.contacts]
                app_type = "people"
                match = "none"
                mappings = [["a", "b"]]
                hub_filter = { where = [{ property = "x", op = "like", value = 1 }] }
                """,
                "sync.toml: objects.contacts.hub_filter.where[0].op: unknown operator 'like'",
            ),
            (
                """
                [objects.contacts]
                app_type = "people"
                match = "none"
                mappings = [["a", "b"]]
                hub_filter = { where = [{property="x", op="gt", value=2024-01-01T10:00:00}] }
                """,
                "sync.toml: objects.contacts.hub_filter.where[0].value: datetime "
                "2024-01-01T10:00:00 has no offset",
            ),
            (
                """
                [objects.contacts]
                app_type = "people"
                match = { keys = [["email"]] }
                mappings = [["a", "b"]]
                """,
                "sync.toml: objects.contacts.match.keys[0]: expected",
            ),
            (
                """
                [objects.a]
                app_type = "x"
                match = "none"
                mappings = [["a", "b"]]
                [objects.b]
                app_type = "x"
                match = "none"
                mappings = [["a", "b"]]
                """,
                "sync.toml: objects.b.app_type: app type 'x' is already synced by objects[0]",
            ),
            ("", "sync.toml: objects: missing;"),
            ('[colour]\nhue = "blue"', "sync.toml: colour: unknown key 'colour'"),
        ],
    )
    def test_message_names_the_file_the_key_and_the_expectation(self, body, expected):
        """The message starts with file and key path, then says what was expected."""
        message = error_of(body)
        assert message.startswith(expected), message
        assert "\n" not in message

    def test_invalid_toml_names_the_file_and_the_line(self):
        """A TOML syntax error says so, with tomllib's line and column."""
        with pytest.raises(ConfigFileError, match=r"^sync\.toml: invalid TOML: .*line 2"):
            parse_config('sync_id = "s"\n[hub\n', file="sync.toml")

    def test_missing_file_is_a_config_file_error(self, tmp_path):
        """Reading a file that is not there names it."""
        missing = tmp_path / "nope.toml"
        with pytest.raises(ConfigFileError, match="no such file"):
            read_config(missing)

    def test_config_file_error_is_a_config_error_with_file_and_path(self):
        """Callers can catch ConfigError and read file, path and problem apart."""
        with pytest.raises(ConfigError) as caught:
            parse('[objects.c]\napp_type = "p"\nmatch = "none"\nmappings = [["a", 1]]')
        error = caught.value
        assert isinstance(error, ConfigFileError)
        assert ("sync.toml", "objects.c.mappings[0]") == (error.file, error.path)

    def test_schema_mismatch_found_by_the_engine_is_spelt_as_the_file_does(self, tmp_path):
        """The engine's ``objects[0]…`` path becomes the file's ``objects.contacts…``."""
        path = tmp_path / "sync.toml"
        path.write_text(
            textwrap.dedent(
                """\
                sync_id = "s"
                [hub]
                kind = "memory"
                schemas = { contacts = { properties = [{ name = "email" }] } }
                [app]
                kind = "memory"
                schemas = { people = { properties = [{ name = "mail" }] } }
                [index]
                kind = "memory"
                [objects.contacts]
                app_type = "people"
                match = "none"
                mappings = [["email", "mail"], ["email2", "mail2"]]
                """
            )
        )
        with (
            read_config(path).open() as setup,
            pytest.raises(ConfigFileError, match=r"sync\.toml: objects\.contacts\.mappings\[1\]"),
        ):
            setup.engine()

    def test_unknown_adapter_kind_lists_the_known_kinds(self, tmp_path):
        """An unknown kind names ``hub.kind`` and every kind that is installed."""
        parsed = parse_config(
            'sync_id = "s"\n[hub]\nkind = "sqlight"\n[app]\nkind = "memory"\n'
            '[objects.c]\napp_type = "p"\nmatch = "none"\nmappings = [["a", "b"]]',
            file=tmp_path / "sync.toml",
        )
        with pytest.raises(ConfigFileError) as caught:
            parsed.open()
        message = str(caught.value)
        assert "hub.kind: unknown adapter kind 'sqlight'; did you mean 'sqlite'?" in message
        assert "known kinds: hubspot, memory, sqlite" in message


class TestPlugins:
    """Adapter kinds from entry points, and the options helper connector authors use."""

    def test_builtin_kinds_are_registered_as_entry_points(self):
        """memory and sqlite are found through the syncengine.adapters group."""
        from importlib.metadata import entry_points

        names = {ep.name for ep in entry_points(group="syncengine.adapters")}
        assert {"memory", "sqlite"} <= names

    def test_a_module_path_works_as_a_kind(self, tmp_path):
        """``kind = "module:Name"`` loads an adapter that is not packaged."""
        adapter = load_adapter(
            "syncengine.adapters.sqlite:SQLiteAdapter",
            {"path": "x.db", "schemas": {"notes": {"properties": [{"name": "text"}]}}},
            base_dir=tmp_path,
        )
        assert (tmp_path / "x.db").exists()
        assert ["notes"] == adapter.object_types()
        adapter.close()

    def test_sqlite_kind_refuses_a_database_that_does_not_exist(self, tmp_path):
        """A mistyped path is an error naming ``path``, not a new empty app."""
        with pytest.raises(ConfigError, match=r"^path: database .* does not exist"):
            load_adapter("sqlite", {"path": "typo.db"}, base_dir=tmp_path)
        assert not (tmp_path / "typo.db").exists()

    def test_options_reject_unknown_and_mistyped_keys(self, tmp_path):
        """AdapterOptions names the key; finish() rejects keys nobody read."""
        opts = AdapterOptions({"page_size": "10", "pth": "x"}, base_dir=tmp_path)
        with pytest.raises(ConfigError, match=r"^page_size: expected an integer ≥ 1, got a string"):
            opts.get_int("page_size", 100, minimum=1)
        opts = AdapterOptions({"pth": "x"}, base_dir=tmp_path)
        assert tmp_path / "app.db" == opts.get_path("path", "app.db")
        with pytest.raises(ConfigError, match=r"^pth: unknown key 'pth'; did you mean 'path'"):
            opts.finish()

    def test_schemas_from_options_read_both_spellings(self):
        """A table keyed by type and an array of named tables give the same schemas."""
        keyed = schemas_from_options(
            {
                "contacts": {
                    "properties": [
                        {"name": "email", "unique": True},
                        {"name": "n", "type": "number"},
                    ]
                }
            }
        )
        listed = schemas_from_options(
            [
                {
                    "name": "contacts",
                    "properties": [
                        {"name": "email", "unique": True},
                        {"name": "n", "type": "number"},
                    ],
                }
            ]
        )
        assert keyed == listed
        assert ("email", "n") == tuple(p.name for p in keyed[0].properties)

    def test_schemas_from_options_names_a_bad_property_type(self):
        """An unknown property type names its key path and lists the types."""
        with pytest.raises(ConfigError, match=r"^schemas\.c\.properties\[0\]\.type: unknown type"):
            schemas_from_options({"c": {"properties": [{"name": "x", "type": "text"}]}})


def test_demo_config_is_a_valid_config_file():
    """The config the demo writes parses (it is also the format's long example)."""
    from syncengine.demo import CONFIG

    parsed = parse_config(CONFIG, file=Path("syncengine.toml"))
    assert ["companies", "contacts", "deals"] == [o.hub_type for o in parsed.config.objects]


def test_the_complete_example_of_the_how_to_parses():
    """The example in docs/how-to/config-files.md is a valid config file."""
    import re

    doc = Path(__file__).parents[2] / "docs" / "how-to" / "config-files.md"
    found = re.search(r"```toml\n(# crm-sales\.toml.*?)```", doc.read_text(), re.DOTALL)
    assert found is not None
    parsed = parse_config(found.group(1), file="crm-sales.toml")
    assert ["companies", "contacts", "deals"] == [o.hub_type for o in parsed.config.objects]
