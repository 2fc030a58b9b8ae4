"""Sync configuration: what syncs, in which direction, matched and mapped how.

Every class here validates what it can on its own when it is built and raises
:class:`~syncengine.ConfigError` naming the offending field (rule X2). What needs the
adapters' schemas (do the properties exist, are their types compatible) is checked when a
:class:`~syncengine.SyncEngine` is built.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
from typing_extensions import override

from syncengine.errors import ConfigError
from syncengine.filters import Filter
from syncengine.records import Side, Stage

__all__ = [
    "MATCH_KINDS",
    "Direction",
    "FieldMapping",
    "MatchRule",
    "ObjectSync",
    "PipelineMap",
    "SyncConfig",
]


class Direction(enum.StrEnum):
    """Which way values flow (rule D1).

    .. versionadded:: 0.1
    """

    TWO_WAY = "two_way"
    TO_HUB = "to_hub"
    TO_APP = "to_app"

    def flows_from(self, source: Side) -> bool:
        """Whether values may flow from ``source`` to the other side."""
        if self is _TWO_WAY:
            return True
        return source is (_APP if self is _TO_HUB else _HUB)

    @classmethod
    def from_source(cls, source: Side) -> Direction:
        """The one-way direction whose values come from ``source``."""
        return cls.TO_APP if source is Side.HUB else cls.TO_HUB

    def narrow(self, other: Direction) -> Direction | None:
        """The flows both directions allow, or ``None`` when they allow none (rule F3)."""
        if self is other or other is Direction.TWO_WAY:
            return self
        if self is Direction.TWO_WAY:
            return other
        return None


# The members flows_from compares with, as module constants (on Python 3.11 each
# ``Direction.TWO_WAY`` is a call through ``EnumType.__getattr__``'s lookup hook).
_TWO_WAY: Final = Direction.TWO_WAY
_TO_HUB: Final = Direction.TO_HUB
_HUB: Final = Side.HUB
_APP: Final = Side.APP


def _items(value: Any, path: str, what: str) -> tuple[Any, ...]:
    """``value`` as a tuple, or a ConfigError naming ``path`` when it is not a list (X2)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigError(path, f"expected {what}, got {value!r:.80}")
    return tuple(value)


def _as_dict(value: Any, path: str, what: str) -> dict[Any, Any]:
    """``value`` as a dict, or a ConfigError naming ``path`` when it is no mapping (X2)."""
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"expected {what}, got {value!r:.80}")
    return dict(value)


def _direction(value: Direction | str) -> Direction:
    try:
        return Direction(value)
    except ValueError:
        raise ConfigError(
            "direction",
            f"unknown direction {value!r}; expected one of "
            f"{', '.join(repr(d.value) for d in Direction)}",
        ) from None


def _side(value: Side | str) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise ConfigError("winner", f"unknown side {value!r}; expected 'hub' or 'app'") from None


_POLICIES: Final = frozenset({"winner", "newest"})


