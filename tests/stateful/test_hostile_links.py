"""Hostile link ids: contacts that keep links to companies (``associations``), and links
another program left pointing anywhere (issue 18).

The hostile-input tests of records and configs use one object type, so links never met
a hostile id. Here both apps hold contacts and companies, the contacts keep their links
to companies, and the machine links contacts to what an app may hold besides a live
company: a huge id, an empty one, blanks, control and bidi characters, a lone
surrogate, the id of a contact (another type), of a company deleted since, of a record
that never existed, of the other app. Between them, users link, edit and delete, and
passes run (incremental and reconcile). After every pass:

* the pass ran to its end, and no contact failed (a link to something that is not a
  synced company waits; it never fails the record, which syncs as usual);
* every link the engine made joins the counterparts of a link the other app holds,
  between synced companies that are not deleted (never one to a hostile id, a deleted
  record or a record of another type);
* at the end, every link between live, synced records is made on both sides.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from syncengine import (
    FieldMapping,
    MatchRule,
    ObjectSchema,
    ObjectSync,
    PropertySpec,
    RecordState,
    Side,
    SyncConfig,
    SyncEngine,
)
from syncengine.adapters import InMemoryAdapter
from syncengine.index import IndexStore, MemoryIndexStore, SQLiteIndexStore

CONTACTS = {Side.HUB: "contacts", Side.APP: "people"}
COMPANIES = {Side.HUB: "companies", Side.APP: "accounts"}
MAIL = {Side.HUB: "email", Side.APP: "mail"}
FIRST = {Side.HUB: "firstname", Side.APP: "first_name"}
NAME = {Side.HUB: "name", Side.APP: "company"}
DOMAIN = {Side.HUB: "domain", Side.APP: "website"}

#: The hostile kinds of link ids; "contact", "deleted", "other app" and "never" are
#: resolved against the apps when drawn.
HOSTILE = (
    "huge",
    "empty",
    "blank",
    "control",
    "newline",
    "bidi",
    "surrogate",
    "separator",
    "contact",
    "deleted",
    "other app",
    "never",
)
_LITERAL = {
    "huge": "x" * 100_000,
    "empty": "",
    "blank": " \t",
    "control": "\x00\x1b",
    "newline": "a\nb",
    "bidi": "\u202eh1",
    "surrogate": "h\ud800",
    "separator": "~companies:hub:h1",
}


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _schemas(side: Side) -> list[ObjectSchema]:
    return [
        ObjectSchema(
            CONTACTS[side],
            [PropertySpec(MAIL[side], "string"), PropertySpec(FIRST[side], "string")],
        ),
        ObjectSchema(
            COMPANIES[side],
            [PropertySpec(NAME[side], "string"), PropertySpec(DOMAIN[side], "string")],
        ),
    ]


def _config() -> SyncConfig:
    companies = ObjectSync(
        "companies",
        "accounts",
        [FieldMapping("name", "company"), FieldMapping("domain", "website")],
        match=MatchRule.company(("name", "company"), ("domain", "website")),
    )
    contacts = ObjectSync(
        "contacts",
        "people",
        [FieldMapping("email", "mail"), FieldMapping("firstname", "first_name")],
        match=MatchRule.email("email", "mail"),
        associations=("companies",),
    )
    return SyncConfig("links", [companies, contacts])


class HostileLinksMachine(RuleBasedStateMachine):
    """Contacts linked to companies and to hostile ids, in both apps, synced."""

    @initialize(sqlite=st.booleans())
    def start(self, sqlite: bool) -> None:
        self.folder = tempfile.TemporaryDirectory()
        self.clock = _Clock()
        self.apps = {
            side: InMemoryAdapter(
                _schemas(side), name=side.value, clock=self.clock, id_prefix=side.value[0]
            )
            for side in Side
        }
        self.index: IndexStore = (
            SQLiteIndexStore(Path(self.folder.name) / "index.db") if sqlite else MemoryIndexStore()
        )
        self.engine = SyncEngine(
            self.apps[Side.HUB],
            self.apps[Side.APP],
            self.index,
            _config(),
            clock=self.clock,
            sleep=self.clock.advance,
        )
        self.made = 0
        #: (side, contact id) -> the company ids the test linked it to on that side
        self.planted: dict[tuple[Side, str], set[str]] = {}
        #: company ids deleted, by side
        self.deleted: dict[Side, list[str]] = {Side.HUB: [], Side.APP: []}
        self.passed = False
        #: (side, contact id) -> its links when last checked
        self.seen: dict[tuple[Side, str], frozenset[str]] = {}
        for side in Side:
            self.add_company(side)
            self.add_contact(side)
        report = self.engine.initial_sync()
        assert not report.errors, report.errors

    # ---- what users do ----------------------------------------------------------------
    @rule(side=st.sampled_from(Side))
    def add_company(self, side: Side) -> None:
        self.made += 1
        self.clock.advance()
        self.apps[side].put(
            COMPANIES[side], {NAME[side]: f"Co {self.made}", DOMAIN[side]: f"co{self.made}.io"}
        )

    @rule(side=st.sampled_from(Side))
    def add_contact(self, side: Side) -> None:
        self.made += 1
        self.clock.advance()
        self.apps[side].put(CONTACTS[side], {MAIL[side]: f"p{self.made}@x.io", FIRST[side]: "v0"})

    def _contact(self, data: st.DataObject, side: Side) -> str | None:
        ids = [r.id for r in self.apps[side].records(CONTACTS[side])]
        return data.draw(st.sampled_from(ids), label="contact") if ids else None

    @rule(data=st.data(), side=st.sampled_from(Side))
    def link(self, data: st.DataObject, side: Side) -> None:
        """A user links a contact to a live company."""
        contact = self._contact(data, side)
        companies = [r.id for r in self.apps[side].records(COMPANIES[side])]
        if contact is None or not companies:
            return
        company = data.draw(st.sampled_from(companies), label="company")
        self.clock.advance()
        self.apps[side].link(CONTACTS[side], contact, COMPANIES[side], company)
        self.planted.setdefault((side, contact), set()).add(company)

    @rule(data=st.data(), side=st.sampled_from(Side), kind=st.sampled_from(HOSTILE))
    def hostile_link(self, data: st.DataObject, side: Side, kind: str) -> None:
        """Another program links a contact to an id that is no live company."""
        contact = self._contact(data, side)
        if contact is None:
            return
        if kind == "contact":
            to_id: str | None = contact
        elif kind == "deleted":
            gone = self.deleted[side]
            to_id = data.draw(st.sampled_from(gone), label="deleted") if gone else None
        elif kind == "other app":
            others = [r.id for r in self.apps[side.other].records(COMPANIES[side.other])]
            to_id = data.draw(st.sampled_from(others), label="theirs") if others else None
            if to_id in {r.id for r in self.apps[side].records(COMPANIES[side])}:
                to_id = None  # (ids of the two apps never meet: their prefixes differ)
        elif kind == "never":
            to_id = f"{side.value[0]}{10_000 + self.made}"
        else:
            to_id = _LITERAL[kind]
        if to_id is None:
            return
        self.clock.advance()
        self.apps[side].link(CONTACTS[side], contact, COMPANIES[side], to_id)
        self.planted.setdefault((side, contact), set()).add(to_id)

    @rule(data=st.data(), side=st.sampled_from(Side))
    def edit(self, data: st.DataObject, side: Side) -> None:
        contact = self._contact(data, side)
        if contact is not None:
            self.clock.advance()
            self.apps[side].patch(CONTACTS[side], contact, **{FIRST[side]: f"v{self.made}"})
            self.made += 1

    @rule(data=st.data(), side=st.sampled_from(Side))
    def delete_company(self, data: st.DataObject, side: Side) -> None:
        companies = [r.id for r in self.apps[side].records(COMPANIES[side])]
        if len(companies) < 2:
            return
        company = data.draw(st.sampled_from(companies), label="deleted company")
        self.clock.advance()
        self.apps[side].remove(COMPANIES[side], company)
        self.deleted[side].append(company)

    @rule(reconcile=st.booleans())
    def run(self, reconcile: bool) -> None:
        self.clock.advance()
        report = self.engine.reconcile() if reconcile else self.engine.incremental_sync()
        self.errors = report.errors
        self.passed = True
        # No contact failed: a link to what is not a synced company waits.
        for error in report.errors:
            assert error.startswith("companies: "), error

    # ---- what must hold ---------------------------------------------------------------
    def company_pairs(self) -> dict[Side, dict[str, str]]:
        """company id on each side -> its counterpart, for synced, undeleted pairs."""
        pairs: dict[Side, dict[str, str]] = {Side.HUB: {}, Side.APP: {}}
        for entry in self.index.entries("links", "companies"):
            if (
                entry.state is RecordState.SYNCED
                and entry.deleted is None
                and entry.hub_id is not None
                and entry.app_id is not None
            ):
                pairs[Side.HUB][entry.hub_id] = entry.app_id
                pairs[Side.APP][entry.app_id] = entry.hub_id
        return pairs

    def contact_pairs(self) -> list[tuple[str, str]]:
        return [
            (e.hub_id, e.app_id)
            for e in self.index.entries("links", "contacts")
            if e.hub_id is not None and e.app_id is not None
        ]

    def links_of(self, side: Side, contact: str) -> frozenset[str]:
        record = self.apps[side].get(CONTACTS[side], contact)
        assert record is not None, (side, contact)
        return frozenset(record.associations.get(COMPANIES[side], ()))

    @invariant()
    def the_engine_links_only_counterparts(self) -> None:
        """After a pass: each contact synced; each link the pass made joins the
        counterparts of a link the other app holds, between companies synced and not
        deleted; each link the engine ever made joins a pair of the index."""
        if not getattr(self, "passed", False):
            return
        self.passed = False
        for entry in self.index.entries("links", "contacts"):
            assert RecordState.SYNCED is entry.state, entry
        pairs = self.company_pairs()
        ever: dict[Side, dict[str, str]] = {Side.HUB: {}, Side.APP: {}}
        for entry in self.index.entries("links", "companies"):
            if entry.hub_id is not None and entry.app_id is not None:
                ever[Side.HUB][entry.hub_id] = entry.app_id
                ever[Side.APP][entry.app_id] = entry.hub_id
        for hub_id, app_id in self.contact_pairs():
            ids = {Side.HUB: hub_id, Side.APP: app_id}
            for side in Side:
                mine = self.links_of(side, ids[side])
                theirs = self.links_of(side.other, ids[side.other])
                made = mine - self.planted.get((side, ids[side]), set())
                new = made - self.seen.get((side, ids[side]), frozenset())
                self.seen[(side, ids[side])] = mine
                for link in made:
                    assert link in ever[side], f"{side} {ids[side]} linked to {link!r:.40}"
                for link in new:
                    counterpart = next(
                        (o for o in theirs if pairs[side.other].get(o) == link), None
                    )
                    assert counterpart is not None, (
                        f"the pass linked {side} contact {ids[side]} to {link!r}, which no "
                        f"link of {ids[side.other]} in the other app ({sorted(theirs)}) to a "
                        "company synced and not deleted joins"
                    )

    def teardown(self) -> None:
        try:
            if not hasattr(self, "engine"):
                return
            self.engine.reconcile()
            self.engine.incremental_sync()
            pairs = self.company_pairs()
            for hub_id, app_id in self.contact_pairs():
                ids = {Side.HUB: hub_id, Side.APP: app_id}
                for side in Side:
                    live = {r.id for r in self.apps[side].records(COMPANIES[side])}
                    for company in self.planted.get((side, ids[side]), set()):
                        other = pairs[side].get(company)
                        if company in live and other is not None:
                            assert other in self.links_of(side.other, ids[side.other]), (
                                f"the link of {side} contact {ids[side]} to {company} was not "
                                f"made in the other app (to {other})"
                            )
        finally:
            if hasattr(self, "index"):
                self.index.close()
                self.folder.cleanup()


HostileLinksMachine.TestCase.settings = settings(
    max_examples=min(settings.default.max_examples, 60),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestHostileLinkIds = HostileLinksMachine.TestCase
