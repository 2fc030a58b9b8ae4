"""What a user sees of a sync: listings, exports, explanations and restore plans.

Views here are read-only values built from index entries (rule R4, R5, R6, R8). They
perform no I/O of their own, except :func:`write_export`, which writes to the file it is
given, row by row.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import IO, Any, Final, Literal

import attrs
from typing_extensions import override

from syncengine.conflicts import Why
from syncengine.index._entry import Entry, HistoryItem
from syncengine.plan import (
    Apply,
    CreateIn,
    Decision,
    Exclude,
    Fail,
    FieldCheck,
    FieldPlan,
    ObjectPlan,
    check_fields,
)
from syncengine.records import Record, Side
from syncengine.states import ErrorCategory, ExcludeReason, RecordState

__all__ = [
    "COLUMNS",
    "COLUMN_ALIASES",
    "EntryView",
    "Explanation",
    "FieldExplanation",
    "MatchKeyExplanation",
    "RestoreItem",
    "RestorePlan",
    "explain_entry",
    "export_columns",
    "shown",
    "shown_properties",
    "why_text",
    "write_export",
]


@attrs.frozen(slots=True)
class EntryView:
    """One row of the record listing (rule R5).

    .. versionadded:: 0.1
    """

    object_type: str
    hub_id: str | None
    app_id: str | None
    state: RecordState
    category: ErrorCategory | None
    reason: ExcludeReason | None
    message: str
    hint: str
    updated_at: datetime
    matched_by: str | None = None
    attempts: int = 0
    entry_id: str = ""

    @classmethod
    def of(cls, entry: Entry, matched_by: str | None = None) -> EntryView:
        """The view of an index entry."""
        return cls(
            object_type=entry.object_type,
            hub_id=entry.hub_id,
            app_id=entry.app_id,
            state=entry.state,
            category=entry.category,
            reason=entry.reason,
            message=entry.message,
            hint=entry.category.hint if entry.category is not None else "",
            updated_at=entry.updated_at,
            matched_by=matched_by,
            attempts=entry.attempts,
            entry_id=entry.entry_id,
        )

    @property
    def why(self) -> str:
        """Why the entry is in its state: its failure category or exclusion reason, or ``""``.

        The ``why`` column of ``syncengine records``; exports may ask for it by name.
        """
        why = self.category or self.reason
        return why.value if why is not None else ""

    def as_dict(self) -> dict[str, Any]:
        """The row as plain JSON-able values."""
        return {name: _plain(getattr(self, name)) for name in COLUMNS}


#: Every column of the listing, in the default order of exports.
COLUMNS: Final = (
    "object_type",
    "hub_id",
    "app_id",
    "state",
    "category",
    "reason",
    "message",
    "hint",
    "updated_at",
    "matched_by",
    "attempts",
    "entry_id",
)

#: Columns an export may ask for besides :data:`COLUMNS`: the ``why`` of ``syncengine records``.
_EXTRA_COLUMNS: Final = ("why",)

#: Other names of columns, accepted by exports: the record listing's earlier headings.
COLUMN_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {"object": "object_type", "updated": "updated_at"}
)


def export_columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    """The columns of an export, by their names; ``None`` gives :data:`COLUMNS`.

    A name is taken without case, with spaces as underscores (``"hub id"`` is ``hub_id``),
    and :data:`COLUMN_ALIASES` apply (``object`` is ``object_type``).

    Raises:
        ValueError: naming the unknown columns and the known ones.
    """
    if columns is None:
        return COLUMNS
    chosen = []
    for name in columns:
        key = str(name).strip().lower().replace(" ", "_")
        chosen.append(COLUMN_ALIASES.get(key, key))
    known = (*COLUMNS, *_EXTRA_COLUMNS)
    unknown = [name for name, key in zip(columns, chosen, strict=True) if key not in known]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; expected some of {list(known)}")
    return tuple(chosen)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


#: What makes a spreadsheet read a cell as a formula (OWASP, CSV injection): a first
#: character (after any blanks: spreadsheets skip leading spaces and line breaks) that is,
#: or normalizes (NFKC) to, one of ``= + - @``, or a tab, CR or LF; or ``=``, ``+`` or
#: ``@`` after a separator some spreadsheets split cells on (``a;=cmd()``).
_FORMULA_CHARS: Final = frozenset("=+-@\u2212")  # U+2212 MINUS SIGN: NFKC keeps it
_BREAKS: Final = frozenset("\t\r\n")
_FORMULA_INSIDE: Final = re.compile(r"[;,|\t\r\n]\s*[=+@]")
#: Characters that show nothing (format and control characters: zero-width spaces, the
#: byte order mark, direction marks, NUL, …): skipped like blanks before those checks.
_UNSEEN: Final = frozenset(("Cc", "Cf"))


def _seen(text: str) -> str:
    """``text`` NFKC-normalized, without the characters that show nothing (but line breaks)."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch for ch in text if ch in _BREAKS or unicodedata.category(ch) not in _UNSEEN)


