"""The simulation's one clock: integer nanoseconds since the scenario epoch.

Every module sees time as an `int` of nanoseconds (`t_ns`), never a float, so that steps,
skips and event times add up exactly and two runs of the same scenario visit exactly the
same instants. Floats appear only at the edge (seconds for physics formulas, ISO strings
for people).

Durations in scenarios are numbers of seconds or strings with a unit: "90 s", "20 min",
"6 h", "2 d", "1.5h", "500 ms", or several parts: "1 d 6 h", "1h30min". Absolute times are ISO 8601 UTC ("2027-03-01T06:00:00Z").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_H = 3600 * NS_PER_S
NS_PER_DAY = 86_400 * NS_PER_S

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_S,
    "sec": NS_PER_S,
    "min": NS_PER_MIN,
    "h": NS_PER_H,
    "hr": NS_PER_H,
    "d": NS_PER_DAY,
    "day": NS_PER_DAY,
    "days": NS_PER_DAY,
}
_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zµ]*)", re.IGNORECASE)


def parse_duration_ns(value: int | float | str) -> int:
    """Duration → integer ns. Numbers are seconds; strings carry a unit (see module doc).

    Raises ValueError with the accepted forms when the value cannot be read.
    """
    if isinstance(value, bool):
        raise ValueError(f"a duration must be seconds or a string like '6 h', got {value!r}")
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise ValueError(f"a duration must be ≥ 0, got {value!r}")
        ns = value * NS_PER_S
        if ns == float("inf"):  # inf itself, or seconds beyond ~1.8e299 (overflow in ns)
            raise ValueError(f"a duration must be a finite number of seconds, got {value!r}")
        return round(ns)
    if not isinstance(value, str):
        raise ValueError(f"a duration must be seconds or a string like '6 h', got {value!r}")
    parts = _PART.findall(value)
    rebuilt = "".join(f"{n}{u}" for n, u in parts)
    if not parts or rebuilt != re.sub(r"\s+", "", value) or any(
        (u or "s").lower() not in _UNITS_NS for _, u in parts
    ) or (len(parts) > 1 and not all(u for _, u in parts)):
        allowed = ", ".join(sorted(set(_UNITS_NS) - {"µs"}))
        raise ValueError(
            f"cannot read duration {value!r}: write a number and a unit ({allowed}), "
            "e.g. '90 s', '6 h', '2 d', '1 d 6 h'"
        )
    return sum(_part_ns(n, (u or "s").lower()) for n, u in parts)


def _part_ns(number: str, unit: str) -> int:
    """Exact for the decimal written: avoids binary float error on e.g. '0.1 s'."""
    whole, _, frac = number.partition(".")
    scale = _UNITS_NS[unit]
    ns = int(whole or 0) * scale
    if frac:
        ns += round(int(frac) * scale / 10 ** len(frac))
    return ns


def parse_epoch(value: str | datetime) -> datetime:
    """ISO 8601 UTC string (or a TOML datetime) → aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(
                f"cannot read time {value!r}: write ISO 8601 UTC, e.g. '2027-03-01T00:00:00Z'"
            ) from exc
    else:
        raise ValueError(f"a time must be an ISO 8601 string, got {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_time_ns(value: int | float | str | datetime, epoch: datetime) -> int:
    """A scenario time: an offset from the epoch (duration) or an absolute ISO time."""
    if isinstance(value, datetime) or (isinstance(value, str) and re.match(r"^\s*\d{4}-", value)):
        delta = parse_epoch(value) - epoch
        return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1_000
    return parse_duration_ns(value)


def iso(epoch: datetime, t_ns: int) -> str:
    """Absolute UTC time of `t_ns` after `epoch`, to the millisecond (for reports)."""
    dt = epoch + timedelta(microseconds=t_ns // 1_000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def fmt_duration(t_ns: int) -> str:
    """Short human form: '1d 02:03:04' or '02:03:04'."""
    s = t_ns // NS_PER_S
    d, s = divmod(s, 86_400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def seconds(t_ns: int) -> float:
    return t_ns / NS_PER_S
