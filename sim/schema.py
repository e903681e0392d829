"""A small declarative schema for scenario TOML: every key, its type, range, unit and default.

`validate(data, SCHEMA)` returns a new dict with defaults filled in and durations/times
converted to integer ns, or raises `SchemaError` naming the dotted key (`orbit.eccentricity`)
and saying what is allowed. Unknown keys are errors too (with the closest allowed name),
because a mistyped key silently ignored is a setting silently not applied.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sim.timebase import parse_duration_ns, parse_epoch, parse_time_ns

REQUIRED = object()


class SchemaError(ValueError):
    """A scenario value is missing, unknown or out of range. `key` is the dotted path."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.detail = message
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class F:
    """One leaf key.

    kind: float | int | bool | str | duration | time | epoch | choice | floats | mapping
    (a table of names to numbers, booleans or strings)
    lo/hi: inclusive bounds unless lo_open/hi_open; choices: for kind 'choice'.
    doc: what it is, with its unit (shown by `assay scenarios --keys`).
    """

    kind: str
    default: Any = REQUIRED
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """A sub-table; `optional` tables may be absent (their defaults are then used)."""

    fields: dict
    optional: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Many:
    """An array of tables ([[name]]), each validated against `fields`; `extra(item)` may
    return more fields for a given item (e.g. the parameters of one fault kind)."""

    fields: dict
    min_items: int = 0
    doc: str = ""
    extra: Any = field(default=None, compare=False)


def validate(data: Any, schema: dict, path: str = "", epoch: datetime | None = None) -> dict:
    if not isinstance(data, dict):
        raise SchemaError(path or "(top)", f"must be a table, got {_kind_of(data)}")
    out: dict = {}
    for key in data:
        if key not in schema:
            raise SchemaError(_join(path, key), _unknown(key, schema))
    for key, spec in schema.items():
        where = _join(path, key)
        if isinstance(spec, Table):
            sub = data.get(key, {} if spec.optional else None)
            if sub is None:
                raise SchemaError(where, f"missing table [{where}]: add it (see `assay scenarios --keys`)")
            out[key] = validate(sub, spec.fields, where, epoch)
        elif isinstance(spec, Many):
            items = data.get(key, [])
            if not isinstance(items, list):
                raise SchemaError(where, f"must be an array of tables [[{where}]], got {_kind_of(items)}")
            if len(items) < spec.min_items:
                raise SchemaError(where, f"needs at least {spec.min_items} [[{where}]] entr{'y' if spec.min_items == 1 else 'ies'}")
            resolved = []
            for i, item in enumerate(items):
                fields = dict(spec.fields)
                if spec.extra is not None and isinstance(item, dict):
                    fields.update(spec.extra(item, f"{where}[{i}]"))
                resolved.append(validate(item, fields, f"{where}[{i}]", epoch))
            out[key] = resolved
        elif key in data:
            out[key] = _leaf(data[key], spec, where, epoch)
        elif spec.default is REQUIRED:
            raise SchemaError(where, f"is required: {spec.doc or spec.kind}")
        else:
            out[key] = spec.default if spec.kind not in ("duration", "time", "mapping") or spec.default is None \
                else _leaf(spec.default, spec, where, epoch)
    return out


def _leaf(value: Any, spec: F, where: str, epoch: datetime | None) -> Any:
    kind = spec.kind
    try:
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {value!r}")
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {value!r}")
            return value
        if kind == "choice":
            if value not in spec.choices:
                raise ValueError(f"must be one of {', '.join(map(repr, spec.choices))}; got {value!r}")
            return value
        if kind == "epoch":
            return parse_epoch(value)
        if kind == "duration":
            ns = parse_duration_ns(value)
            _range(ns / 1e9, spec, unit=" s")
            return ns
        if kind == "time":
            if epoch is None:
                raise ValueError("a time needs mission.epoch")
            ns = parse_time_ns(value, epoch)
            if ns < 0:
                raise ValueError(f"{value!r} is before the mission epoch")
            return ns
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be an integer, got {value!r}")
            _range(value, spec)
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"must be a number, got {value!r}")
            value = float(value)
            if value != value:
                raise ValueError("must be a number, got nan")
            _range(value, spec)
            return value
        if kind == "mapping":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, bool | int | float | str) for k, v in value.items()
            ):
                raise ValueError(f"must be a table of names to numbers, booleans or strings, got {value!r}")
            return dict(value)
        if kind == "floats":
            if not isinstance(value, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            ):
                raise ValueError(f"must be an array of numbers, got {value!r}")
            return [float(v) for v in value]
    except ValueError as exc:
        hint = f" ({spec.doc})" if spec.doc else ""
        raise SchemaError(where, f"{exc}{hint}") from None
    raise SchemaError(where, f"schema bug: unknown kind {kind!r}")


def _range(value: float, spec: F, unit: str = "") -> None:
    lo_ok = spec.lo is None or (value > spec.lo if spec.lo_open else value >= spec.lo)
    hi_ok = spec.hi is None or (value < spec.hi if spec.hi_open else value <= spec.hi)
    if lo_ok and hi_ok:
        return
    lo = "-∞" if spec.lo is None else f"{spec.lo:g}"
    hi = "∞" if spec.hi is None else f"{spec.hi:g}"
    interval = f"{'(' if spec.lo_open or spec.lo is None else '['}{lo}, {hi}{')' if spec.hi_open or spec.hi is None else ']'}"
    raise ValueError(f"must be in {interval}{unit}, got {value:g}{unit}")


def _unknown(key: str, schema: dict) -> str:
    close = difflib.get_close_matches(key, list(schema), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; allowed here: {', '.join(sorted(schema))}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_of(value: Any) -> str:
    return type(value).__name__


def describe(schema: dict, path: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, doc) for every key: the reference `assay scenarios --keys` prints."""
    rows = []
    for key, spec in schema.items():
        where = _join(path, key)
        if isinstance(spec, Table):
            rows += describe(spec.fields, where)
        elif isinstance(spec, Many):
            rows.append((f"[[{where}]]", "", spec.doc))
            rows += describe(spec.fields, f"{where}[]")
        else:
            default = "required" if spec.default is REQUIRED else repr(spec.default)
            doc = spec.doc + (f" — one of {', '.join(map(str, spec.choices))}" if spec.choices else "")
            rows.append((where, default, doc))
    return rows