def _cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula (OWASP's CSV injection guidance).

    A cell whose first character could start a formula (``=``, ``+``, ``-``, ``@``, also
    after leading blanks, line breaks or characters that show nothing (a zero-width
    space, a byte order mark, a direction mark, NUL), and in their full-width forms such
    as ``＝``; a tab, CR or LF), or that holds ``=``, ``+`` or ``@`` after a separator
    (``a;=cmd()``, also with such characters between), is prefixed with ``'``; the csv
    module quotes cells holding separators, quotes or line breaks.
    """
    text = "" if value is None else str(_plain(value))
    if not text:
        return text
    seen = _seen(text)
    stripped = seen.lstrip()
    if (
        text[0] in _BREAKS
        or (stripped and stripped[0] in _FORMULA_CHARS)
        or _FORMULA_INSIDE.search(seen) is not None
    ):
        return "'" + text
    return text


#: Characters ``json.dumps(ensure_ascii=False)`` writes raw that ``str.splitlines`` (and
#: JavaScript before ES2019) treat as line ends: escaped so that a line is a record.
_LINE_BREAKS: Final = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK: Final = re.compile("[\x85\u2028\u2029]")


def _json_line(value: Any) -> str:
    """One JSON-lines record: JSON text holding no character that splits lines."""
    text = json.dumps(value, ensure_ascii=False)
    return _LINE_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], text)


def write_export(
    rows: Iterable[EntryView],
    out: IO[str],
    format: Literal["csv", "jsonl"] = "csv",
    columns: Sequence[str] | None = None,
) -> int:
    """Write rows to ``out`` one at a time (bounded memory); return how many.

    Raises:
        ValueError: for an unknown format or column.
    """
    cols = export_columns(columns)
    count = 0
    if format == "csv":
        writer = csv.writer(out)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(getattr(row, c)) for c in cols])
            count += 1
    elif format == "jsonl":
        for row in rows:
            out.write(_json_line({c: _plain(getattr(row, c)) for c in cols}))
            out.write("\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {format!r}; expected 'csv' or 'jsonl'")
    return count


def shown(value: Any) -> str:
    """A value as a user reads it: text in quotes, dates in ISO 8601, blanks as ``(blank)``.

    No Python reprs: ``2024-04-08T09:00:00+00:00``, not ``datetime.datetime(2024, 4, 8, …)``.

    .. versionadded:: 0.2
    """
    if value is None:
        return "(blank)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return "[" + ", ".join(sorted(shown(v) for v in value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def shown_properties(properties: Mapping[str, Any]) -> str:
    """Properties as ``name=value`` pairs, values as :func:`shown` writes them."""
    return ", ".join(f"{name}={shown(value)}" for name, value in properties.items())


@attrs.frozen(slots=True)
class FieldExplanation:
    """One mapped field of an explained entry (rule R8).

    Attributes:
        hub: The hub property.
        app: The app property.
        hub_value: The hub's current value (if the record could be read).
        app_value: The app's current value.
        hub_copy: The hub value in the index copy (what was last synced).
        app_copy: The app value in the index copy.
        why: How the engine decides this field now (for a record without a counterpart:
            ``KEPT``; what happens to it is in ``text``).
        source: The side whose value wins now, if any.
        agree: Both records are there and their current values agree, after conversion.
        in_sync: ``agree``, and both current values are still those of the index copy.
        text: The decision for this field in words, as ``str()`` of the explanation
            prints it.
        hub_is_copy: The hub's current value is the one in the index copy (``None``: no
            copy yet, or no hub record).
        app_is_copy: The same for the app.

    .. versionchanged:: 0.2
       ``agree``, ``in_sync``, ``text``, ``hub_is_copy`` and ``app_is_copy``.
    """

    hub: str
    app: str
    hub_value: Any
    app_value: Any
    hub_copy: Any
    app_copy: Any
    why: Why
    source: Side | None
    agree: bool = False
    text: str = ""
    hub_is_copy: bool | None = None
    app_is_copy: bool | None = None

    @property
    def in_sync(self) -> bool:
        """``agree``, and both current values are still those of the index copy."""
        return bool(self.agree and self.hub_is_copy and self.app_is_copy)

    def as_dict(self) -> dict[str, Any]:
        """The field as plain JSON-able data."""
        return {
            "hub": self.hub,
            "app": self.app,
            "hub_value": _plain(self.hub_value),
            "app_value": _plain(self.app_value),
            "hub_copy": _plain(self.hub_copy),
            "app_copy": _plain(self.app_copy),
            "why": self.why.value,
            "source": self.source.value if self.source else None,
            "agree": self.agree,
            "in_sync": self.in_sync,
            "hub_is_copy": self.hub_is_copy,
            "app_is_copy": self.app_is_copy,
            "text": self.describe(),
        }

    def describe(self) -> str:
        """The decision in words: ``text`` if set, else from ``why`` and ``source``."""
        if self.text:
            return self.text
        if self.why is Why.IN_SYNC:
            return "in sync" if self.in_sync else "same value on both sides"
        return why_text(self.why, self.source)


@attrs.frozen(slots=True)
class MatchKeyExplanation:
    """One identifier key of an explained entry's match rule (rule M6, R8).

    Attributes:
        hub: The hub property.
        app: The app property.
        kind: How its values are normalized before comparison: ``email``, ``domain``,
            ``company_name``, ``phone``, ``text`` or ``exact`` — given in
            ``MatchRule(kinds=...)`` or guessed from the names and the object type.

    .. versionadded:: 0.1
    """

    hub: str
    app: str
    kind: str


_WHY_TEXT: Final[Mapping[Why, str]] = {
    Why.IN_SYNC: "same value on both sides",
    Why.CHANGED: "changed in the {source} only → the {source}'s value goes to the {other} "
    "(rule D6)",
    Why.FILL_BLANK: "blank in the {other} → filled from the {source} (rule D2)",
    Why.REFILL: "cleared in the {other} → refilled from the {source}: a blank never "
    "overwrites a value (rule D4)",
    Why.CLEARED: "cleared in the {source} → the {other} is cleared too (rule D4, propagate_clears)",
    Why.WINNER: "values differ → the {source} wins as the sync's default app (rule D3)",
    Why.NEWEST: "values differ → the {source} wins: it changed last (rule D6)",
    Why.POLICY: "values differ → the {source} wins: the field's conflict policy chose it (rule D6)",
    Why.DIRECTION: "one-way → the {source}'s value goes to the {other} (rule D5)",
    Why.KEPT: "values differ, but nothing flows (one-way, read-only or a blank source): "
    "both stay as they are",
}


def why_text(why: Why, source: Side | None) -> str:
    """How one field is decided, in words."""
    return _WHY_TEXT[why].format(
        source=source.value if source else "-",
        other=source.other.value if source else "-",
    )


@attrs.frozen(slots=True)
class Explanation:
    """Why an entry is as it is: pairing, fields, failure, history (rule R8).

    Render it with ``str()`` for humans or :meth:`as_dict` for tools.

    Attributes:
        entry: The entry's listing row.
        matched_by: The identifier that paired the records (``"email"``, or
            ``"email/mail"`` when the two apps name it differently), if they were matched.
        decision: What the engine would do with the entry now, in words.
        fields: Each mapped field.
        history: The entry's recent history, oldest first.
        pairing: How the entry's records are paired, in words.
        hub_found: Whether the hub record could be read now.
        app_found: Whether the app record could be read now.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``pairing``, ``hub_found`` and ``app_found``.
    """

    entry: EntryView
    matched_by: str | None
    decision: str
    fields: tuple[FieldExplanation, ...]
    history: tuple[HistoryItem, ...]
    pairing: str = ""
    hub_found: bool = True
    app_found: bool = True
    #: The match rule's keys and the kind each is normalized as (empty: no matching).
    match_keys: tuple[MatchKeyExplanation, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The explanation as plain JSON-able data."""
        return {
            "entry": self.entry.as_dict(),
            "matched_by": self.matched_by,
            "pairing": self.pairing,
            "hub_found": self.hub_found,
            "app_found": self.app_found,
            "decision": self.decision,
            "fields": [f.as_dict() for f in self.fields],
            "history": [
                {"at": h.at.isoformat(), "action": h.action, "detail": h.detail}
                for h in self.history
            ],
            "match_keys": [{"hub": k.hub, "app": k.app, "kind": k.kind} for k in self.match_keys],
        }

    @override
    def __str__(self) -> str:
        e = self.entry
        lines = [
            f"{e.object_type}: hub {e.hub_id or '-'} ↔ app {e.app_id or '-'} — {e.state.value}",
        ]
        if e.category is not None:
            lines.append(f"  failed ({e.category.value}): {e.message}")
            lines.append(f"  hint: {e.hint}")
        if e.reason is not None:
            lines.append(f"  excluded ({e.reason.value}): {e.message}")
        if self.pairing:
            lines.append(f"  pair: {self.pairing}")
        if self.matched_by:
            lines.append(f"  matched by: {self.matched_by}")
        lines.append(f"  match keys: {_match_keys_text(self.match_keys)}")
        lines.append(f"  now: {self.decision}")
        if self.fields:
            lines.append("  fields:")
        for f in self.fields:
            hub = shown(f.hub_value) if self.hub_found else "(no record)"
            app = shown(f.app_value) if self.app_found else "(no record)"
            lines.append(f"    {f.hub} ↔ {f.app}: {f.describe()}")
            lines.append(f"      values:      hub {hub} · app {app}")
            if f.hub_is_copy is False or f.app_is_copy is False:
                lines.append(
                    f"      last synced: hub {shown(f.hub_copy)} · app {shown(f.app_copy)}"
                )
        if self.history:
            lines.append("  history:")
            for h in self.history:
                lines.append(f"    {h.at.isoformat(timespec='seconds')} {h.action}: {h.detail}")
        return "\n".join(lines)


