"""Wide HubSpot portals: hundreds of properties never make a request too long (issue 19 §2).

HubSpot's front end answers 414 "Request-URI Too Large" when a GET's query is longer than
about 8 KB (public reports cited in :mod:`syncengine.testing.hubspot`); the local HubSpot
does the same. A full scan used to list every property of the type in its query string.
Now the adapter reads only the properties the sync needs (the engine announces them with
``include_properties``), and moves a list that is still too long into ``batch/read``
bodies. ``HubSpotAdapter(properties=...)`` naming a property the account lacks is a
ConfigError naming ``properties`` when the engine is built (X2).
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
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
from syncengine.adapters.hubspot import HubSpotAdapter
from syncengine.configfile import parse_config
from syncengine.index import MemoryIndexStore
from syncengine.testing.hubspot import FakeHubSpot, ManualClock, property_definition

FAST = (100_000, 1.0)
TOKEN = "pat-na1-wide-portal"
WIDE = 400  # custom properties: ~18 KB of names, as on the portals of the bug reports


def custom(i: int) -> str:
    """The name of wide custom property ``i`` (45 characters, as integrations name them)."""
    return f"integration_custom_field_with_long_name_{i:05d}"


def wide_fake(clock: ManualClock, width: int = WIDE) -> FakeHubSpot:
    """A local HubSpot whose contacts have ``width`` custom properties."""
    fake = FakeHubSpot(token=TOKEN, clock=clock, sleep=clock.sleep)
    for i in range(width):
        fake.add_property("contacts", property_definition(custom(i)))
    return fake


def recorded(fake: FakeHubSpot, lines: list[str]) -> httpx.MockTransport:
    """A transport to ``fake`` that records every request line it sends."""

    def handle(request: httpx.Request) -> httpx.Response:
        lines.append(f"{request.method} {request.url.raw_path.decode()}")
        return fake.handle(request)

    return httpx.MockTransport(handle)


def adapter_for(fake: FakeHubSpot, clock: ManualClock, lines: list[str] | None = None, **kw):
    """A HubSpotAdapter on the local HubSpot."""
    transport = recorded(fake, lines) if lines is not None else httpx.MockTransport(fake.handle)
    return HubSpotAdapter(
        TOKEN,
        transport=transport,
        rate_limit=FAST,
        search_rate=FAST,
        consistency_window=0.0,
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )


PEOPLE = ObjectSchema(
    "people",
    [
        PropertySpec("mail", "string", unique=True),
        PropertySpec("first", "string"),
        PropertySpec("note", "string"),
    ],
)


def contacts_config(*extra: FieldMapping) -> SyncConfig:
    """Contacts ↔ people by e-mail, with the first name and one wide custom property."""
    return SyncConfig(
        "wide",
        [
            ObjectSync(
                "contacts",
                "people",
                [
                    FieldMapping("email", "mail"),
                    FieldMapping("firstname", "first"),
                    FieldMapping(custom(7), "note"),
                    *extra,
                ],
                match=MatchRule.email("email", "mail"),
            )
        ],
    )


def test_the_fake_answers_414_past_8_kb_like_hubspots_front_end():
    """A GET whose request line is longer than 8 KB gets nginx's 414 page, not JSON."""
    fake = FakeHubSpot(token=TOKEN)
    client = httpx.Client(
        transport=httpx.MockTransport(fake.handle),
        base_url="https://api.hubapi.com",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    short = client.get("/crm/v3/objects/contacts", params={"properties": "a" * 8000})
    long = client.get("/crm/v3/objects/contacts", params={"properties": "a" * 8200})
    assert 200 == short.status_code
    assert 414 == long.status_code
    assert b"414 Request-URI Too Large" in long.content
    assert "text/html" == long.headers["content-type"]


def test_an_initial_sync_of_a_wide_portal_reads_only_mapped_properties():
    """400 long custom properties: the sync works, no request is refused, lists stay short.

    Fails on the adapter that listed every property in the query (414 on the first page).
    """
    clock = ManualClock()
    fake = wide_fake(clock)
    for n in range(250):
        fake.put("contacts", email=f"p{n}@example.com", firstname=f"P{n}", **{custom(7): "x"})
    lines: list[str] = []
    hub = adapter_for(fake, clock, lines)
    app = InMemoryAdapter([PEOPLE], name="app")
    engine = SyncEngine(hub, app, MemoryIndexStore(), contacts_config())
    report = engine.initial_sync()
    assert 0 == report.failed, report.summary()
    assert 250 == app.count("people")
    people = {
        r.properties["mail"]: dict(r.properties) for p in app.scan("people") for r in p.records
    }
    assert {"mail": "p3@example.com", "first": "P3", "note": "x"} == people["p3@example.com"]
    assert {"x"} == {values["note"] for values in people.values()}
    assert 414 not in fake.statuses()
    lists = [line for line in lines if line.startswith("GET /crm/v3/objects/contacts?")]
    assert lists
    for line in lists:
        assert len(line) < 1000, line[:200]
        assert custom(8) not in line  # an unmapped property is not read
    hub.close()


def test_a_long_list_of_mapped_properties_moves_into_batch_read_bodies():
    """300 mapped long names: lists carry ids only, batch/read carries the properties."""
    clock = ManualClock()
    fake = wide_fake(clock, width=300)
    app_schema = ObjectSchema(
        "people",
        [
            PropertySpec("mail", "string", unique=True),
            *[PropertySpec(f"f{i}", "string") for i in range(300)],
        ],
    )
    config = SyncConfig(
        "wide",
        [
            ObjectSync(
                "contacts",
                "people",
                [FieldMapping("email", "mail")]
                + [FieldMapping(custom(i), f"f{i}") for i in range(300)],
                match=MatchRule.email("email", "mail"),
            )
        ],
    )
    for n in range(150):
        fake.put(
            "contacts", email=f"p{n}@example.com", **{custom(i): f"v{n}-{i}" for i in range(300)}
        )
    lines: list[str] = []
    hub = adapter_for(fake, clock, lines)
    app = InMemoryAdapter([app_schema], name="app")
    report = SyncEngine(hub, app, MemoryIndexStore(), config).initial_sync()
    assert 0 == report.failed, report.summary()
    records = [r for p in app.scan("people") for r in p.records]
    assert 150 == len(records)
    for record in records:
        n = record.properties["mail"][1:].split("@")[0]
        assert {f"f{i}": f"v{n}-{i}" for i in range(300)} == {
            f"f{i}": record.properties[f"f{i}"] for i in range(300)
        }
    assert 414 not in fake.statuses()
    assert all(len(line) <= 4096 for line in lines if line.startswith("GET "))
    assert any(line.startswith("POST /crm/v3/objects/contacts/batch/read") for line in lines)
    hub.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    width=st.integers(min_value=0, max_value=500),
    longest=st.integers(min_value=1, max_value=90),
    records=st.integers(min_value=0, max_value=130),
    page_size=st.integers(min_value=1, max_value=100),
)
def test_a_full_scan_of_any_width_reads_every_record_and_value_without_a_414(
    width, longest, records, page_size
):
    """Any number and length of property names: every record, every value, no 414."""
    names = [f"p{i}_" + "x" * (1 + (i * 7919) % longest) for i in range(width)]
    clock = ManualClock()
    fake = FakeHubSpot(token=TOKEN, clock=clock, sleep=clock.sleep)
    for name in names:
        fake.add_property("contacts", property_definition(name))
    wanted = {}
    for n in range(records):
        values = {name: f"{n}:{name[-3:]}" for name in names[n % 7 :: 7]}
        wanted[fake.put("contacts", email=f"c{n}@example.com", **values)] = values
    hub = adapter_for(fake, clock, page_size=page_size)
    try:
        got = {r.id: dict(r.properties) for p in hub.scan("contacts") for r in p.records}
    finally:
        hub.close()
    assert 414 not in fake.statuses()
    assert set(wanted) == set(got)
    for record_id, values in wanted.items():
        assert values == {k: got[record_id][k] for k in values}


