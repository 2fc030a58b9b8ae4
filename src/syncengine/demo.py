"""``syncengine demo``: two realistic apps on disk, synced, changed, synced again.

The demo builds, in one folder:

* ``crm.db``: the hub, a CRM with contacts, companies and deals in a sales pipeline;
* ``sales.db``: the app, a sales tool with people, accounts and opportunities;
* ``syncengine.toml``: the config file that syncs them (read back through
  :mod:`syncengine.configfile`, exactly as ``syncengine run`` would);
* ``index.db``: the index, once the first pass has run.

The data is made to show what real syncs meet: people in both apps under different
spellings of their e-mail (case, spaces), companies whose names and web addresses differ
(matched by name *or* domain, rule M2, M6), duplicates in the sales app (M3), contacts
without e-mail (M5), conflicting values (D3), a hub filter and an app filter (L1), values
the other app refuses (F5, R2), deals in a stage the app has no match for (A3) and links
between all three types (A1). Everything comes from a seeded random generator, so two
runs with the same seed build the same apps.

This module builds files and prints; the library never imports it.

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
from rich.console import Console
from rich.markup import escape

from syncengine._console import ProgressDisplay, print_report, print_status
from syncengine.adapters.sqlite import SQLiteAdapter
from syncengine.configfile import SyncSetup, load
from syncengine.errors import ConfigError
from syncengine.records import Pipeline, Record, Stage
from syncengine.report import SyncEvent
from syncengine.schema import ObjectSchema, PropertySpec, PropertyType
from syncengine.states import ErrorCategory

__all__ = ["CONFIG", "DemoApps", "build_apps", "default_directory", "run_demo", "write_config"]

_S, _N, _B = PropertyType.STRING, PropertyType.NUMBER, PropertyType.BOOL
_E, _M = PropertyType.ENUM, PropertyType.MULTI_ENUM
_D, _DT = PropertyType.DATE, PropertyType.DATETIME

CRM_SCHEMAS: Final = (
    ObjectSchema(
        "companies",
        [
            PropertySpec("name", _S, required=True),
            PropertySpec("domain", _S),
            PropertySpec(
                "industry", _E, options=("software", "retail", "manufacturing", "finance", "health")
            ),
            PropertySpec("employees", _N),
            PropertySpec("city", _S),
        ],
    ),
    ObjectSchema(
        "contacts",
        [
            PropertySpec("email", _S, unique=True),
            PropertySpec("firstname", _S),
            PropertySpec("lastname", _S),
            PropertySpec("phone", _S),
            PropertySpec("jobtitle", _S),
            PropertySpec(
                "lifecyclestage", _E, options=("subscriber", "lead", "opportunity", "customer")
            ),
            PropertySpec("lead_score", _N),
            PropertySpec("last_contacted", _DT),
        ],
    ),
    ObjectSchema(
        "deals",
        [
            PropertySpec("dealname", _S, required=True),
            PropertySpec("amount", _N),
            PropertySpec("pipeline", _S),
            PropertySpec("dealstage", _S),
            PropertySpec("closedate", _D),
        ],
    ),
)
SALES_SCHEMAS: Final = (
    ObjectSchema(
        "accounts",
        [
            PropertySpec("company", _S, required=True),
            PropertySpec("website", _S),
            PropertySpec(
                "sector",
                _E,
                options=("Software", "Retail", "Manufacturing", "Finance", "Healthcare"),
            ),
            PropertySpec("headcount", _N),
            PropertySpec("city", _S),
        ],
    ),
    ObjectSchema(
        "people",
        [
            PropertySpec("mail", _S),
            PropertySpec("first_name", _S),
            PropertySpec("last_name", _S, required=True),
            PropertySpec("tel", _S),
            PropertySpec("title", _S),
            PropertySpec("status", _E, options=("Lead", "Prospect", "Customer", "Churned")),
            PropertySpec("score", _N),
            PropertySpec("vip", _B),
            PropertySpec("tags", _M, options=("newsletter", "webinar", "trial")),
            PropertySpec("last_touch", _DT),
        ],
    ),
    ObjectSchema(
        "opportunities",
        [
            PropertySpec("title", _S, required=True),
            PropertySpec("value", _N),
            PropertySpec("pipeline", _S),
            PropertySpec("stage", _S),
            PropertySpec("close_date", _D),
        ],
    ),
)
CRM_PIPELINES: Final = {
    "deals": [
        Pipeline(
            "default",
            "Sales pipeline",
            [
                Stage("appointmentscheduled", "Appointment scheduled"),
                Stage("qualifiedtobuy", "Qualified to buy"),
                Stage("presentationscheduled", "Presentation scheduled"),
                Stage("decisionmakerboughtin", "Decision maker bought-in"),
                Stage("contractsent", "Contract sent"),
                Stage("closedwon", "Closed won"),
                Stage("closedlost", "Closed lost"),
            ],
        )
    ]
}
# The sales app spells stages its own way and has no "decision maker" stage: deals there
# stay in the CRM, excluded as unmapped_stage (rule A3), until they move on.
SALES_PIPELINES: Final = {
    "opportunities": [
        Pipeline(
            "main",
            "Main",
            [
                Stage("s1", "appointment scheduled"),
                Stage("s2", "Qualified To Buy"),
                Stage("s3", "Presentation Scheduled"),
                Stage("s4", "Contract Sent"),
                Stage("s5", "Closed Won"),
                Stage("s6", "Closed Lost"),
            ],
        )
    ]
}

#: The demo's config file: also an example of the format (docs/how-to/config-files.md).
CONFIG: Final = """\
# syncengine demo: a CRM (the hub) synced with a sales app.
# Run it again with `syncengine run syncengine.toml`; see `syncengine --help`.
# Rule ids in comments, such as (M2), are explained in docs/rules.md.
sync_id = "crm-sales"