def _pairing(entry: Entry, hub: Record | None, app: Record | None, matched: str | None) -> str:
    """How the entry's records are paired, in words (the ids are in the heading)."""
    hub_id, app_id = entry.hub_id, entry.app_id
    if hub_id is not None and app_id is not None:
        gone = [
            f"the {side.value} record {rid} was deleted"
            for side, rid, record in ((Side.HUB, hub_id, hub), (Side.APP, app_id, app))
            if record is None
        ]
        if matched:
            how = "paired"
        else:
            created = next(
                (
                    h
                    for h in reversed(entry.history)
                    if h.action in ("synced", "restored") and h.detail.startswith("created on ")
                ),
                None,
            )
            if created is not None:
                made = Side(created.detail.removeprefix("created on ").split()[0])
                how = (
                    f"paired: syncengine created the {made.value} record from the "
                    f"{made.other.value} record"
                )
            else:
                how = "paired (how they were paired is no longer in the history)"
        return how + (f"; {' and '.join(gone)}" if gone else "")
    only = Side.HUB if hub_id is not None else Side.APP
    rid = hub_id if hub_id is not None else app_id
    if rid is None:
        return "no record on either side"
    text = f"not paired: only the {only.value} record {rid} is known"
    if entry.pending is not None:
        text += f"; a create in the {entry.pending.value} is in flight"
    elif (hub if only is Side.HUB else app) is None:
        text += " (and it cannot be read now)"
    return text


