"""Data pool with freshness, and housekeeping reports (PUS-C service 3).

Every value the flight software publishes goes into the `DataPool` with the onboard time it
was sampled. A housekeeping report TM[3,25] carries a structure ID, a validity bitmask and the
values of that structure; a value whose sample is older than its `max_age_s` (a sensor that
stopped reporting) is sent with its validity bit cleared, so the ground can refuse a stale
sample instead of trusting a number that merely looks current.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from firmware.fsw.pus import Apid, Service

NS_PER_S = 1_000_000_000


class DataPool:
    """name → (value, sample time)."""

    def __init__(self):
        self._values: dict[str, tuple[float, int]] = {}

    def set(self, name: str, value: float, t_ns: int) -> None:
        self._values[name] = (value, t_ns)

    def get(self, name: str, default: float = math.nan) -> float:
        return self._values.get(name, (default, -1))[0]

    def sample(self, name: str) -> tuple[float, int] | None:
        return self._values.get(name)


@dataclass(frozen=True)
class HkParam:
    name: str  # data pool name
    code: str  # struct code
    max_age_s: float | None = None  # None: an onboard counter, always current


@dataclass(frozen=True)
class HkStructure:
    sid: int
    name: str
    params: tuple[HkParam, ...]
    period_param: str  # parameter holding the collection interval

    @property
    def fmt(self) -> str:
        return "!BI" + "".join(p.code for p in self.params)


_P = HkParam
STRUCTURES: dict[int, HkStructure] = {
    s.sid: s
    for s in (
        HkStructure(
            1,
            "essential",
            (
                _P("mode", "B"),
                _P("mode_age_s", "I"),
                _P("battery.soc_frac", "f", 30.0),
                _P("battery.bus_voltage_v", "f", 30.0),
                _P("temp.spectrometer_c", "f", 30.0),
                _P("temp.obc_c", "f", 30.0),
                _P("store.fill_frac", "f"),
                _P("sys.boot_count", "I"),
                _P("fdir.active_faults", "I"),
                _P("tc.accepted", "I"),
                _P("tc.rejected", "I"),
                _P("tc.failed", "I"),
                _P("link.up", "B", 30.0),
                _P("instrument.on", "B"),
                _P("instrument.integration_scale", "f"),
            ),
            "hk.essential_period_s",
        ),
        HkStructure(
            2,
            "science",
            (
                _P("sci.observations", "I"),
                _P("sci.classified", "I"),
                _P("sci.science_events", "I"),
                _P("sci.finds", "I"),
                _P("sci.reobs_requests", "I"),
                _P("sci.confirmed", "I"),
                _P("prod.count", "I"),
                _P("prod.bytes", "I"),
                _P("prod.summaries", "I"),
                _P("prod.discarded", "I"),
                _P("link.bytes_sent", "I"),
                _P("sci.quality_rejects", "I"),
            ),
            "hk.science_period_s",
        ),
        HkStructure(
            3,
            "fsw",
            (
                _P("rg.fast.cycles", "I"),
                _P("rg.fast.slips", "I"),
                _P("rg.fast.missed", "I"),
                _P("rg.fast.max_cost_us", "I"),
                _P("rg.slow.cycles", "I"),
                _P("rg.slow.slips", "I"),
                _P("wd.kicks", "I"),
                _P("store.packets", "I"),
                _P("store.unacked", "I"),
                _P("store.suppressed", "I"),
                _P("sched.pending", "I"),
                _P("model.checks", "I"),
                _P("model.reloads", "I"),
            ),
            "hk.fsw_period_s",
        ),
    )
}


def _coerce(code: str, value: float):
    if code in "fd":
        return float(value)
    if value != value:  # NaN in an integer field: send 0, validity bit says why
        return 0
    hi = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFF_FFFF}[code]
    return max(0, min(hi, int(value)))


def pack_report(structure: HkStructure, pool: DataPool, t_ns: int) -> bytes:
    """TM[3,25] source data: SID (u8), validity bitmask (u32, bit i = param i fresh), values."""
    values, valid = [], 0
    for i, p in enumerate(structure.params):
        s = pool.sample(p.name)
        value = math.nan if s is None else s[0]
        fresh = s is not None and (p.max_age_s is None or t_ns - s[1] <= p.max_age_s * NS_PER_S)
        if fresh and value == value:
            valid |= 1 << i
        values.append(_coerce(p.code, value))
    return struct.pack(structure.fmt, structure.sid, valid, *values)


def unpack_report(data: bytes) -> tuple[HkStructure, dict[str, float | None]]:
    """Values by name (None where the validity bit is clear); ValueError on unknown SID or
    wrong length."""
    if not data:
        raise ValueError("HK report: empty source data")
    structure = STRUCTURES.get(data[0])
    if structure is None:
        raise ValueError(f"HK report: unknown structure ID {data[0]}")
    size = struct.calcsize(structure.fmt)
    if len(data) != size:
        raise ValueError(f"HK report SID {data[0]}: {len(data)} bytes, expected {size}")
    sid, valid, *values = struct.unpack(structure.fmt, data)
    return structure, {
        p.name: (v if valid >> i & 1 else None)
        for i, (p, v) in enumerate(zip(structure.params, values, strict=True))
    }


class Housekeeping:
    """Periodic and one-shot HK generation: each structure at its collection interval while a
    ground station is in view (real time), `hk.offline_factor` times slower otherwise (stored
    for the next pass: what dominates the housekeeping bytes of a low-rate mission)."""

    def __init__(self, sink, pool: DataPool, params, in_contact=lambda: True):
        self._sink = sink
        self._pool = pool
        self._params = params
        self._in_contact = in_contact
        self.enabled = {sid: True for sid in STRUCTURES}
        self._next_ns = {sid: 0 for sid in STRUCTURES}
        self.reports = 0

    def reset(self, t_ns: int) -> None:
        for sid in STRUCTURES:
            self._next_ns[sid] = t_ns

    def report(self, sid: int, t_ns: int) -> bool:
        data = pack_report(STRUCTURES[sid], self._pool, t_ns)
        self.reports += 1
        return self._sink.tm(Apid.HK, Service.HOUSEKEEPING, 25, data, t_ns)

    def due(self, t_ns: int) -> bool:
        """A periodic report falls due at `t_ns` (its values must be sampled now)."""
        return any(t_ns >= t for t in self._next_ns.values())

    def tick(self, t_ns: int, allowed: set[int] | None = None) -> int:
        """Generate the periodic reports that are due; returns the number generated."""
        n = 0
        for sid, s in STRUCTURES.items():
            if t_ns < self._next_ns[sid]:
                continue
            # out of contact the reports only wait for the next pass: sample less often
            factor = 1 if self._in_contact() else self._params["hk.offline_factor"]
            period_ns = int(self._params[s.period_param] * factor * NS_PER_S)
            self._next_ns[sid] = t_ns + period_ns
            if self.enabled[sid] and (allowed is None or sid in allowed):
                n += self.report(sid, t_ns)
        return n