[hub]
kind = "sqlite"
path = "crm.db"
name = "crm"
id_prefix = "c"              # ids of records syncengine creates there: c1, c2, …

[app]
kind = "sqlite"
path = "sales.db"
name = "sales"
id_prefix = "s"

[index]
kind = "sqlite"
path = "index.db"

[objects.companies]
app_type = "accounts"
match = { keys = [["name", "company"], ["domain", "website"]] }   # name OR domain (M2)

[[objects.companies.mappings]]
hub = "name"
app = "company"

[[objects.companies.mappings]]
hub = "domain"
app = "website"

[[objects.companies.mappings]]
hub = "employees"
app = "headcount"

[[objects.companies.mappings]]
hub = "city"
app = "city"

[[objects.companies.mappings]]
hub = "industry"
app = "sector"
options.software = "Software"          # hub option = app option (F4)
options.retail = "Retail"
options.manufacturing = "Manufacturing"
options.finance = "Finance"
options.health = "Healthcare"

[objects.contacts]
app_type = "people"
associations = ["companies"]
winner = "hub"
match = { keys = [["email", "mail"]] }      # contacts without e-mail are excluded (M5)

[[objects.contacts.mappings]]
hub = "email"
app = "mail"

[[objects.contacts.mappings]]
hub = "firstname"
app = "first_name"

[[objects.contacts.mappings]]
hub = "lastname"
app = "last_name"

[[objects.contacts.mappings]]
hub = "phone"
app = "tel"

[[objects.contacts.mappings]]
hub = "jobtitle"
app = "title"

[[objects.contacts.mappings]]
hub = "lifecyclestage"
app = "status"
options = { lead = "Lead", opportunity = "Prospect", customer = "Customer" }

[[objects.contacts.mappings]]
hub = "lead_score"
app = "score"

[[objects.contacts.mappings]]
hub = "last_contacted"
app = "last_touch"
policy = "newest"

# Only leads, opportunities and customers go to the sales app (L1) ...
[[objects.contacts.hub_filter.where]]
property = "lifecyclestage"
op = "in"
value = ["lead", "opportunity", "customer"]

