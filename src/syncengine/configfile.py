"""Config files: a whole sync (hub, app, index store, object syncs) in one TOML file.

The format is documented in ``docs/how-to/config-files.md``. Reading is two steps:

1. :func:`parse_config` / :func:`read_config` turn TOML into a :class:`ConfigFile`: the
   :class:`~syncengine.SyncConfig` (built and validated) and the *specs* of the two
   adapters and the index store. Nothing is opened yet.
2. :meth:`ConfigFile.open` builds the adapters (through :mod:`syncengine.plugins`) and
   the index store and returns a :class:`SyncSetup`, whose :meth:`SyncSetup.engine`
   builds the :class:`~syncengine.SyncEngine` (which checks the config against the apps'
   schemas).

Every mistake is a :class:`ConfigFileError` whose message names the file, the key path
as the file spells it (``objects[0].mappings[2].app`` for arrays of tables,
``objects.contacts.mappings[2].app`` for a table of object syncs) and what was expected.

This module reads files and builds objects; it runs no pass.

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar, final

import attrs
from typing_extensions import override

from syncengine._redact import redact_dsn, redact_options
from syncengine.adapters.base import Adapter
from syncengine.config import FieldMapping, MatchRule, ObjectSync, PipelineMap, SyncConfig
from syncengine.engine import SyncEngine
from syncengine.errors import ConfigError, IndexStoreError
from syncengine.filters import Condition, Filter
from syncengine.index.base import IndexStore
from syncengine.plugins import duration_option, load_adapter, unknown_key_problem
from syncengine.report import EventHandler, SyncEvent

__all__ = [
    "AdapterSpec",
    "ConfigFile",
    "ConfigFileError",
    "IndexSpec",
    "ServeSpec",
    "SyncSetup",
    "load",
    "parse_config",
    "read_config",
]


class ConfigFileError(ConfigError):
    """A config file is invalid: it names the file, the key path and what was expected.

    Attributes:
        file: The config file (``"<string>"`` when parsed from text).
        path: The key path inside the file (``objects.contacts.mappings[2].app``), or ""
            when the problem concerns the whole file.
        problem: What is wrong and what was expected.

    .. versionadded:: 0.1
    """

    def __init__(self, file: str, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.file = file
        self.args = (f"{file}: {path}: {problem}" if path else f"{file}: {problem}",)

    @override
    def __str__(self) -> str:
        return str(self.args[0])


_TOP_KEYS: Final = ("sync_id", "max_change_ratio", "hub", "app", "index", "objects", "serve")
_SERVE_KEYS: Final = ("interval", "webhook_secret_env", "webhook_path", "public_url")
_OBJECT_KEYS: Final = (
    "hub_type",
    "app_type",
    "mappings",
    "match",
    "direction",
    "winner",
    "hub_filter",
    "app_filter",
    "pipelines",
    "associations",
    "pipeline_fields",
    "stage_fields",
    "filter_lifetime",
)
_MAPPING_KEYS: Final = (
    "hub",
    "app",
    "direction",
    "enabled",
    "options",
    "policy",
    "propagate_clears",
    "required",
    "hub_default",
    "app_default",
)
_MATCH_KEYS: Final = ("keys", "require", "kinds")
_FILTER_KEYS: Final = ("where", "groups")
_CONDITION_KEYS: Final = ("property", "op", "value")
_PIPELINE_KEYS: Final = ("hub_pipeline", "app_pipeline", "stages")
_INDEX_KINDS: Final = ("sqlite", "memory", "postgres")
_INDEX_INDEX: Final = re.compile(r"^objects\[(\d+)\]")

#: How to recover from an index that cannot be read or written, for error messages.
INDEX_RECOVERY: Final = (
    "to recover, restore the index from a backup (and run `syncengine run CONFIG "
    "--reconcile` to catch up with what changed since), or move the file away and run "
    "`syncengine run CONFIG --new` to rebuild it from the apps (a new initial sync, which "
    "pairs records by their identifiers; set max_change_ratio so that it stops before "
    "overwriting many records)"
)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, datetime):
        return "a datetime"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    return type(value).__name__


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@attrs.frozen
class _Reader:
    """Reads one TOML table, raising :class:`ConfigError` with the key path."""

    data: Mapping[str, Any]
    path: str
    allowed: Sequence[str]

    @classmethod
    def of(cls, value: Any, path: str, allowed: Sequence[str]) -> _Reader:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a table, got {_type_name(value)}")
        for key in value:
            if key not in allowed:
                raise ConfigError(_join(path, key), unknown_key_problem(key, allowed))
        return cls(value, path, allowed)

    def at(self, key: str | int) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def typed(
        self, key: str, kind: type | tuple[type, ...], expected: str, default: Any = None
    ) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise ConfigError(self.at(key), f"expected {expected}, got {_type_name(value)}")
        return value

    def required_str(self, key: str, what: str) -> str:
        if key not in self.data:
            raise ConfigError(self.at(key), f"missing; expected {what}")
        value = self.typed(key, str, what)
        if not value.strip():
            raise ConfigError(self.at(key), f"expected {what}, got an empty string")
        assert isinstance(value, str)
        return value

    def str_list(self, key: str, what: str, *, pair: bool = False) -> list[str] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self.at(key), f"expected {what}, got {_type_name(value)} {value!r}")
        if pair and len(value) != 2:
            raise ConfigError(self.at(key), f"expected {what}, got {len(value)} names")
        return list(value)


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_T = TypeVar("_T")


def _within(path: str, build: Callable[[], _T]) -> _T:
    """Run ``build``; a ConfigError it raises gets ``path`` in front of its own path."""
    try:
        return build()
    except ConfigError as exc:
        raise (exc.within(path) if path else exc) from None


# ---- values ----------------------------------------------------------------------------


def _value(value: Any, path: str) -> Any:
    """A TOML value as a property value: local datetimes are refused (times must be UTC-aware)."""
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ConfigError(
            path, f"datetime {value.isoformat()} has no offset; write it with Z or +hh:mm"
        )
    if isinstance(value, time):
        raise ConfigError(path, "a time of day is not a property value; use a datetime")
    if isinstance(value, list):
        return [_value(v, _join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        raise ConfigError(path, "expected a value, got a table")
    return value


def _condition(value: Any, path: str) -> Condition:
    reader = _Reader.of(value, path, _CONDITION_KEYS)
    prop = reader.required_str("property", "the name of a property")
    op = reader.required_str("op", "an operator such as 'eq' or 'in'")
    raw = reader.get("value")
    converted = None if raw is None else _value(raw, reader.at("value"))
    return _within(path, lambda: Condition(prop, op, converted))


def _filter(value: Any, path: str) -> Filter:
    reader = _Reader.of(value, path, _FILTER_KEYS)
    if reader.has("where") == reader.has("groups"):
        raise ConfigError(
            path,
            "expected exactly one of `where = [condition, …]` (all must hold) or "
            "`groups = [[condition, …], …]` (any group must hold)",
        )
    if reader.has("where"):
        where = reader.get("where")
        if not isinstance(where, list) or not where:
            raise ConfigError(reader.at("where"), "expected a non-empty array of conditions")
        return Filter([[_condition(c, _join(reader.at("where"), i)) for i, c in enumerate(where)]])
    groups = reader.get("groups")
    if not isinstance(groups, list) or not groups:
        raise ConfigError(reader.at("groups"), "expected a non-empty array of arrays")
    built = []
    for i, group in enumerate(groups):
        where = _join(reader.at("groups"), i)
        if not isinstance(group, list) or not group:
            raise ConfigError(where, "expected a non-empty array of conditions")
        built.append([_condition(c, _join(where, j)) for j, c in enumerate(group)])
    return Filter(built)


def _match(value: Any, path: str) -> MatchRule:
    if value == "none":
        return MatchRule.none()
    if isinstance(value, str):
        raise ConfigError(path, f'expected a table or "none", got {value!r}')
    reader = _Reader.of(value, path, _MATCH_KEYS)
    keys = reader.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ConfigError(
            reader.at("keys"), "expected an array of [hub property, app property] pairs"
        )
    for i, key in enumerate(keys):
        if (
            not isinstance(key, list)
            or len(key) != 2
            or not all(isinstance(k, str) and k for k in key)
        ):
            raise ConfigError(
                _join(reader.at("keys"), i),
                f'expected ["hub property", "app property"], got {key!r}',
            )
    require = reader.typed("require", bool, "true or false", True)
    kinds = reader.str_list("kinds", "an array of kinds, one per key")
    return _within(
        path,
        lambda: MatchRule(
            [(k[0], k[1]) for k in keys],
            require=require,
            kinds=tuple(kinds) if kinds is not None else None,
        ),
    )


def _mapping(value: Any, path: str) -> FieldMapping:
    if isinstance(value, list):
        if len(value) == 2 and all(isinstance(v, str) for v in value):
            return _within(path, lambda: FieldMapping(value[0], value[1]))
        raise ConfigError(path, f'expected ["hub property", "app property"], got {value!r}')
    reader = _Reader.of(value, path, _MAPPING_KEYS)
    hub = reader.required_str("hub", "the hub property's name")
    app = reader.required_str("app", "the app property's name")
    options = reader.typed("options", Mapping, "a table of hub option = app option")
    if options is not None:
        for key, option in options.items():
            if not isinstance(option, str):
                raise ConfigError(
                    _join(reader.at("options"), key),
                    f"expected the app option as a string, got {_type_name(option)}",
                )
    kwargs: dict[str, Any] = {
        "direction": reader.typed("direction", str, "'two_way', 'to_hub' or 'to_app'", "two_way"),
        "enabled": reader.typed("enabled", bool, "true or false", True),
        "options": dict(options) if options is not None else None,
        "policy": reader.typed("policy", str, "'winner' or 'newest'"),
        "propagate_clears": reader.typed("propagate_clears", bool, "true or false", False),
        "required": reader.typed("required", bool, "true or false", False),
    }
    for side in ("hub_default", "app_default"):
        if reader.has(side):
            kwargs[side] = _value(reader.get(side), reader.at(side))
    return _within(path, lambda: FieldMapping(hub, app, **kwargs))


def _pipeline(value: Any, path: str) -> PipelineMap:
    reader = _Reader.of(value, path, _PIPELINE_KEYS)
    hub = reader.required_str("hub_pipeline", "the hub pipeline's id")
    app = reader.required_str("app_pipeline", "the app pipeline's id")
    stages = reader.typed("stages", Mapping, "a table of hub stage id = app stage id")
    return _within(path, lambda: PipelineMap(hub, app, dict(stages) if stages else None))


def _array(reader: _Reader, key: str, what: str) -> list[Any]:
    value = reader.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(reader.at(key), f"expected an array of {what}, got {_type_name(value)}")
    return value


def _object(value: Any, path: str, hub_type: str | None) -> ObjectSync:
    reader = _Reader.of(value, path, _OBJECT_KEYS)
    if hub_type is None or reader.has("hub_type"):
        hub_type = reader.required_str("hub_type", "the object type's name in the hub")
    app_type = reader.required_str("app_type", "the object type's name in the app")
    raw_mappings = reader.get("mappings")
    if not isinstance(raw_mappings, list) or not raw_mappings:
        raise ConfigError(
            reader.at("mappings"),
            'expected an array of mappings ({hub = "…", app = "…"} or ["hub", "app"])',
        )
    mappings = [_mapping(m, reader.at("mappings") + f"[{i}]") for i, m in enumerate(raw_mappings)]
    # Left out, match is the type's usual rule, as in Python (MatchRule.default_for);
    # a type without one is refused: a forgotten match never means "no matching" (M7).
    match = (
        _match(reader.get("match"), reader.at("match"))
        if reader.has("match")
        else MatchRule.default_for(hub_type, mappings)
    )
    if match is None:
        raise ConfigError(
            reader.at("match"),
            f"missing; {hub_type!r} has no default rule (only contacts, by a mapped "
            "'email', and companies, by a mapped 'name' or 'domain', do): expected "
            '{keys = [["hub property", "app property"], …]}, or "none" to create every '
            "record on the other side without matching",
        )
    filters = {
        side: _filter(reader.get(side), reader.at(side)) if reader.has(side) else None
        for side in ("hub_filter", "app_filter")
    }
    pipelines = [
        _pipeline(p, reader.at("pipelines") + f"[{i}]")
        for i, p in enumerate(_array(reader, "pipelines", "pipeline maps"))
    ]
    kwargs: dict[str, Any] = {
        "direction": reader.typed("direction", str, "'two_way', 'to_hub' or 'to_app'", "two_way"),
        "winner": reader.typed("winner", str, "'hub' or 'app'", "hub"),
        "associations": reader.str_list("associations", "an array of hub type names") or (),
        "filter_lifetime": reader.typed("filter_lifetime", bool, "true or false", False),
    }
    for key in ("pipeline_fields", "stage_fields"):
        pair = reader.str_list(key, '["hub property", "app property"]', pair=True)
        if pair is not None:
            kwargs[key] = (pair[0], pair[1])
    return _within(
        path,
        lambda: ObjectSync(
            hub_type,
            app_type,
            mappings,
            match=match,
            pipelines=pipelines,
            hub_filter=filters["hub_filter"],
            app_filter=filters["app_filter"],
            **kwargs,
        ),
    )


# ---- the file --------------------------------------------------------------------------


def _file_error(file: str, object_paths: Sequence[str], exc: ConfigError) -> ConfigFileError:
    if isinstance(exc, ConfigFileError):
        return exc
    path = exc.path
    found = _INDEX_INDEX.match(path)
    if found is not None and int(found[1]) < len(object_paths):
        path = object_paths[int(found[1])] + path[found.end() :]
    return ConfigFileError(file, path, exc.problem)


@attrs.frozen
class AdapterSpec:
    """How to build one side's adapter: its kind and options (see :mod:`syncengine.plugins`).

    .. versionadded:: 0.1
    """

    kind: str
    options: Mapping[str, Any] = attrs.field(repr=lambda o: repr(redact_options(o)))


@attrs.frozen
class IndexSpec:
    """How to build the index store: ``"sqlite"`` with a path, ``"memory"``, or
    ``"postgres"`` with a DSN (or the environment variable holding it) and a schema.

    .. versionadded:: 0.1
    """

    kind: str
    path: Path | None = None
    # The DSN may hold a password: shown redacted (X4).
    dsn: str | None = attrs.field(default=None, repr=lambda d: repr(d and redact_dsn(d)))
    dsn_env: str | None = None
    schema: str = "syncengine"

    def check_writable(self) -> None:
        """Refuse a SQLite index this user cannot write, before anything runs: a pass (and
        ``syncengine serve``, which runs passes and keeps webhook events) writes to it.

        .. versionadded:: 0.3

        Raises:
            ConfigError: the file or its folder is read-only (``index.path``).
        """
        if self.kind != "sqlite" or self.path is None:
            return
        for target, what in (
            (self.path, "the index file"),
            (self.path.parent, "the index's folder"),
        ):
            if not os.access(target, os.W_OK):
                raise ConfigError(
                    "index.path",
                    f"{what} {str(target)!r} cannot be written by this user (read-only, or on "
                    "a read-only file system); a pass writes to the index, and SQLite keeps "
                    f"{self.path.name}-wal and -shm files beside it. Give this user write "
                    "access to the file and its folder; status, records, explain, export "
                    "and run --dry-run only read it",
                )

    def open(self, *, create: bool = True) -> IndexStore:
        """Build the store.

        Args:
            create: Whether a missing SQLite index file may be created (a new sync).
                ``False`` refuses it: a lost or mistyped index must not start a new
                initial sync over apps that are already in sync.

                .. versionadded:: 0.2

        Raises:
            ConfigError: The DSN's environment variable is unset (``index.dsn_env``), the
                SQLite file's folder does not exist, the file does not exist and
                ``create`` is false, or the file cannot be opened (damaged, read-only, not
                an index; ``index.path``), or the PostgreSQL database cannot be opened
                (``index.dsn``, ``index.dsn_env``, ``index.schema``).
        """
        from syncengine.index.memory import MemoryIndexStore
        from syncengine.index.sqlite import SQLiteIndexStore

        if self.kind == "memory":
            return MemoryIndexStore()
        if self.kind == "postgres":
            from syncengine.index.postgres import PostgresIndexStore

            dsn = self.dsn
            if self.dsn_env is not None:
                dsn = os.environ.get(self.dsn_env)
                if not dsn:
                    raise ConfigError(
                        "index.dsn_env",
                        f"the environment variable {self.dsn_env} is not set; it must hold "
                        "the index database's connection string",
                    )
            assert dsn is not None
            key = "index.dsn_env" if self.dsn_env is not None else "index.dsn"
            try:
                return PostgresIndexStore(dsn, schema=self.schema)
            except IndexStoreError as exc:
                raise ConfigError(key, f"cannot open the index database: {exc}") from None
            except ValueError as exc:
                raise ConfigError("index.schema", str(exc)) from None
        assert self.path is not None
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigError(
                "index.path",
                f"the folder {str(folder)!r} of the index file {self.path.name!r} does not exist",
            )
        if not create and not self.path.exists():
            raise ConfigError(
                "index.path",
                f"the index file {str(self.path)!r} does not exist. Without it, a run would "
                "start a new initial sync, which overwrites the edits of whichever side "
                "loses. If the index was moved, lost or its path mistyped, restore it (from "
                "a backup) or fix index.path; if this is the first run of this sync, start "
                "it with `syncengine run CONFIG --new`",
            )
        try:
            return SQLiteIndexStore(self.path)
        except IndexStoreError as exc:
            raise ConfigError(
                "index.path",
                f"cannot open the index file {str(self.path)!r}: {exc}; {INDEX_RECOVERY}",
            ) from None


def _adapter_spec(value: Any, path: str) -> AdapterSpec:
    if not isinstance(value, Mapping):
        raise ConfigError(
            path,
            f'missing; expected a table like [{path}] kind = "sqlite" path = "{path}.db"'
            if value is None
            else f"expected a table, got {_type_name(value)}",
        )
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(_join(path, "kind"), 'expected the adapter kind, such as "sqlite"')
    return AdapterSpec(kind, {k: v for k, v in value.items() if k != "kind"})


def _index_spec(value: Any, base_dir: Path) -> IndexSpec:
    if value is None:
        return IndexSpec("sqlite", base_dir / "index.db")
    reader = _Reader.of(value, "index", ("kind", "path", "dsn", "dsn_env", "schema"))
    kind = reader.typed("kind", str, "'sqlite', 'memory' or 'postgres'", "sqlite")
    if kind not in _INDEX_KINDS:
        raise ConfigError(
            reader.at("kind"),
            f"unknown index store kind {kind!r}; expected 'sqlite', 'memory' or 'postgres'",
        )
    if kind == "postgres":
        # The DSN may hold a password: name the environment variable holding it (X4).
        dsn = reader.typed("dsn", str, "a PostgreSQL connection string")
        dsn_env = reader.typed("dsn_env", str, "the name of an environment variable")
        if (dsn is None) == (dsn_env is None):
            raise ConfigError(
                "index", "a postgres index store needs one of dsn or dsn_env (not both)"
            )
        schema = reader.typed("schema", str, "a PostgreSQL schema name", "syncengine")
        return IndexSpec("postgres", dsn=dsn, dsn_env=dsn_env, schema=schema)
    for key in ("dsn", "dsn_env", "schema"):
        if reader.has(key):
            raise ConfigError(reader.at(key), f"only a postgres index store has {key}")
    if kind == "memory":
        if reader.has("path"):
            raise ConfigError(reader.at("path"), "a memory index store has no path")
        return IndexSpec("memory")
    raw = reader.typed("path", str, "a file path", "index.db")
    path = Path(raw).expanduser()
    return IndexSpec("sqlite", path if path.is_absolute() else base_dir / path)


@final
@attrs.frozen
class ServeSpec:
    """How ``syncengine serve`` runs this sync: the ``[serve]`` table.

    Attributes:
        interval: Seconds between two scheduled passes (``0``: no scheduled passes).
        webhook_secret_env: The environment variable holding the HubSpot app's client
            secret, which signs webhooks (rule X4: never the secret itself); ``None``: no
            webhook endpoint.
        webhook_path: Where the webhook endpoint answers.
        public_url: The webhook URL as HubSpot calls it, when a proxy stands in front
            (signatures cover the URL).

    .. versionadded:: 0.2
    """

    interval: float = 60.0
    webhook_secret_env: str | None = None
    webhook_path: str = "/webhooks/hubspot"
    public_url: str | None = None


def _serve_spec(value: Any) -> ServeSpec:
    if value is None:
        return ServeSpec()
    reader = _Reader.of(value, "serve", _SERVE_KEYS)
    interval = duration_option(reader.get("interval", 60), reader.at("interval"))
    if interval > 7 * 24 * 3600:
        raise ConfigError(reader.at("interval"), "at most a week (7d)")
    secret_env = reader.typed("webhook_secret_env", str, "the name of an environment variable")
    if secret_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
        raise ConfigError(
            reader.at("webhook_secret_env"),
            "expected the name of an environment variable (the secret itself never goes "
            "in a config file, rule X4)",
        )
    path = reader.typed("webhook_path", str, "a URL path such as /webhooks/hubspot")
    path = "/webhooks/hubspot" if path is None else path
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", path) or path.rstrip("/") in ("", "/"):
        raise ConfigError(
            reader.at("webhook_path"),
            f"expected a URL path like /webhooks/hubspot, got {path!r:.60}",
        )
    public_url = reader.typed("public_url", str, "the https URL HubSpot calls")
    if public_url is not None:
        parts = urllib.parse.urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ConfigError(
                reader.at("public_url"),
                f"expected the http(s) URL HubSpot calls, without a query; got {public_url!r:.80}",
            )
    return ServeSpec(interval, secret_env, path, public_url)


@final
@attrs.frozen
class ConfigFile:
    """A parsed config file: the sync config and how to build what it runs on.

    Attributes:
        file: Where it was read from.
        config: The validated sync config.
        hub: The hub adapter's spec.
        app: The app adapter's spec.
        index: The index store's spec.
        object_paths: How the file names each object sync, in ``config.objects`` order
            (``objects[0]`` or ``objects.contacts``), for error messages.
        serve: How ``syncengine serve`` runs the sync (the ``[serve]`` table).

    .. versionchanged:: 0.2
       ``serve``.

    .. versionadded:: 0.1
    """

    file: Path
    config: SyncConfig
    hub: AdapterSpec
    app: AdapterSpec
    index: IndexSpec
    object_paths: tuple[str, ...]
    serve: ServeSpec = ServeSpec()

    @property
    def base_dir(self) -> Path:
        """The folder relative paths start from: the file's own."""
        return self.file.parent

    def error(self, exc: ConfigError) -> ConfigFileError:
        """``exc`` as an error of this file, with ``objects[i]`` spelt as the file does."""
        return _file_error(str(self.file), self.object_paths, exc)

    def open(self, *, create_index: bool = True) -> SyncSetup:
        """Build both adapters and the index store.

        Args:
            create_index: Whether a missing SQLite index file may be created (see
                :meth:`IndexSpec.open`).

                .. versionadded:: 0.2

        Raises:
            ConfigFileError: An adapter's kind is unknown or an option is wrong, or the
                index store's options are (an unset ``dsn_env``, a missing folder).
        """
        built: list[Adapter] = []
        try:
            for side, spec in (("hub", self.hub), ("app", self.app)):
                try:
                    built.append(load_adapter(spec.kind, spec.options, base_dir=self.base_dir))
                except ConfigError as exc:
                    raise self.error(exc.within(side)) from None
            try:
                index = self.index.open(create=create_index)
            except ConfigError as exc:
                raise self.error(exc) from None
        except BaseException:
            for adapter in built:
                adapter.close()
            raise
        return SyncSetup(self, built[0], built[1], index)


