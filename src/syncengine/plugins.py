"""Adapter plug-ins: finding an adapter by its kind and building it from config options.

An adapter *kind* is a name in a config file (``kind = "sqlite"``). Kinds are found as
entry points of the group ``syncengine.adapters``, so a connector package makes its
adapter usable from config files by declaring, in its own ``pyproject.toml``::

    [project.entry-points."syncengine.adapters"]
    notes = "notes_connector:NotesAdapter"

The object an entry point names is either a class with a ``from_config`` classmethod or a
plain factory function, both called as ``factory(options, base_dir=...)`` and returning an
:class:`~syncengine.adapters.Adapter` (the :class:`AdapterFactory` protocol). ``options``
is the adapter's table of the config file without ``kind``; ``base_dir`` is the config
file's folder, against which relative paths are resolved. Read options with
:class:`AdapterOptions`, which names the offending key in every error.

syncengine's own kinds (``memory``, ``sqlite``, ``hubspot``) are registered the same way, with a
built-in fallback so they work even when the package metadata is missing (a vendored
copy). A kind may also be written ``"package.module:Name"`` to use an adapter class that
is not packaged: ``Name`` must then be a subclass of :class:`~syncengine.adapters.Adapter`
(a plain function is accepted only through an entry point, which its package declared), so
a config file cannot make syncengine call an arbitrary function (``"os:system"``).

This module must not import an adapter until its kind is asked for.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, final

from syncengine._redact import REDACTED, is_secret_name
from syncengine.adapters.base import Adapter
from syncengine.errors import ConfigError, SyncEngineError
from syncengine.records import Pipeline
from syncengine.schema import ObjectSchema, PropertySpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterFactory",
    "AdapterOptions",
    "adapter_kinds",
    "load_adapter",
    "memory_adapter_from_config",
    "pipelines_from_options",
    "schemas_from_options",
    "unknown_key_problem",
]

#: The entry-point group adapters are registered under.
ENTRY_POINT_GROUP: Final = "syncengine.adapters"

#: syncengine's own kinds, used when the installed metadata does not list them.
_BUILTIN: Final[Mapping[str, str]] = {
    "memory": "syncengine.plugins:memory_adapter_from_config",
    "sqlite": "syncengine.adapters.sqlite:SQLiteAdapter",
    "hubspot": "syncengine.plugins:hubspot_adapter_from_config",
}

_MISSING: Final[Any] = object()
#: The largest integer an option may hold unless its reader says less (SQLite's, and most
#: stores' and APIs', largest integer).
_MAX_INT: Final = 2**63 - 1


class AdapterFactory(Protocol):
    """What an entry point's ``from_config`` (or the factory it names) must be."""

    def __call__(self, options: Mapping[str, Any], /, *, base_dir: Path) -> Adapter:
        """Build an adapter from its config options; raise ConfigError naming the key."""