# ... and churned people stay out of the CRM.
[[objects.contacts.app_filter.where]]
property = "status"
op = "neq"
value = "Churned"

[objects.deals]
app_type = "opportunities"
associations = ["companies", "contacts"]
match = { keys = [["dealname", "title"]], kinds = ["text"] }
mappings = [["dealname", "title"], ["amount", "value"], ["closedate", "close_date"]]
pipeline_fields = ["pipeline", "pipeline"]
stage_fields = ["dealstage", "stage"]

[[objects.deals.pipelines]]
hub_pipeline = "default"
app_pipeline = "main"        # no stages: paired by label when the engine starts (A4)
"""

_FIRST: Final = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Edsger",
    "Frances",
    "Donald",
    "Radia",
    "Tim",
    "Katherine",
    "Dennis",
    "Sophie",
    "Lars",
    "Freja",
    "Mads",
    "Ingrid",
    "Oskar",
    "Astrid",
    "Emil",
    "Nora",
    "Jonas",
    "Clara",
    "Felix",
    "Ida",
    "Mateo",
    "Lucia",
    "Hugo",
    "Amara",
    "Kofi",
    "Yuki",
    "Haruto",
    "Priya",
    "Arjun",
    "Mei",
    "Chen",
    "Olga",
    "Ivan",
    "Zeynep",
    "Emre",
    "Fatima",
    "Omar",
    "Elena",
    "Marco",
    "Sven",
    "Karin",
    "Anouk",
    "Daan",
    "Aino",
    "Eero",
    "Noor",
    "Tariq",
    "Leila",
    "Rafael",
    "Ines",
]
_LAST: Final = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Dijkstra",
    "Allen",
    "Knuth",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "Ritchie",
    "Wilson",
    "Nielsen",
    "Jensen",
    "Hansen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Berg",
    "Lindqvist",
    "Virtanen",
    "Tanaka",
    "Sato",
    "Sharma",
    "Patel",
    "Wang",
    "Li",
    "Ivanova",
    "Petrov",
    "Yilmaz",
    "Kaya",
    "Haddad",
    "Rossi",
    "Bianchi",
    "Garcia",
    "Lopez",
    "Silva",
    "Costa",
    "Mensah",
    "Okafor",
    "Adeyemi",
    "Novak",
    "Kowalski",
    "Dubois",
    "Martin",
    "Muller",
    "Schmidt",
    "Fischer",
    "Weber",
    "Bakker",
    "Visser",
    "Smit",
    "Meyer",
    "Kim",
    "Park",
    "Nguyen",
]
_WORDS: Final = [
    "Nordlys",
    "Fjord",
    "Granite",
    "Copper",
    "Harbor",
    "Aurora",
    "Meridian",
    "Summit",
    "Beacon",
    "Cedar",
    "Atlas",
    "Orbit",
    "Quartz",
    "Nimbus",
    "Falcon",
    "Lumen",
    "Vertex",
    "Cobalt",
    "Juniper",
    "Willow",
    "Sable",
    "Tidal",
    "Ember",
    "Solstice",
    "Pioneer",
    "Crescent",
    "Keystone",
    "Polar",
    "Zenith",
    "Harvest",
]
_KINDS: Final = (
    ("Software", "software"),
    ("Retail", "retail"),
    ("Manufacturing", "manufacturing"),
    ("Finance", "finance"),
    ("Health", "health"),
)
_SUFFIXES: Final = ("Inc", "Ltd", "GmbH", "ApS", "A/S", "AB", "Oy", "BV", "LLC", "")
_CITIES: Final = [
    "Copenhagen",
    "Aarhus",
    "Oslo",
    "Stockholm",
    "Helsinki",
    "Berlin",
    "Hamburg",
    "Amsterdam",
    "London",
    "Dublin",
    "Paris",
    "Lyon",
    "Madrid",
    "Lisbon",
    "Milan",
    "Vienna",
    "Zurich",
    "Warsaw",
    "Prague",
    "Tallinn",
]
_TITLES: Final = (
    "CEO",
    "CTO",
    "Head of Sales",
    "Account Executive",
    "Engineer",
    "Product Manager",
    "Marketing Lead",
    "Buyer",
    "Office Manager",
    "Consultant",
)
_STAGES: Final = ("lead", "opportunity", "customer", "subscriber")
_SALES_STATUS: Final = {"lead": "Lead", "opportunity": "Prospect", "customer": "Customer"}
_DEAL_STAGES: Final = tuple(s.id for s in CRM_PIPELINES["deals"][0].stages)
_SALES_STAGE_OF: Final = {
    "appointmentscheduled": "s1",
    "qualifiedtobuy": "s2",
    "presentationscheduled": "s3",
    "contractsent": "s4",
    "closedwon": "s5",
    "closedlost": "s6",
}
_FILES: Final = ("crm.db", "sales.db", "index.db", "syncengine.toml")


@attrs.define
class DemoApps:
    """The two demo apps and what the demo remembers about them for its tour.

    Attributes:
        crm: The hub.
        sales: The app.
        config: The config file.
        conflict: The e-mail of a person whose name differs in the two apps.
    """

    crm: SQLiteAdapter
    sales: SQLiteAdapter
    config: Path
    conflict: str = ""

    def close(self) -> None:
        """Close both databases."""
        self.crm.close()
        self.sales.close()


def default_directory() -> Path:
    """Where ``syncengine demo`` builds its files without ``--dir``: the user's cache folder.

    ``$XDG_CACHE_HOME/syncengine/demo`` when ``XDG_CACHE_HOME`` is set, else
    ``~/.cache/syncengine/demo`` (Linux and other Unix systems),
    ``~/Library/Caches/syncengine/demo`` (macOS) or
    ``%LOCALAPPDATA%\\syncengine\\demo`` (Windows). Outside any working tree, so a demo
    run from a clone never shows up in ``git status``, and the same folder for every run,
    so the commands the demo suggests keep working from anywhere.
    """
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    if cache and Path(cache).is_absolute():
        return Path(cache) / "syncengine" / "demo"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "").strip()
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "syncengine" / "demo"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "syncengine" / "demo"
    return Path.home() / ".cache" / "syncengine" / "demo"


def _clean(directory: Path) -> None:
    """Remove the files of an earlier demo (and nothing else) from ``directory``.

    The demo's files are known by its config file, which the demo writes first: files with
    the demo's names next to another ``syncengine.toml`` (or none) are someone else's.

    Raises:
        ConfigError: ``directory`` holds files with the demo's names that the demo did
            not make (``--dir``); nothing was removed.
    """
    present = [
        name
        for name in _FILES
        if any((directory / f"{name}{suffix}").exists() for suffix in ("", "-wal", "-shm"))
    ]
    if not present:
        return
    try:
        ours = (directory / "syncengine.toml").read_text(encoding="utf-8") == CONFIG
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise ConfigError(
            "--dir",
            f"the folder {str(directory)!r} holds {', '.join(present)}, which the demo did "
            "not make (its syncengine.toml is not the demo's); the demo would replace "
            "them. Choose another folder with --dir, or move those files away",
        )
    for name in _FILES:
        for suffix in ("", "-wal", "-shm"):
            (directory / f"{name}{suffix}").unlink(missing_ok=True)


def _phone(rng: random.Random) -> str:
    groups = [rng.randint(20, 99), *(rng.randint(10, 99) for _ in range(3))]
    return "+45 " + " ".join(str(g) for g in groups)


def _respell_email(rng: random.Random, email: str) -> str:
    """The same address as another app holds it: other case, stray spaces (rule M6)."""
    local, _, domain = email.partition("@")
    choice = rng.randrange(4)
    if choice == 0:
        return email.upper()
    if choice == 1:
        return f" {local.capitalize()}@{domain} "
    if choice == 2:
        return f"{local.title()}@{domain.upper()}"
    return email


def _respell_company(rng: random.Random, name: str, domain: str) -> tuple[str, str]:
    """A company as the other app holds it: name, suffix and web address spelt differently."""
    base = name.rsplit(" ", 1)[0] if name.split()[-1] in _SUFFIXES else name
    choice = rng.randrange(3)
    if choice == 0:
        return base.upper(), f"https://www.{domain}/"
    if choice == 1:
        return f"{base}, {rng.choice(_SUFFIXES[:4])}.", f"http://{domain}"
    return name, f"www.{domain}/about"


def build_apps(directory: Path, *, contacts: int = 2000, seed: int = 7) -> DemoApps:
    """Build the two demo apps and the config file in ``directory``.

    Args:
        directory: Created if missing; files of an earlier demo are replaced.
        contacts: How many contacts the CRM gets; the rest scales with it.
        seed: The random seed.

    Returns:
        The open apps.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _clean(directory)
    write_config(directory)  # first: it marks the folder's demo files as the demo's
    rng = random.Random(seed)
    now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    crm = SQLiteAdapter(
        directory / "crm.db", CRM_SCHEMAS, name="crm", pipelines=CRM_PIPELINES, id_prefix="c"
    )
    sales = SQLiteAdapter(
        directory / "sales.db",
        SALES_SCHEMAS,
        name="sales",
        pipelines=SALES_PIPELINES,
        id_prefix="s",
    )
    apps = DemoApps(crm, sales, directory / "syncengine.toml")
    companies = max(20, contacts // 7)

    # Companies: most in the CRM, many also in the sales app under other spellings.
    crm_companies: list[Record] = []
    sales_accounts: list[Record] = []
    with crm.transaction(), sales.transaction():
        used: set[str] = set()
        for i in range(companies):
            while True:
                words = rng.sample(_WORDS, 2)
                label, kind = rng.choice(_KINDS)
                base = f"{words[0]} {words[1]} {label}" if rng.random() < 0.4 else " ".join(words)
                if base not in used:
                    used.add(base)
                    break
            suffix = rng.choice(_SUFFIXES)
            name = f"{base} {suffix}".strip()
            domain = f"{'-'.join(base.lower().split())}.{rng.choice(('com', 'dk', 'de', 'io'))}"
            employees = rng.choice((5, 12, 40, 85, 250, 1200, 5000))
            city = rng.choice(_CITIES)
            in_crm = i < companies * 0.85
            in_sales = i >= companies * 0.35
            if in_crm:
                crm_companies.append(
                    crm.put(
                        "companies",
                        name=name,
                        domain=domain,
                        industry=kind,
                        employees=employees,
                        city=city,
                    )
                )
            if in_sales:
                spelt, website = (
                    _respell_company(rng, name, domain) if in_crm else (name, f"https://{domain}")
                )
                sales_accounts.append(
                    sales.put(
                        "accounts",
                        company=spelt,
                        website=website,
                        sector=label if label != "Health" else "Healthcare",
                        # Conflicting values: the sales app's headcount is older (D3).
                        headcount=employees if rng.random() < 0.7 else employees + 3,
                        city=city,
                    )
                )

        # Contacts: the CRM has them all; the sales app has many of them, respelt.
        crm_contacts: list[Record] = []
        people: list[Record] = []
        for i in range(contacts):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            company = rng.choice(crm_companies)
            domain = company.properties["domain"]
            email = f"{first.lower()}.{last.lower()}{i}@{domain}"
            stage = rng.choices(_STAGES, weights=(4, 2, 3, 3))[0]
            values: dict[str, Any] = {
                "email": email,
                "firstname": first,
                "lastname": last,
                "phone": _phone(rng),
                "jobtitle": rng.choice(_TITLES),
                "lifecyclestage": stage,
                "lead_score": rng.randint(0, 100),
                "last_contacted": now - timedelta(days=rng.randint(1, 400)),
            }
            if i % 50 == 7:
                values["email"] = None  # no e-mail: excluded, no_identifier (M5)
            if i % 97 == 3 and stage != "subscriber":
                values["lastname"] = None  # the sales app requires a last name (R2)
            if i % 131 == 5 and stage != "subscriber":
                values["lead_score"] = "n/a"  # an imported value that is not a number (F5)
            record = crm.put("contacts", values, associations={"companies": [company.id]})
            crm_contacts.append(record)
            in_sales = stage != "subscriber" and rng.random() < 0.45 and values["email"]
            if not in_sales:
                continue
            account = next(
                (a for a in sales_accounts if a.properties["website"].endswith(domain)), None
            )
            person: dict[str, Any] = {
                "mail": _respell_email(rng, email),
                "first_name": first if rng.random() < 0.85 else first[0] + ".",
                "last_name": last,
                "tel": values["phone"] if rng.random() < 0.6 else _phone(rng),
                "title": values["jobtitle"] if rng.random() < 0.7 else rng.choice(_TITLES),
                "status": _SALES_STATUS[stage],
                "score": values["lead_score"] if isinstance(values["lead_score"], int) else 50,
                "vip": rng.random() < 0.1,
                "tags": frozenset(
                    rng.sample(("newsletter", "webinar", "trial"), rng.randint(0, 2))
                ),
                "last_touch": now - timedelta(days=rng.randint(1, 400)),
            }
            people.append(
                sales.put(
                    "people",
                    person,
                    associations={"accounts": [account.id]} if account is not None else None,
                )
            )
            if person["first_name"] != first and not apps.conflict:
                apps.conflict = email

        # People only the sales app knows, some churned, some without e-mail, and
        # duplicates: the same address typed twice (M3).
        for i in range(contacts // 5):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            account = rng.choice(sales_accounts)
            website = account.properties["website"]
            domain = website.split("//")[-1].removeprefix("www.").split("/")[0]
            status = rng.choice(("Lead", "Prospect", "Customer", "Churned"))
            mail = f"{first.lower()}.{last.lower()}.s{i}@{domain}" if i % 25 != 4 else None
            people.append(
                sales.put(
                    "people",
                    mail=mail,
                    first_name=first,
                    last_name=last,
                    tel=_phone(rng),
                    title=rng.choice(_TITLES),
                    status=status,
                    score=rng.randint(0, 100),
                    vip=False,
                    associations={"accounts": [account.id]},
                )
            )
        for original in rng.sample(people, min(len(people), contacts // 80)):
            mail = original.properties.get("mail")
            if mail:
                sales.put(
                    "people",
                    dict(original.properties, mail=mail.strip().upper()),
                    associations={"accounts": original.associations.get("accounts", ())},
                )

        # Deals: in the CRM's pipeline (some in the stage the sales app lacks), and
        # opportunities the sales app holds too, under the same title.
        for i in range(contacts // 5):
            company = rng.choice(crm_companies)
            contact = rng.choice(crm_contacts)
            stage = _DEAL_STAGES[i % len(_DEAL_STAGES)]
            kind = rng.choice(("licence", "renewal", "pilot", "upgrade"))
            title = f"{company.properties['name']} – {kind} {i}"
            amount = rng.choice((1200, 4800, 9900, 25000, 60000))
            closes = date(2025, 1, 1) + timedelta(days=rng.randint(0, 300))
            crm.put(
                "deals",
                dealname=title,
                amount=amount,
                pipeline="default",
                dealstage=stage,
                closedate=closes,
                associations={"companies": [company.id], "contacts": [contact.id]},
            )
            if i % 4 == 0 and stage in _SALES_STAGE_OF:
                sales.put(
                    "opportunities",
                    title=title.upper() if i % 8 == 0 else title,
                    value=amount if i % 3 else amount + 100,
                    pipeline="main",
                    stage=_SALES_STAGE_OF[stage],
                    close_date=closes,
                )
    return apps


def write_config(directory: Path) -> Path:
    """Write the demo's config file into ``directory``; return its path."""
    path = directory / "syncengine.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@attrs.define
class _Changes:
    """What the demo changed between the two passes, to tell the user."""

    lines: list[str] = attrs.Factory(list)
    removed_from_sales: list[str] = attrs.Factory(list)


def _make_changes(apps: DemoApps, rng: random.Random) -> _Changes:
    """A day of work in both apps: edits, new records, a deletion, a deal moving on."""
    crm, sales = apps.crm, apps.sales
    changes = _Changes()
    with crm.transaction():
        contacts = [r for r in crm.records("contacts") if r.properties.get("email")]
        for record in rng.sample(contacts, 5):
            crm.patch("contacts", record.id, phone="+45 70 10 20 30", jobtitle="Head of Sales")
        for i in range(3):
            crm.put(
                "contacts",
                email=f"new.lead{i}@example.com",
                firstname="New",
                lastname=f"Lead {i}",
                lifecyclestage="lead",
            )
        stuck = next(
            r
            for r in crm.records("deals")
            if r.properties.get("dealstage") == "decisionmakerboughtin"
        )
        crm.patch("deals", stuck.id, dealstage="contractsent")
    changes.lines.append(
        "crm: 5 contacts got a new phone and title, 3 new leads, "
        f"deal {stuck.id} moved from 'Decision maker bought-in' to 'Contract sent'"
    )
    with sales.transaction():
        people = [
            r
            for r in sales.records("people")
            if r.properties.get("mail") and r.properties.get("status") != "Churned"
        ]
        picked = rng.sample(people, 7)
        for record in picked[:5]:
            sales.patch("people", record.id, title="VP Sales", vip=True)
        for record in picked[5:]:
            sales.remove("people", record.id)
            changes.removed_from_sales.append(record.id)
        sales.put(
            "people",
            mail="ny.kunde@example.dk",
            first_name="Ny",
            last_name="Kunde",
            status="Customer",
        )
    changes.lines.append(
        "sales: 5 people promoted to VP Sales, 2 people deleted "
        f"({', '.join(changes.removed_from_sales)}), 1 new customer"
    )
    return changes


def run_demo(
    directory: Path | None, console: Console, *, contacts: int = 2000, seed: int = 7
) -> None:
    """Build the demo, sync it, change both apps, sync again, and show the status.

    Args:
        directory: Where the demo's files go (created if missing); ``None``: the
            :func:`default_directory`, outside any working tree.
        console: Where to print.
        contacts: How many contacts the CRM gets.
        seed: The random seed.
    """
    chosen = directory is not None
    directory = default_directory() if directory is None else directory
    directory = directory.resolve() if not directory.is_absolute() else directory
    console.print(f"[bold]syncengine demo[/] — building two apps in {escape(str(directory))}")
    if not chosen:
        console.print("  (the default folder; choose another with --dir DIR)")
    apps = build_apps(directory, contacts=contacts, seed=seed)
    crm_counts = {t: apps.crm.count(t) for t in ("contacts", "companies", "deals")}
    sales_counts = {t: apps.sales.count(t) for t in ("people", "accounts", "opportunities")}
    conflict = apps.conflict
    apps.close()
    console.print(
        "  crm (the hub):   "
        + ", ".join(f"{n:,} {t}" for t, n in crm_counts.items())
        + "\n  sales (the app): "
        + ", ".join(f"{n:,} {t}" for t, n in sales_counts.items())
    )

    setup: SyncSetup = load(directory / "syncengine.toml")
    try:
        progress = ProgressDisplay(console)

        def on_event(event: SyncEvent) -> None:
            progress(event)

        engine = setup.engine(on_event=on_event)
        console.print(
            "\n[bold]1. Initial sync[/] (index the CRM, match and sync the sales app, "
            "then the rest)"
        )
        with progress:
            report = engine.initial_sync()
        print_report(console, report)

        hub, app = setup.hub, setup.app
        assert isinstance(hub, SQLiteAdapter)
        assert isinstance(app, SQLiteAdapter)
        changes = _make_changes(DemoApps(hub, app, apps.config), random.Random(seed + 1))
        console.print("\n[bold]2. A day of work in both apps[/]")
        for line in changes.lines:
            console.print(f"  {line}", markup=False)

        console.print(
            "\n[bold]3. Incremental sync[/] (what changed since the first pass; that pass's "
            "own writes are read back this once, and count as unchanged)"
        )
        progress = ProgressDisplay(console)
        with progress:
            report = engine.incremental_sync()
        print_report(console, report)

        console.print("\n[bold]4. Status[/]")
        print_status(console, engine, passes=0)  # times vary: `syncengine status` shows them
        example = _paired_id(engine, conflict)
        failed = _failed_record(engine)
    finally:
        setup.close()

    config = directory / "syncengine.toml"
    shown = shlex.quote(_shown(config))
    crm_db = shlex.quote(_shown(directory / "crm.db"))
    edit = (
        f"sqlite3 {crm_db} \"UPDATE contacts SET jobtitle = 'CTO' WHERE email = '{conflict}'\""
        if conflict
        else f"sqlite3 {crm_db} 'select * from contacts limit 5'"
    )
    console.print("\n[bold]Files[/]")
    for name, what in (
        ("syncengine.toml", "the config file: apps, index, mappings, filters, pipelines"),
        (
            "crm.db",
            "the hub, a SQLite database; changes any program makes to it (inserts, updates, "
            f"deletes) are synced by the next `syncengine run` (try: {edit})",
        ),
        ("sales.db", "the app, a SQLite database, just as open to edits"),
        ("index.db", "syncengine's index: pairs, last synced values, states, history"),
    ):
        console.print(f"  {escape(str(directory / name))}  [dim]{escape(what)}[/]")
    console.print("\n[bold]Try next[/]")
    program = _program()
    for command in (
        f"{program} status {shown}",
        f"{program} records {shown} --state failed",
        f"{program} explain {shown} app people {example}" if example else "",
        f"{program} explain {shown} {failed}" if failed else "",
        f"{program} restore {shown} --object contacts --to app",
        f"{program} export {shown} failed.csv --state failed",
        f"{program} run {shown} --watch --interval 10",
    ):
        if command:
            console.print(f"  {command}", markup=False)
    console.print(
        "\n[bold]See it in your browser[/] (the console: overview, failures, records, "
        "restore; needs syncengine-hub\\[server])"
    )
    console.print(f"  {program} serve {shown}", markup=False)
    console.print("  then open http://127.0.0.1:8000/", markup=False)


def _failed_record(engine: Any) -> str | None:
    """``SIDE TYPE ID`` of a failed record for ``explain`` (a pair failing validation
    first: its explanation shows both records), or ``None`` when none failed."""
    rows = list(engine.records(state="failed"))
    rows.sort(key=lambda r: (r.category is not ErrorCategory.VALIDATION, r.app_id is None))
    for row in rows:
        for side, record_id in (("hub", row.hub_id), ("app", row.app_id)):
            if record_id is not None:
                return f"{side} {row.object_type} {shlex.quote(record_id)}"
    return None


def _paired_id(engine: Any, email: str) -> str | None:
    """The app id of the contact whose name the two apps spell differently, if paired."""
    if not email:
        return None
    app: SQLiteAdapter = engine.app
    for record in app.records("people"):
        mail = record.properties.get("mail")
        if isinstance(mail, str) and mail.strip().casefold() == email:
            return record.id
    return None


def _program() -> str:
    """How to run the ``syncengine`` command again, as this shell can type it.

    ``syncengine`` when that name finds this very command (or, when the demo was not started
    through a ``syncengine`` script, any ``syncengine`` on the ``PATH``); else the script as it
    was typed (``.venv/bin/syncengine`` in the quick start, where the virtual environment is
    not activated); else ``python -m syncengine`` with this interpreter.
    """
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    on_path = shutil.which("syncengine")
    if started is not None and started.stem == "syncengine":
        if on_path is not None and Path(on_path).resolve() == started.resolve():
            return "syncengine"
        return shlex.quote(sys.argv[0])
    if on_path is not None:
        return "syncengine"
    return f"{shlex.quote(sys.executable)} -m syncengine"


def _shown(path: Path) -> str:
    """``path`` as short as it can be written from the working folder."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