def _field_text(
    check: FieldCheck,
    field: FieldPlan,
    hub: Record | None,
    app: Record | None,
    decision: Decision,
) -> str:
    """The decision for one field, in words, true of the records as they are now."""
    if hub is not None and app is not None:
        if check.agree:
            if check.hub_is_copy and check.app_is_copy:
                return "in sync"
            if check.hub_is_copy is None or check.app_is_copy is None:
                return "same value on both sides (not synced yet)"
            refreshed = (
                "; the copy is refreshed when the record syncs"
                if isinstance(decision, Apply)
                else ""
            )
            return "same value on both sides, but the index copy differs" + refreshed
        text = why_text(check.why, check.source)
        if check.problem:
            return f"values differ and cannot sync: {check.problem}"
        if isinstance(decision, Fail):
            return f"{text} — not yet: nothing is written while the record fails"
        if isinstance(decision, Exclude):
            return f"{text} — not done: the pair is excluded"
        return text
    if hub is None and app is None:
        return "no record on either side"
    side = Side.HUB if hub is not None else Side.APP
    other = side.other
    record = hub if hub is not None else app
    assert record is not None
    if check.problem:
        return f"cannot be copied to the {other.value}: {check.problem}"
    if isinstance(decision, Apply):
        create = decision.write_on(other)
        if isinstance(create, CreateIn):
            name = field.spec(other).name
            if name in create.properties:
                return f"copied to the new {other.value} record as {shown(create.properties[name])}"
            if record.properties.get(field.spec(side).name) in (None, ""):
                return "blank: nothing to copy"
            return f"not copied: this field does not take values from the {side.value}"
    if isinstance(decision, Fail):
        if decision.category is ErrorCategory.DELETED:
            return f"not synced: the {other.value} record was deleted"
        return f"not copied to the {other.value} while the record fails"
    if isinstance(decision, Exclude):
        return f"not copied to the {other.value}: the record is excluded"
    return f"not copied to the {other.value}"