def parse_config(
    text: str | Mapping[str, Any], *, file: str | os.PathLike[str] = "<string>"
) -> ConfigFile:
    """Parse a config file's text (or already-parsed TOML data).

    Args:
        text: TOML text, or the table ``tomllib`` made of it.
        file: Names the file in errors; relative paths in it start from its folder.

    Raises:
        ConfigFileError: naming the file, the key path and what was expected.

    .. versionadded:: 0.1
    """
    name = str(file)
    base_dir = Path(file).parent if name != "<string>" else Path.cwd()
    if isinstance(text, str):
        try:
            data: Mapping[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(name, "", f"invalid TOML: {exc}") from None
    else:
        data = text
    object_paths: list[str] = []
    try:
        top = _Reader.of(data, "", _TOP_KEYS)
        sync_id = top.required_str("sync_id", 'a name for this sync, such as "crm-sales"')
        ratio = top.typed("max_change_ratio", (int, float), "a share in (0, 1]")
        hub = _adapter_spec(top.get("hub"), "hub")
        app = _adapter_spec(top.get("app"), "app")
        index = _index_spec(top.get("index"), base_dir)
        serve = _serve_spec(top.get("serve"))
        raw = top.get("objects")
        objects = []
        if isinstance(raw, list):
            for i, value in enumerate(raw):
                object_paths.append(f"objects[{i}]")
                objects.append(_object(value, object_paths[-1], None))
        elif isinstance(raw, Mapping):
            for key, value in raw.items():
                object_paths.append(f"objects.{key}")
                objects.append(_object(value, object_paths[-1], key))
        else:
            raise ConfigError(
                "objects",
                "missing; expected [[objects]] tables or [objects.<hub type>] tables"
                if raw is None
                else f"expected an array of tables or a table, got {_type_name(raw)}",
            )
        config = _within("", lambda: SyncConfig(sync_id, objects, max_change_ratio=ratio))
    except ConfigError as exc:
        raise _file_error(name, object_paths, exc) from None
    return ConfigFile(Path(name), config, hub, app, index, tuple(object_paths), serve)


def read_config(path: str | os.PathLike[str]) -> ConfigFile:
    """Read and parse a config file.

    Raises:
        ConfigFileError: The file cannot be read, or is invalid.

    .. versionadded:: 0.1
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(str(path), "", "no such file") from None
    except OSError as exc:
        raise ConfigFileError(str(path), "", f"cannot read it: {exc}") from None
    if data.startswith(b"SQLite format 3\x00"):
        raise ConfigFileError(
            str(path),
            "",
            "this is a SQLite database (an app or an index), not a config file: give the "
            "sync's TOML config file, such as the syncengine.toml that `syncengine demo` writes",
        )
    try:
        # Line ends as a text-mode read translates them (\r\n and \r become \n).
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(str(path), "", f"cannot read it: {exc}") from None
    return parse_config(text, file=path)


@final
class SyncSetup:
    """A config file's adapters and index store, opened; builds the engine.

    Close it (or use it as a context manager) to close both adapters and the store.

    .. versionadded:: 0.1
    """

    def __init__(self, file: ConfigFile, hub: Adapter, app: Adapter, index: IndexStore) -> None:
        """Hold what :meth:`ConfigFile.open` built."""
        self.file = file
        self.hub = hub
        self.app = app
        self.index = index

    @property
    def config(self) -> SyncConfig:
        """The sync config."""
        return self.file.config

    def engine(
        self,
        on_event: EventHandler | Callable[[SyncEvent], None] | None = None,
        **kwargs: Any,
    ) -> SyncEngine:
        """Build the engine (which checks the config against both apps' schemas).

        Args:
            on_event: Progress events, as for :class:`~syncengine.SyncEngine`.
            **kwargs: More :class:`~syncengine.SyncEngine` arguments (``clock``, …).

        Raises:
            ConfigFileError: The config does not fit an app's schema; the path is the
                file's (``objects.contacts.mappings[2].app``).
        """
        try:
            return SyncEngine(self.hub, self.app, self.index, self.config, on_event, **kwargs)
        except ConfigError as exc:
            raise self.file.error(exc) from None

    def close(self) -> None:
        """Close both adapters and the index store."""
        self.hub.close()
        self.app.close()
        self.index.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def load(path: str | os.PathLike[str], *, create_index: bool = True) -> SyncSetup:
    """Read a config file and open what it describes: ``read_config(path).open()``.

    ``create_index=False`` refuses a missing SQLite index file (see :meth:`IndexSpec.open`).

    Raises:
        ConfigFileError: naming the file, the key path and what was expected.

    .. versionadded:: 0.1
    """
    return read_config(path).open(create_index=create_index)