def _type_name(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def unknown_key_problem(key: str, known: Sequence[str]) -> str:
    """The problem text of a key that is not allowed where it stands."""
    return f"unknown key {key!r}; {_suggest(key, known)}expected one of {', '.join(known)}"


@final
class AdapterOptions:
    """Read an adapter's options from a config file, naming the key in every error.

    Each ``get_*`` call marks its key as known; :meth:`finish` then rejects the keys
    nobody asked for, so a typo is an error rather than silently ignored::

        opts = AdapterOptions(options, base_dir=base_dir)
        path = opts.get_path("path")
        page_size = opts.get_int("page_size", 100, minimum=1)
        opts.finish()

    Raises:
        ConfigError: from every method, with the key as its path.

    .. versionadded:: 0.1
    """

    def __init__(self, options: Mapping[str, Any], *, base_dir: Path) -> None:
        """Wrap ``options``; relative paths are resolved against ``base_dir``."""
        if not isinstance(options, Mapping):
            raise ConfigError("", f"expected a table of options, got {_type_name(options)}")
        self._options = options
        self._base_dir = base_dir
        self._known: list[str] = []

    def _get(self, key: str, default: Any, expected: str, check: Callable[[Any], bool]) -> Any:
        self._known.append(key)
        value = self._options.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise ConfigError(key, f"missing; expected {expected}")
            return default
        if not check(value):
            shown = REDACTED if is_secret_name(key) else repr(value)  # X4
            raise ConfigError(key, f"expected {expected}, got {_type_name(value)} {shown}")
        return value

    def get_str(self, key: str, default: str | Any = _MISSING) -> str:
        """A string option; required unless a default is given."""
        value: str = self._get(key, default, "a string", lambda v: isinstance(v, str))
        return value

    def get_int(
        self,
        key: str,
        default: int | Any = _MISSING,
        *,
        minimum: int | None = None,
        maximum: int = _MAX_INT,
    ) -> int:
        """An integer option (not a boolean), at least ``minimum`` if given and at most
        ``maximum`` (by default the largest 64-bit integer, which any store can hold)."""
        value: int = self._get(
            key,
            default,
            "an integer" if minimum is None else f"an integer ≥ {minimum}",
            lambda v: (
                isinstance(v, int) and not isinstance(v, bool) and (minimum is None or v >= minimum)
            ),
        )
        if value > maximum:
            raise ConfigError(key, f"expected an integer ≤ {maximum:,}, got {value:,}")
        return value

    def get_float(self, key: str, default: float | Any = _MISSING) -> float:
        """A number option (an integer is taken as a float)."""
        value = self._get(
            key,
            default,
            "a number",
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        )
        return float(value)

    def get_bool(self, key: str, default: bool | Any = _MISSING) -> bool:
        """A boolean option (``true``/``false``)."""
        value: bool = self._get(key, default, "true or false", lambda v: isinstance(v, bool))
        return value

    def get_path(self, key: str, default: str | Any = _MISSING) -> Path:
        """A path option, relative to the config file's folder unless absolute."""
        value = self.get_str(key, default)
        path = Path(value).expanduser()
        return path if path.is_absolute() else self._base_dir / path

    def get_any(self, key: str, default: Any = _MISSING) -> Any:
        """An option of any type, for the caller to check."""
        return self._get(key, default, "a value", lambda v: True)

    def finish(self) -> None:
        """Reject every key no ``get_*`` call asked for."""
        for key in self._options:
            if key not in self._known:
                raise ConfigError(key, unknown_key_problem(key, self._known))


_PROPERTY_KEYS: Final = ("name", "type", "required", "options", "read_only", "unique")


def _schema_from(name: str, value: Any, path: str) -> ObjectSchema:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"expected a table with `properties`, got {_type_name(value)}")
    for key in value:
        if key not in ("name", "properties"):
            raise ConfigError(f"{path}.{key}", unknown_key_problem(key, ["name", "properties"]))
    props = value.get("properties")
    if not isinstance(props, list):
        raise ConfigError(
            f"{path}.properties",
            'expected an array of tables like {name = "email", type = "string"}',
        )
    specs = []
    for i, prop in enumerate(props):
        where = f"{path}.properties[{i}]"
        if not isinstance(prop, Mapping):
            raise ConfigError(where, f"expected a table, got {_type_name(prop)}")
        for key in prop:
            if key not in _PROPERTY_KEYS:
                raise ConfigError(f"{where}.{key}", unknown_key_problem(key, _PROPERTY_KEYS))
        if not isinstance(prop.get("name"), str):
            raise ConfigError(f"{where}.name", "expected a property name")
        for flag in ("required", "read_only", "unique"):
            if flag in prop and not isinstance(prop[flag], bool):
                raise ConfigError(
                    f"{where}.{flag}", f"expected true or false, got {_type_name(prop[flag])}"
                )
        options = prop.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ConfigError(
                f"{where}.options",
                f"expected an array of option values (strings), got {_type_name(options)}",
            )
        kind = prop.get("type", "string")
        try:
            specs.append(PropertySpec(**{"type": "string", **prop}))
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise exc.within(where) from None
            raise ConfigError(
                f"{where}.type",
                f"unknown type {kind!r}; expected one of string, number, bool, date, "
                "datetime, enum, multi_enum",
            ) from None
        except TypeError as exc:
            raise ConfigError(where, str(exc)) from None
    try:
        return ObjectSchema(name, specs)
    except ConfigError as exc:
        raise ConfigError(path, exc.problem) from None