def explain_entry(
    plan: ObjectPlan,
    entry: Entry,
    hub: Record | None,
    app: Record | None,
    decision: Decision,
    described: str,
) -> Explanation:
    """The explanation of an entry, from its current records and the engine's decision.

    Args:
        plan: The compiled object sync.
        entry: The index entry.
        hub: The hub record as it is now (``None``: none, or deleted).
        app: The app record likewise.
        decision: What the decision core decides for them now.
        described: That decision in a few words.
    """
    checks = check_fields(plan, entry, hub, app, decision)
    fields = []
    for field, check in zip(plan.fields, checks, strict=True):
        fields.append(
            FieldExplanation(
                hub=field.hub.name,
                app=field.app.name,
                hub_value=hub.properties.get(field.hub.name) if hub else None,
                app_value=app.properties.get(field.app.name) if app else None,
                hub_copy=(entry.hub_values or {}).get(field.hub.name),
                app_copy=(entry.app_values or {}).get(field.app.name),
                why=check.why,
                source=check.source,
                agree=check.agree,
                text=_field_text(check, field, hub, app, decision),
                hub_is_copy=check.hub_is_copy,
                app_is_copy=check.app_is_copy,
            )
        )
    matched = plan.key_name(entry.matched_by) if entry.matched_by else None
    return Explanation(
        entry=EntryView.of(entry, matched),
        matched_by=matched,
        decision=described,
        fields=tuple(fields),
        history=entry.history,
        pairing=_pairing(entry, hub, app, matched),
        hub_found=hub is not None,
        app_found=app is not None,
        match_keys=tuple(MatchKeyExplanation(k.hub, k.app, k.kind) for k in plan.keys),
    )


def _match_keys_text(keys: Sequence[MatchKeyExplanation]) -> str:
    """``name ↔ title as company_name, domain ↔ web as domain``, or ``none``."""
    if not keys:
        return "none (no matching)"
    return ", ".join(
        f"{k.hub} as {k.kind}" if k.hub == k.app else f"{k.hub} ↔ {k.app} as {k.kind}" for k in keys
    )


@attrs.frozen(slots=True)
class RestoreItem:
    """One record a restore re-creates (rule R6).

    Attributes:
        entry_id: The index entry.
        source: The side whose record survived (the values come from it).
        source_id: That record's id (``None`` when it is gone too).
        properties: The values the destination record is created with, in the
            destination's names.
        from_index_copy: ``True`` when both records are gone and the values come from the
            index copy.
    """

    entry_id: str
    source: Side
    source_id: str | None
    properties: Mapping[str, Any]
    from_index_copy: bool = False


@attrs.frozen(slots=True)
class RestorePlan:
    """A reviewable list of records to re-create in ``destination`` (rule R6).

    Iterate it, take its ``len()``, then pass it to ``engine.restore(plan)``.

    .. versionadded:: 0.1
    """

    sync_id: str
    object_type: str
    destination: Side
    items: tuple[RestoreItem, ...]

    def __iter__(self) -> Iterator[RestoreItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @override
    def __str__(self) -> str:
        lines = [
            f"Restore {len(self)} {self.object_type} record(s) into the {self.destination.value}:"
        ]
        for item in self.items:
            origin = (
                "index copy (both records are gone)"
                if item.from_index_copy
                else f"{item.source.value} record {item.source_id}"
            )
            lines.append(f"  {item.entry_id}: from {origin}: {shown_properties(item.properties)}")
        return "\n".join(lines)