class TestUnknownProperties:
    """``properties=`` naming what the account lacks: a ConfigError naming the option (X2)."""

    def test_the_engine_build_refuses_it_naming_properties_and_the_names(self):
        """At engine build, path ``hub.properties``, every unknown name, a suggestion."""
        clock = ManualClock()
        fake = FakeHubSpot(token=TOKEN, clock=clock, sleep=clock.sleep)
        hub = adapter_for(
            fake, clock, properties={"contacts": ["email", "frist_name", "no_such_thing"]}
        )
        app = InMemoryAdapter([PEOPLE], name="app")
        with pytest.raises(ConfigError) as caught:
            SyncEngine(hub, app, MemoryIndexStore(), contacts_config())
        assert "hub.properties" == caught.value.path
        text = str(caught.value)
        assert "'frist_name'" in text
        assert "'no_such_thing'" in text
        assert "did you mean 'firstname'" in text
        hub.close()

    def test_a_config_file_names_the_file_and_the_key(self, tmp_path, monkeypatch):
        """Through a config file: ``FILE: hub.properties: …``."""
        clock = ManualClock()
        fake = FakeHubSpot(token=TOKEN, clock=clock, sleep=clock.sleep)
        monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
        with fake.serve() as url:
            path = tmp_path / "sync.toml"
            path.write_text(
                f"""
sync_id = "wide"
[hub]
kind = "hubspot"
base_url = "{url}"
properties = {{contacts = ["email", "frist_name"]}}
[app]
kind = "memory"
schemas = {{people = {{properties = [{{name = "mail"}}, {{name = "first"}}]}}}}
[index]
kind = "memory"
[objects.contacts]
app_type = "people"
mappings = [["email", "mail"]]
"""
            )
            from syncengine.configfile import load

            setup = load(path)
            try:
                with pytest.raises(ConfigError) as caught:
                    setup.engine()
            finally:
                setup.close()
        assert str(caught.value).startswith(f"{path}: hub.properties: ")
        assert "'frist_name'" in str(caught.value)

    @pytest.mark.parametrize(
        ("value", "where"),
        [
            ('"email"', "hub.properties"),
            ('{contacts = "email"}', "hub.properties.contacts"),
            ("{contacts = []}", "hub.properties.contacts"),
            ('{contacts = ["email", 3]}', "hub.properties.contacts"),
        ],
    )
    def test_a_malformed_properties_option_is_refused_at_load(
        self, tmp_path, monkeypatch, value, where
    ):
        """A bad value: ConfigFileError naming the file and ``hub.properties``."""
        monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
        path = tmp_path / "sync.toml"
        path.write_text(
            f"""
sync_id = "wide"
[hub]
kind = "hubspot"
properties = {value}
[app]
kind = "memory"
[index]
kind = "memory"
[objects.contacts]
app_type = "people"
mappings = [["email", "mail"]]
"""
        )
        with pytest.raises(ConfigError) as caught:
            parse_config(path.read_text(), file=path).open()
        assert str(caught.value).startswith(f"{path}: {where}: "), str(caught.value)

    def test_a_bare_string_list_is_refused_when_the_adapter_is_built(self):
        """``properties={"contacts": "email"}`` would be read letter by letter: refused."""
        with pytest.raises(ConfigError, match=r"properties\['contacts'\]"):
            HubSpotAdapter(TOKEN, properties={"contacts": "email"})  # type: ignore[dict-item]
        with pytest.raises(ConfigError, match=r"associations\['contacts'\]"):
            HubSpotAdapter(TOKEN, associations={"contacts": "companies"})  # type: ignore[dict-item]


def test_the_schema_still_lists_every_property_so_mappings_are_checked():
    """Reading fewer properties does not hide any from the schema: a typo is still caught."""
    clock = ManualClock()
    fake = wide_fake(clock, width=10)
    hub = adapter_for(fake, clock)
    app = InMemoryAdapter([PEOPLE], name="app")
    SyncEngine(hub, app, MemoryIndexStore(), contacts_config())
    assert custom(9) in [s.name for s in hub.schema("contacts")]
    with pytest.raises(ConfigError, match="mappings"):
        SyncEngine(
            hub,
            app,
            MemoryIndexStore(),
            SyncConfig(
                "typo",
                [
                    ObjectSync(
                        "contacts",
                        "people",
                        [FieldMapping("email", "mail"), FieldMapping("frstname", "first")],
                        match=MatchRule.email("email", "mail"),
                    )
                ],
            ),
        )
    hub.close()