def schemas_from_options(value: Any, path: str = "schemas") -> list[ObjectSchema]:
    """Object schemas from config data: a table keyed by type name, or an array of tables.

    Either ``{contacts = {properties = [...]}}`` or ``[{name = "contacts", properties =
    [...]}]``; each property is ``{name, type = "string", required, options, read_only,
    unique}``. ``None`` gives no schemas.

    Raises:
        ConfigError: naming the key path below ``path``.
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [_schema_from(name, spec, f"{path}.{name}") for name, spec in value.items()]
    if isinstance(value, list):
        schemas = []
        for i, spec in enumerate(value):
            name = spec.get("name") if isinstance(spec, Mapping) else None
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{path}[{i}].name", "expected the object type's name")
            schemas.append(_schema_from(name, spec, f"{path}[{i}]"))
        return schemas
    raise ConfigError(path, f"expected a table of object types, got {_type_name(value)}")


def memory_adapter_from_config(options: Mapping[str, Any], *, base_dir: Path) -> Adapter:
    """Build an :class:`~syncengine.adapters.InMemoryAdapter` (kind ``memory``).

    Options: ``schemas`` (as :func:`schemas_from_options`), ``pipelines`` (as
    :func:`pipelines_from_options`), ``name``, ``page_size``, ``max_batch_size``,
    ``id_prefix``. The app starts empty and lives as long as the
    process: useful for dry runs and tests.
    """
    from syncengine.adapters.memory import InMemoryAdapter

    opts = AdapterOptions(options, base_dir=base_dir)
    schemas = schemas_from_options(opts.get_any("schemas", None))
    adapter = InMemoryAdapter(
        schemas,
        name=opts.get_str("name", "memory"),
        page_size=opts.get_int("page_size", 100, minimum=1),
        max_batch_size=opts.get_int("max_batch_size", 100, minimum=1),
        pipelines=pipelines_from_options(opts.get_any("pipelines", None)),
        id_prefix=opts.get_str("id_prefix", ""),
    )
    opts.finish()
    return adapter


def hubspot_adapter_from_config(options: Mapping[str, Any], *, base_dir: Path) -> Adapter:
    """Build a :class:`~syncengine.adapters.hubspot.HubSpotAdapter` (kind ``hubspot``).

    Options (documented for users in ``docs/how-to/config-files.md`` and
    ``docs/how-to/hubspot.md``):

    * a private app's token: ``token_env`` (the environment variable holding it; default
      ``HUBSPOT_TOKEN``) or ``token_file`` (a file holding it);
    * or an OAuth app: ``client_id`` (or ``client_id_env``), ``client_secret_env`` or
      ``client_secret_file``, ``refresh_token_env`` or ``refresh_token_file``;
    * ``base_url``, ``requests_per_10s``, ``name``, ``archived_sweep_every`` (``"auto"``,
      the default, or a duration: ``"24h"``, ``"30m"``, ``"0"`` for every scan);
    * ``properties`` (``{contacts = ["email", "firstname"]}``: the only properties read
      and written of each type);
    * ``associations`` (``{contacts = ["companies"]}``: more links to read; not needed
      for those the object syncs keep, which the engine asks for);
    * ``idempotency_properties`` (``{companies = "syncengine_key"}``: per object type, a
      unique text property that makes creates idempotent, rule S8).

    Secrets never go in config files (rule X4): ``token``, ``client_secret``,
    ``refresh_token`` and ``access_token`` are refused, without echoing their value.
    """
    from syncengine.adapters._hubspot_http import HubSpotOAuth
    from syncengine.adapters.hubspot import HubSpotAdapter

    for key in ("token", "client_secret", "refresh_token", "access_token"):
        if key in options:
            raise ConfigError(
                key,
                "a secret never goes in a config file (whoever reads the file would have "
                f"it): put it in an environment variable named by {key}_env, or in a file "
                f"only this service can read, named by {key}_file"
                if key != "access_token"
                else "an OAuth access token expires after 30 minutes: give the app's "
                "client_id, client_secret_env (or _file) and refresh_token_env (or _file) "
                "instead, and the adapter renews it",
            )
    opts = AdapterOptions(options, base_dir=base_dir)
    oauth_keys = (
        "client_id",
        "client_id_env",
        "client_id_file",
        "client_secret_env",
        "client_secret_file",
        "refresh_token_env",
        "refresh_token_file",
    )
    # Every option is read (and so known) before finish() rejects the unknown ones;
    # the secrets are fetched afterwards.
    given = {key: opts.get_str(key, None) for key in ("token_env", "token_file", *oauth_keys)}
    base_url = opts.get_str("base_url", "https://api.hubapi.com")
    per_10s = opts.get_int("requests_per_10s", 100, minimum=1)
    links = opts.get_any("associations", None)
    properties = opts.get_any("properties", None)
    keys = opts.get_any("idempotency_properties", None)
    name = opts.get_str("name", "hubspot")
    raw_sweep = opts.get_any("archived_sweep_every", "auto")
    sweep: float | str = "auto"
    if raw_sweep != "auto":
        try:
            sweep = duration_option(raw_sweep, "archived_sweep_every")
        except ConfigError:
            raise ConfigError(
                "archived_sweep_every",
                f'expected "auto" or a duration such as "24h", "30m", "90s" or 0, got '
                f"{raw_sweep!r:.60}",
            ) from None
    opts.finish()
    if not isinstance(sweep, str) and sweep > 30 * 86400:
        raise ConfigError(
            "archived_sweep_every",
            "at most 30 days (HubSpot keeps archived records 90 days, and a deletion is "
            f"seen only by a sweep that still lists it); got {sweep:g} s",
        )
    oauth = any(given[key] is not None for key in oauth_keys)
    private = any(given[key] is not None for key in ("token_env", "token_file"))
    if oauth and private:
        raise ConfigError(
            "token_env" if given["token_env"] is not None else "token_file",
            "give either a private app's token (token_env or token_file) or an OAuth "
            "app's credentials (client_id, client_secret_env or client_secret_file, "
            "refresh_token_env or refresh_token_file), not both",
        )
    credentials: str | HubSpotOAuth
    if oauth:
        client_id = _hubspot_secret(given, base_dir, "client_id", "OAuth client id", inline=True)
        client_secret = _hubspot_secret(given, base_dir, "client_secret", "OAuth client secret")
        refresh_token = _hubspot_secret(given, base_dir, "refresh_token", "OAuth refresh token")
        kept_in = given.get("refresh_token_file")
        credentials = HubSpotOAuth(
            client_id,
            client_secret,
            refresh_token,
            # A refresh token HubSpot rotates goes back into the file it came from, so
            # the next run starts from the token HubSpot takes now.
            on_refresh_token=None if kept_in is None else _write_secret(_under(base_dir, kept_in)),
        )
    else:
        credentials = _hubspot_secret(
            given, base_dir, "token", "HubSpot private app token", default_env="HUBSPOT_TOKEN"
        )
    if links is not None and not (
        isinstance(links, Mapping)
        and all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in links.values())
    ):
        raise ConfigError("associations", "expected a table of lists of object type names")
    if properties is not None:
        if not isinstance(properties, Mapping) or not properties:
            raise ConfigError(
                "properties",
                "expected a table of object type = [property names], such as "
                f'properties = {{contacts = ["email", "firstname"]}}, got {_type_name(properties)}',
            )
        for object_type, names in properties.items():
            if (
                not isinstance(names, list)
                or not names
                or not all(isinstance(n, str) and n.strip() for n in names)
            ):
                raise ConfigError(
                    f"properties.{object_type}",
                    "expected a non-empty array of property names (strings), got "
                    f"{_type_name(names)} {names!r:.80}",
                )
    if keys is not None and not (
        isinstance(keys, Mapping) and all(isinstance(v, str) and v for v in keys.values())
    ):
        raise ConfigError(
            "idempotency_properties",
            'expected a table of object type = property name, e.g. {companies = "syncengine_key"}',
        )
    return HubSpotAdapter(
        credentials,
        base_url=base_url,
        rate_limit=(per_10s, 10.0),
        associations={str(k): list(v) for k, v in links.items()} if links else None,
        properties={str(k): list(v) for k, v in properties.items()} if properties else None,
        archived_sweep_every=sweep,
        idempotency_properties={str(k): str(v) for k, v in keys.items()} if keys else None,
        name=name,
    )


def _under(base_dir: Path, name: str) -> Path:
    """``name`` (``~`` expanded) relative to ``base_dir`` unless absolute."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else base_dir / path