@attrs.frozen(slots=True)
class FieldMapping:
    """A hub property mapped to an app property (rule F1–F5).

    Args:
        hub: The hub property's name.
        app: The app property's name.
        direction: This mapping's own direction, bounded by its object sync's (F3).
        enabled: ``False`` switches the mapping off (F2); required mappings cannot be.
        options: Enumeration values, hub value → app value (F4). Values without an entry
            pass unchanged when the other side has the same option.
        to_hub: A transform applied to app values on their way to the hub (F5), after
            type conversion.
        to_app: A transform applied to hub values on their way to the app (F5).
        policy: Who wins when both sides changed this field (D6): ``"winner"`` (the
            object sync's default app), ``"newest"`` (the later modification time), or a
            callable taking a :class:`~syncengine.conflicts.Conflict` and returning the
            winning :class:`~syncengine.Side`.
        propagate_clears: Whether clearing the value on one side clears it on the other
            (D4; by default a blank never overwrites a value).
        required: Marks a mapping that cannot be switched off (the ``*`` of F2).
        hub_default: The value a record created in the hub gets when the app has none.
        app_default: The value a record created in the app gets when the hub has none.

    .. versionadded:: 0.1
    """

    hub: str
    app: str
    direction: Direction = attrs.field(default=Direction.TWO_WAY, converter=_direction)
    enabled: bool = True
    options: Mapping[str, str] | None = None
    to_hub: Callable[[Any], Any] | None = None
    to_app: Callable[[Any], Any] | None = None
    policy: str | Callable[..., Side] | None = None
    propagate_clears: bool = False
    required: bool = False
    hub_default: Any = None
    app_default: Any = None

    def __attrs_post_init__(self) -> None:
        for side in ("hub", "app"):
            name = getattr(self, side)
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(side, f"expected a property name, got {name!r}")
        if self.required and not self.enabled:
            raise ConfigError("enabled", f"mapping {self.hub!r} is required and cannot be off")
        if self.options is not None:
            options = _as_dict(self.options, "options", "a mapping of hub option → app option")
            for hub_value, app_value in options.items():
                if not isinstance(hub_value, str) or not isinstance(app_value, str):
                    raise ConfigError(
                        f"options[{hub_value!r}]",
                        f"option values must be strings, got {hub_value!r} → {app_value!r}",
                    )
            if self.direction is not Direction.TO_APP:
                seen: dict[str, str] = {}
                for hub_value, app_value in options.items():
                    if app_value in seen:
                        raise ConfigError(
                            f"options[{hub_value!r}]",
                            f"app option {app_value!r} is mapped from both {seen[app_value]!r} "
                            f"and {hub_value!r}, so it cannot flow back to the hub; make the "
                            "mapping to_app or map each option once",
                        )
                    seen[app_value] = hub_value
            object.__setattr__(self, "options", options)
        for name in ("to_hub", "to_app"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ConfigError(name, "a transform must be callable")
        if (
            self.policy is not None
            and not callable(self.policy)
            and (not isinstance(self.policy, str) or self.policy not in _POLICIES)
        ):
            raise ConfigError(
                "policy",
                f"unknown policy {self.policy!r}; expected 'winner', 'newest' or a callable",
            )

    @property
    def app_options(self) -> Mapping[str, str] | None:
        """The option map reversed: app value → hub value."""
        if self.options is None:
            return None
        return {app: hub for hub, app in self.options.items()}


#: The identifier normalizers a :class:`MatchRule` key can use (rule M6).
MATCH_KINDS: Final = frozenset({"email", "domain", "company_name", "phone", "text", "exact"})


def _keys(value: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    keys = []
    for i, key in enumerate(_items(value, "keys", "a list of (hub property, app property) pairs")):
        pair = (
            ()
            if isinstance(key, str | bytes | Mapping) or not isinstance(key, Iterable)
            else tuple(key)
        )
        if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
            raise ConfigError(f"keys[{i}]", f"expected (hub property, app property), got {key!r}")
        keys.append((pair[0], pair[1]))
    if len(set(keys)) != len(keys):
        raise ConfigError("keys", "the same key is listed twice")
    return tuple(keys)


@attrs.frozen(slots=True, repr=False)
class MatchRule:
    """How records are matched across the two apps (rule M1–M7).

    Args:
        keys: Pairs of (hub property, app property). Two records match when **any** key
            matches (M2); keys are tried in order and the first that matches is recorded.
        require: Whether a record needs an identifier to sync. With ``True`` a record
            without one is excluded (``no_identifier``, M5); with ``False`` it syncs
            unmatched, which means it is created on the other side (M4).
        kinds: How each key's values are normalized before comparison (M6), one of
            ``email, domain, company_name, phone, text, exact`` per key. By default each
            is guessed from both property names and the object types (:meth:`kind_of`):
            ``email`` → email, ``domain``/``website``/``url`` → domain, ``phone`` →
            phone, the ``name`` (or ``title``) of a companies object → company name,
            otherwise ``text`` (trimmed and case-folded). ``engine.explain`` shows the
            kind each key got.

    No matching at all (every record is created on the other side, M7) is asked for
    explicitly with :meth:`MatchRule.none`. An ``ObjectSync`` without ``match`` uses the
    usual rule of its object type (:meth:`default_for`), and is refused when its type has
    none, so that a forgotten ``match`` never duplicates every record.

    .. versionadded:: 0.1
    """

    keys: tuple[tuple[str, str], ...] = attrs.field(converter=_keys)
    require: bool = True
    kinds: tuple[str, ...] | None = attrs.field(default=None)
    _none: bool = attrs.field(default=False, kw_only=True, alias="_none")

    def __attrs_post_init__(self) -> None:
        if self._none and self.keys:
            raise ConfigError("keys", "MatchRule.none() has no keys")
        if not self._none and not self.keys:
            raise ConfigError(
                "keys",
                "a match rule needs at least one key; MatchRule.none() means no matching",
            )
        if self.kinds is None:
            return
        kinds = _items(self.kinds, "kinds", "one normalizer kind per key")
        if len(kinds) != len(self.keys):
            raise ConfigError(
                "kinds", f"expected one kind per key ({len(self.keys)}), got {len(kinds)}"
            )
        for i, kind in enumerate(kinds):
            if kind not in MATCH_KINDS:
                raise ConfigError(
                    f"kinds[{i}]", f"unknown kind {kind!r}; expected one of {sorted(MATCH_KINDS)}"
                )
        object.__setattr__(self, "kinds", kinds)

    @override
    def __repr__(self) -> str:
        if self._none:
            return "MatchRule.none()"
        return f"MatchRule(keys={self.keys!r}, require={self.require!r}, kinds={self.kinds!r})"

    @classmethod
    def none(cls) -> MatchRule:
        """No matching at all: every record is created on the other side (M7).

        Records are never paired by identifier, so a record that exists on both sides
        before the first sync ends up twice on each. Use it when the two apps share no
        records yet, or for types without identifiers.

        .. versionadded:: 0.2
        """
        return cls((), require=False, _none=True)

    @property
    def is_none(self) -> bool:
        """Whether this is :meth:`MatchRule.none`: no matching at all."""
        return self._none

    @classmethod
    def default_for(cls, hub_type: str, mappings: Sequence[FieldMapping]) -> MatchRule | None:
        """The usual rule of an object type, from its mappings, or ``None`` (M1, M2).

        ``contacts`` match by e-mail: the hub's ``email`` and the app property it is
        mapped to. ``companies`` match by name or domain: the hub's ``name`` and
        ``domain``, whichever are mapped. Other types, or these without those mappings,
        have no usual rule. It is what ``ObjectSync`` uses when ``match`` is left out.

        .. versionadded:: 0.2
        """
        mapped = {m.hub: m.app for m in mappings if isinstance(m, FieldMapping)}
        if hub_type == "contacts" and "email" in mapped:
            return cls.email("email", mapped["email"])
        if hub_type == "companies":
            keys = [(p, mapped[p]) for p in ("name", "domain") if p in mapped]
            kinds = tuple({"name": "company_name", "domain": "domain"}[p] for p, _ in keys)
            if keys:
                return cls(keys, kinds=kinds)
        return None

    @classmethod
    def email(cls, hub: str = "email", app: str = "email", *, require: bool = True) -> MatchRule:
        """The default contact rule: match on e-mail (M1, M4)."""
        return cls([(hub, app)], require=require, kinds=("email",))

    @classmethod
    def company(
        cls,
        name: tuple[str, str] = ("name", "name"),
        domain: tuple[str, str] = ("domain", "domain"),
        *,
        require: bool = True,
    ) -> MatchRule:
        """The default company rule: match on name or domain (M1, M2)."""
        return cls([name, domain], require=require, kinds=("company_name", "domain"))

    def kind_of(
        self, index: int, *, hub_type: str | None = None, app_type: str | None = None
    ) -> str:
        """The normalizer kind of key ``index``: the one given in ``kinds``, or a guess (M6).

        The guess reads both properties' names and, when given, the object types:
        ``mail`` → ``email``; ``domain``, ``website``, ``url``, ``web``, ``site``,
        ``homepage`` → ``domain``; ``phone``, ``mobile`` → ``phone``; ``company`` →
        ``company_name``; on a companies object (either type is named like ``companies``,
        ``organizations``, ``accounts``, ``businesses`` or HubSpot's ``0-2``), a ``name``
        or ``title`` property → ``company_name``; anything else → ``text``. Without object
        types, only a key of two properties called ``name`` is taken for a company name.
        """
        if self.kinds is not None:
            return self.kinds[index]
        return _guess_kind(*self.keys[index], hub_type=hub_type, app_type=app_type)


_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: Words of an object type's name that make it a companies object (M1).
_COMPANY_TYPE_WORDS: Final = frozenset(
    {"account", "accounts", "business", "businesses", "firm", "firms", "org", "orgs"}
)
#: Whole property names that hold a company's name on a companies object.
_COMPANY_NAME_PROPS: Final = frozenset(
    {"title", "organization", "organisation", "account", "business", "firm"}
)
#: Whole property names that hold a domain or a website.
_DOMAIN_PROPS: Final = frozenset({"web", "site", "homepage", "www"})


def _words(name: str) -> list[str]:
    """``name`` cut into lowercase words (``companyName`` / ``company_name`` → company, name)."""
    return [w for w in _LABEL_JUNK.split(_CAMEL.sub(" ", name).casefold()) if w]


def _is_company_type(type_name: str) -> bool:
    """Whether an object type's name says it holds companies (``companies``, ``Accounts``, …).

    Also true of HubSpot's object type id for companies, ``0-2``.
    """
    if type_name.strip() == "0-2":
        return True
    return any(
        w.startswith(("compan", "organi")) or w in _COMPANY_TYPE_WORDS for w in _words(type_name)
    )


def _guess_kind(
    hub: str, app: str, *, hub_type: str | None = None, app_type: str | None = None
) -> str:
    """The normalizer kind guessed for a match key (see :meth:`MatchRule.kind_of`)."""
    names = f"{hub} {app}".casefold()
    whole = {hub.strip().casefold(), app.strip().casefold()}
    if "mail" in names:
        return "email"
    if any(word in names for word in ("domain", "website", "url")) or whole & _DOMAIN_PROPS:
        return "domain"
    if "phone" in names or "mobile" in names:
        return "phone"
    if "company" in names:
        return "company_name"
    if hub_type is None and app_type is None:
        return "company_name" if names.split() == ["name", "name"] else "text"
    company = any(_is_company_type(t) for t in (hub_type, app_type) if t is not None)
    named = "name" in {*_words(hub), *_words(app)} or whole & _COMPANY_NAME_PROPS
    return "company_name" if company and named else "text"


_LABEL_JUNK = re.compile(r"[\W_]+", re.UNICODE)


def _label_key(label: str) -> str:
    """A stage label reduced for auto-map: case, spacing and punctuation ignored (A4)."""
    folded = unicodedata.normalize("NFKC", label).casefold()
    return _LABEL_JUNK.sub("", folded)


def _stage_map(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    if value is None:
        return None
    stages = _as_dict(value, "stages", "a mapping of hub stage id → app stage id")
    seen: dict[str, str] = {}
    for hub_stage, app_stage in stages.items():
        if not isinstance(hub_stage, str) or not isinstance(app_stage, str):
            raise ConfigError("stages", f"stage ids must be strings: {hub_stage!r}: {app_stage!r}")
        if app_stage in seen:
            raise ConfigError(
                f"stages[{hub_stage!r}]",
                f"app stage {app_stage!r} is already mapped from {seen[app_stage]!r}",
            )
        seen[app_stage] = hub_stage
    return stages


@attrs.frozen(slots=True)
class PipelineMap:
    """A hub pipeline mapped to an app pipeline, stage by stage (rule A3, A4).

    Args:
        hub_pipeline: The hub pipeline's id.
        app_pipeline: The app pipeline's id.
        stages: hub stage id → app stage id. ``None`` means auto-map by label when the
            engine is built (A4).

    .. versionadded:: 0.1
    """

    hub_pipeline: str
    app_pipeline: str
    stages: Mapping[str, str] | None = attrs.field(default=None, converter=_stage_map)

    def __attrs_post_init__(self) -> None:
        for name in ("hub_pipeline", "app_pipeline"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(name, "expected a pipeline id")

    @classmethod
    def auto(
        cls,
        hub_pipeline: str,
        app_pipeline: str,
        hub_stages: Sequence[Stage],
        app_stages: Sequence[Stage],
    ) -> PipelineMap:
        """Pair stages by label and return the explicit map (rule A4).

        Labels are compared first exactly, then with case, spacing and punctuation
        ignored ("Closed won" pairs with "CLOSED WON", "Appointment scheduled" with
        "appointment scheduled "). A label that is ambiguous on either side (two stages
        reduce to the same text) is never paired by the fallback; stages left unpaired are
        simply not mapped, and deals in them are excluded (``unmapped_stage``).
        """
        stages: dict[str, str] = {}
        used_app: set[str] = set()
        exact = {s.label: s for s in app_stages}
        exact_counts: dict[str, int] = {}
        for s in app_stages:
            exact_counts[s.label] = exact_counts.get(s.label, 0) + 1
        for hub_stage in hub_stages:
            app_stage = exact.get(hub_stage.label)
            if app_stage is not None and exact_counts[hub_stage.label] == 1:
                stages[hub_stage.id] = app_stage.id
                used_app.add(app_stage.id)
        by_key: dict[str, list[Stage]] = {}
        for s in app_stages:
            if s.id not in used_app:
                by_key.setdefault(_label_key(s.label), []).append(s)
        hub_keys: dict[str, int] = {}
        for s in hub_stages:
            if s.id not in stages:
                hub_keys[_label_key(s.label)] = hub_keys.get(_label_key(s.label), 0) + 1
        for hub_stage in hub_stages:
            if hub_stage.id in stages:
                continue
            key = _label_key(hub_stage.label)
            candidates = by_key.get(key, [])
            if key and len(candidates) == 1 and hub_keys[key] == 1:
                stages[hub_stage.id] = candidates[0].id
        return cls(hub_pipeline, app_pipeline, stages)


def _mappings(value: Sequence[FieldMapping]) -> tuple[FieldMapping, ...]:
    if isinstance(value, FieldMapping):
        raise ConfigError("mappings", "expected a list of FieldMapping, got one")
    return _items(value, "mappings", "a list of FieldMapping")


def _pipelines(value: Sequence[PipelineMap]) -> tuple[PipelineMap, ...]:
    return _items(value, "pipelines", "a list of PipelineMap")


def _names(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return _items(value, "associations", "a list of hub types")


def _pair(value: tuple[str, str], name: str) -> tuple[str, str]:
    pair = _items(value, name, "(hub property, app property)")
    if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
        raise ConfigError(name, f"expected (hub property, app property), got {value!r:.80}")
    return (pair[0], pair[1])


def _pipeline_fields(value: tuple[str, str]) -> tuple[str, str]:
    return _pair(value, "pipeline_fields")


def _stage_fields(value: tuple[str, str]) -> tuple[str, str]:
    return _pair(value, "stage_fields")


@attrs.frozen(slots=True)
class ObjectSync:
    """How one object type syncs between the hub and the app.

    Args:
        hub_type: The object type's name in the hub (``"contacts"``); also the name the
            engine reports it under.
        app_type: Its name in the app.
        mappings: The field mappings (F1). A property may be mapped once per side.
        match: How records are matched (M1–M7). Left out (``None``), the usual rule of
            the type is used (:meth:`MatchRule.default_for`: contacts by e-mail,
            companies by name or domain) and stored here; a type without one is refused.
            ``MatchRule.none()`` asks for no matching at all.
        direction: Two-way or one-way (D1).
        winner: The default app whose value wins a conflict (D3).
        hub_filter: Which hub records flow to the app (L1).
        app_filter: Which app records flow to the hub (L1).
        pipelines: Pipeline maps; turns on stage mapping (A3).
        associations: ``hub_type``\\ s of other object syncs whose links from this object
            are kept the same on both sides (A1).
        pipeline_fields: The (hub, app) properties that hold a deal's pipeline.
        stage_fields: The (hub, app) properties that hold a deal's stage.
        filter_lifetime: ``False`` (the default) filters only a record's initial entry;
            ``True`` makes filters hold for the record's whole life (L2).

    .. versionadded:: 0.1
    """

    hub_type: str
    app_type: str
    mappings: tuple[FieldMapping, ...] = attrs.field(converter=_mappings)
    match: MatchRule | None = None
    direction: Direction = attrs.field(default=Direction.TWO_WAY, converter=_direction)
    winner: Side = attrs.field(default=Side.HUB, converter=_side)
    hub_filter: Filter | None = None
    app_filter: Filter | None = None
    pipelines: tuple[PipelineMap, ...] = attrs.field(default=(), converter=_pipelines)
    associations: tuple[str, ...] = attrs.field(default=(), converter=_names)
    pipeline_fields: tuple[str, str] = attrs.field(
        default=("pipeline", "pipeline"), converter=_pipeline_fields
    )
    stage_fields: tuple[str, str] = attrs.field(
        default=("dealstage", "stage"), converter=_stage_fields
    )
    filter_lifetime: bool = False

    def __attrs_post_init__(self) -> None:
        for name in ("hub_type", "app_type"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ConfigError(name, "expected an object type name")
        seen: dict[str, dict[str, int]] = {"hub": {}, "app": {}}
        for i, mapping in enumerate(self.mappings):
            if not isinstance(mapping, FieldMapping):
                raise ConfigError(f"mappings[{i}]", f"expected a FieldMapping, got {mapping!r}")
            for side in ("hub", "app"):
                name = getattr(mapping, side)
                if name in seen[side]:
                    raise ConfigError(
                        f"mappings[{i}].{side}",
                        f"{side} property {name!r} is already mapped by "
                        f"mappings[{seen[side][name]}]; a property is mapped once",
                    )
                seen[side][name] = i
        if self.match is None:
            # rule M7, X6: a forgotten match must not silently mean "no matching".
            guessed = MatchRule.default_for(self.hub_type, self.mappings)
            if guessed is None:
                raise ConfigError(
                    "match",
                    f"missing: say how {self.hub_type!r} records are matched, e.g. "
                    "match=MatchRule([(hub property, app property)]), or "
                    "match=MatchRule.none() to create every record on the other side "
                    "without matching; only contacts (mapped 'email') and companies "
                    "(mapped 'name' or 'domain') have a default",
                )
            object.__setattr__(self, "match", guessed)
        elif not isinstance(self.match, MatchRule):
            raise ConfigError("match", f"expected a MatchRule, got {self.match!r:.80}")
        for name in ("hub_filter", "app_filter"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Filter):
                raise ConfigError(name, f"expected a Filter or None, got {value!r}")
        pipeline_seen: set[str] = set()
        for i, pipeline in enumerate(self.pipelines):
            if not isinstance(pipeline, PipelineMap):
                raise ConfigError(f"pipelines[{i}]", f"expected a PipelineMap, got {pipeline!r}")
            if pipeline.hub_pipeline in pipeline_seen:
                raise ConfigError(
                    f"pipelines[{i}].hub_pipeline",
                    f"hub pipeline {pipeline.hub_pipeline!r} is mapped twice",
                )
            pipeline_seen.add(pipeline.hub_pipeline)

    @property
    def name(self) -> str:
        """The name this object sync is reported under: its ``hub_type``."""
        return self.hub_type

    @property
    def active_mappings(self) -> tuple[FieldMapping, ...]:
        """The mappings that are switched on."""
        return tuple(m for m in self.mappings if m.enabled)


def _objects(value: Sequence[ObjectSync]) -> tuple[ObjectSync, ...]:
    if isinstance(value, ObjectSync):
        raise ConfigError("objects", "expected a list of ObjectSync, got one")
    return _items(value, "objects", "a list of ObjectSync")


@attrs.frozen(slots=True)
class SyncConfig:
    """Everything one sync between a hub and an app does (rule S1).

    Args:
        sync_id: Names this sync in the index; several syncs may share one index store
            and never mix (S1).
        objects: The object syncs, one per object type.
        max_change_ratio: A safety stop: a pass that would update more than this share of
            one side's records stops before writing (:class:`~syncengine.SafetyStop`).
            ``None`` turns the guard off.

    .. versionadded:: 0.1
    """

    sync_id: str
    objects: tuple[ObjectSync, ...] = attrs.field(converter=_objects)
    max_change_ratio: float | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.sync_id, str) or not self.sync_id.strip():
            raise ConfigError("sync_id", "expected a non-empty sync id")
        if self.sync_id != self.sync_id.strip() or any(c in self.sync_id for c in "\0\n\r\t"):
            raise ConfigError("sync_id", f"sync id {self.sync_id!r} has spaces or control chars")
        if not self.objects:
            raise ConfigError("objects", "a sync needs at least one object sync")
        hub_types: dict[str, int] = {}
        app_types: dict[str, int] = {}
        for i, obj in enumerate(self.objects):
            if not isinstance(obj, ObjectSync):
                raise ConfigError(f"objects[{i}]", f"expected an ObjectSync, got {obj!r}")
            if obj.hub_type in hub_types:
                raise ConfigError(
                    f"objects[{i}].hub_type",
                    f"hub type {obj.hub_type!r} is already synced by "
                    f"objects[{hub_types[obj.hub_type]}]",
                )
            if obj.app_type in app_types:
                raise ConfigError(
                    f"objects[{i}].app_type",
                    f"app type {obj.app_type!r} is already synced by "
                    f"objects[{app_types[obj.app_type]}]",
                )
            hub_types[obj.hub_type] = i
            app_types[obj.app_type] = i
        for i, obj in enumerate(self.objects):
            for j, other in enumerate(obj.associations):
                if other not in hub_types:
                    raise ConfigError(
                        f"objects[{i}].associations[{j}]",
                        f"{other!r} is not the hub_type of any object sync",
                    )
                if other == obj.hub_type:
                    raise ConfigError(
                        f"objects[{i}].associations[{j}]", "an object cannot link to itself"
                    )
        ratio = self.max_change_ratio
        if ratio is not None and (
            not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 < ratio <= 1
        ):
            raise ConfigError(
                "max_change_ratio", f"expected a share in (0, 1], got {self.max_change_ratio!r}"
            )

    def object(self, hub_type: str) -> ObjectSync:
        """The object sync of ``hub_type``."""
        for obj in self.objects:
            if obj.hub_type == hub_type:
                return obj
        raise KeyError(hub_type)

    def object_for(self, side: Side, type_name: str) -> ObjectSync | None:
        """The object sync of a type by its name on ``side``, or ``None``."""
        attr = "hub_type" if side is Side.HUB else "app_type"
        for obj in self.objects:
            if getattr(obj, attr) == type_name:
                return obj
        return None