def _write_secret(path: Path) -> Callable[[str], None]:
    """A callback that replaces ``path``'s content with a new secret, atomically (a
    temporary file beside it, owner-only, renamed over it)."""
    import os
    import tempfile

    def write(secret: str) -> None:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(secret + "\n")
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    return write


def _hubspot_secret(
    given: Mapping[str, str | None],
    base_dir: Path,
    key: str,
    what: str,
    *,
    default_env: str | None = None,
    inline: bool = False,
) -> str:
    """A credential from ``{key}_env`` or ``{key}_file`` (or ``key`` itself if ``inline``).

    Raises:
        ConfigError: naming the key; never the value (rule X4).
    """
    import os

    from syncengine.adapters._hubspot_http import Secret

    keys = [k for k in (key, f"{key}_env", f"{key}_file") if k != key or inline]
    named = [k for k in keys if given.get(k) is not None]
    if len(named) > 1:
        raise ConfigError(named[1], f"give the {what} once: one of {' or '.join(named)}")
    if not named and default_env is None:
        raise ConfigError(f"{key}_env", f"missing; the {what} is needed: give {' or '.join(keys)}")
    where = named[0] if named else f"{key}_env"
    option = given.get(where) or default_env or ""
    if where == key:
        value, origin = option, key
    elif where.endswith("_file"):
        path = _under(base_dir, option)
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(
                where, f"cannot read the {what} from {str(path)!r}: {reason}"
            ) from None
        if not value.strip():
            raise ConfigError(where, f"the file {str(path)!r} holds no {what}")
        origin = f"the file {str(path)!r}"
    else:
        value = os.environ.get(option) or ""
        if not value.strip():
            raise ConfigError(where, f"environment variable {option!r} holds no {what}")
        origin = f"environment variable {option!r}"
    try:
        Secret(value, what)
    except ValueError as exc:  # the message names no part of the secret
        raise ConfigError(where, f"{origin}: {exc}") from None
    return value.strip()


_DURATION: Final = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)?\s*")
_UNITS: Final[Mapping[str, float]] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_option(value: Any, key: str) -> float:
    """Seconds from a config value: a number of seconds, or text like ``"90s"``,
    ``"30m"``, ``"24h"``, ``"7d"`` (``"0"``: none).

    Raises:
        ConfigError: naming ``key``.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    found = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ConfigError(
            key, f'expected a duration such as "24h", "30m", "90s" or 0, got {value!r:.60}'
        )
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def pipelines_from_options(value: Any) -> dict[str, list[Pipeline]] | None:
    """Pipelines from config data: ``{deals = [{id, label, stages = [[id, label], …]}]}``.

    ``None`` gives ``None``.

    Raises:
        ConfigError: naming the key path below ``pipelines``.
    """
    if value is None:
        return None
    from syncengine.records import Stage

    if not isinstance(value, Mapping):
        raise ConfigError("pipelines", "expected a table of object types")
    found: dict[str, list[Pipeline]] = {}
    for object_type, pipelines in value.items():
        where = f"pipelines.{object_type}"
        if not isinstance(pipelines, list):
            raise ConfigError(where, "expected an array of pipelines")
        found[object_type] = []
        for i, p in enumerate(pipelines):
            ok = (
                isinstance(p, Mapping)
                and isinstance(p.get("id"), str)
                and isinstance(p.get("stages"), list)
                and all(
                    isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) for x in s)
                    for s in p["stages"]
                )
            )
            if not ok:
                raise ConfigError(
                    f"{where}[{i}]",
                    'expected {id = "…", label = "…", stages = [["id", "label"], …]}',
                )
            found[object_type].append(
                Pipeline(
                    p["id"],
                    str(p.get("label", p["id"])),
                    tuple(Stage(s[0], s[1]) for s in p["stages"]),
                )
            )
    return found


def adapter_kinds() -> dict[str, str]:
    """Every known adapter kind and the object it names (``"module:attribute"``).

    Installed entry points of :data:`ENTRY_POINT_GROUP` win over the built-in fallback.
    """
    kinds = dict(_BUILTIN)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        kinds[entry_point.name] = entry_point.value
    return dict(sorted(kinds.items()))


def _import(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


def load_adapter(kind: str, options: Mapping[str, Any], *, base_dir: Path | None = None) -> Adapter:
    """Find the adapter kind ``kind`` and build it from ``options``.

    Args:
        kind: An entry-point name of the ``syncengine.adapters`` group (``"sqlite"``), or
            ``"package.module:Name"``.
        options: The adapter's options (its config table without ``kind``).
        base_dir: Where relative paths in the options start; the working folder by
            default.

    Returns:
        The adapter.

    Raises:
        ConfigError: ``kind`` is unknown (the message lists the known kinds) or cannot be
            imported, or the factory rejected an option (named by the error's path).

    .. versionadded:: 0.1
    """
    kinds = adapter_kinds()
    target = kinds.get(kind)
    registered = target is not None
    if target is None and ":" in kind:
        target = kind
    if target is None:
        known = ", ".join(kinds)
        raise ConfigError(
            "kind",
            f"unknown adapter kind {kind!r}; {_suggest(kind, list(kinds))}known kinds: {known} "
            f"(a connector package registers more under the entry-point group "
            f"{ENTRY_POINT_GROUP!r})",
        )
    try:
        found = _import(target)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            "kind", f"adapter kind {kind!r} ({target}) cannot be imported: {exc}"
        ) from exc
    except (Exception, SystemExit) as exc:  # a broken module: one line, no traceback
        raise ConfigError(
            "kind",
            f"adapter kind {kind!r} ({target}) failed while it was imported: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
        ) from exc
    if not registered and not (isinstance(found, type) and issubclass(found, Adapter)):
        raise ConfigError(
            "kind",
            f"{target!r} is a {type(found).__name__}, not an adapter class: a kind written "
            "'module:Name' must name a subclass of syncengine.adapters.Adapter (a factory "
            f"function must be registered as an entry point of {ENTRY_POINT_GROUP!r})",
        )
    factory = getattr(found, "from_config", None)
    if factory is None:
        if isinstance(found, type) or not callable(found):
            raise ConfigError(
                "kind",
                f"adapter kind {kind!r} ({target}) cannot be built from a config file: it "
                "has no from_config(options, *, base_dir) classmethod",
            )
        factory = found
    try:
        adapter = factory(options, base_dir=base_dir if base_dir is not None else Path.cwd())
    except SyncEngineError:
        raise
    except Exception as exc:  # a factory's bug or a refused option, never a traceback
        raise ConfigError(
            "",
            f"adapter kind {kind!r} ({target}) could not be built from these options: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
        ) from exc
    if not isinstance(adapter, Adapter):
        raise ConfigError(
            "kind",
            f"adapter kind {kind!r} ({target}) built a {type(adapter).__name__}, not an Adapter",
        )
    return adapter
