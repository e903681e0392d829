"""On-board parameter monitoring (PUS-C service 12): limit checks with debouncing.

Each parameter monitoring definition (PMON) checks one data-pool value against limits held
in the parameter table (so TC[20,3] or TC[12,7] changes survive a reset). A value must be
out of limits on `repetitions` consecutive fresh samples before the check state changes
(no alarm on a single glitch); a stale sample leaves the state UNCHECKED rather than passing.
Every state change is reported in TM[12,12] and, on entering or leaving violation, raises
MONITOR_ALARM / MONITOR_CLEARED, to which FDIR subscribes.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from firmware.fsw.events import Ev, EventLog
from firmware.fsw.housekeeping import NS_PER_S, DataPool
from firmware.fsw.pus import Apid, Service


class CheckState(IntEnum):
    UNCHECKED = 0
    WITHIN = 1
    BELOW_LOW = 2
    ABOVE_HIGH = 3


@dataclass
class Pmon:
    pmon_id: int
    name: str
    pool_name: str
    low_param: str | None
    high_param: str | None
    max_age_s: float = 30.0
    enabled: bool = True
    repetitions: int | None = None  # None: the mon.repetitions parameter
    state: CheckState = CheckState.UNCHECKED
    pending: CheckState = CheckState.UNCHECKED
    count: int = 0


def default_pmons() -> list[Pmon]:
    return [
        Pmon(1, "battery_low", "battery.soc_frac", "mon.battery_low_soc", None),
        Pmon(
            2,
            "spectrometer_temperature",
            "temp.spectrometer_c",
            "mon.temp_low_c",
            "mon.temp_high_c",
        ),
        Pmon(3, "storage_high", "store.fill_frac", None, "mon.storage_high_frac"),
        Pmon(4, "obc_temperature", "temp.obc_c", None, "mon.obc_temp_high_c"),
    ]


TRANSITION = struct.Struct("!BBBff")  # pmon_id, previous state, new state, value, limit


class Monitoring:
    def __init__(self, sink, pool: DataPool, params, events: EventLog):
        self._sink, self._pool, self._params, self._events = sink, pool, params, events
        self.pmons = {p.pmon_id: p for p in default_pmons()}
        self.function_enabled = True

    def limits(self, p: Pmon) -> tuple[float, float]:
        lo = self._params[p.low_param] if p.low_param else -math.inf
        hi = self._params[p.high_param] if p.high_param else math.inf
        return lo, hi

    def modify(self, pmon_id: int, low: float, high: float, repetitions: int) -> None:
        """TC[12,7]: new limits (kept in the parameter table) and repetition number."""
        p = self.pmons[pmon_id]
        if p.low_param and p.high_param and low >= high:
            raise ValueError(f"PMON {pmon_id} ({p.name}): low {low} must be below high {high}")
        if p.low_param:
            self._params.set(p.low_param, low)
        if p.high_param:
            self._params.set(p.high_param, high)
        p.repetitions = repetitions

    def tick(self, t_ns: int) -> None:
        if not self.function_enabled:
            return
        transitions = []
        for p in self.pmons.values():
            if not p.enabled:
                continue
            sample = self._pool.sample(p.pool_name)
            if sample is None and p.state is CheckState.UNCHECKED:
                p.pending, p.count = p.state, 0  # no sensor at all: nothing to judge
                continue
            if (
                sample is None
                or t_ns - sample[1] > p.max_age_s * NS_PER_S
                or sample[0] != sample[0]
            ):
                observed, value = CheckState.UNCHECKED, math.nan
                lo = hi = math.nan
            else:
                value = sample[0]
                lo, hi = self.limits(p)
                observed = (
                    CheckState.BELOW_LOW
                    if value < lo
                    else CheckState.ABOVE_HIGH
                    if value > hi
                    else CheckState.WITHIN
                )
            if observed is p.state:
                p.pending, p.count = observed, 0
                continue
            need = p.repetitions or int(self._params["mon.repetitions"])
            p.count = p.count + 1 if observed == p.pending else 1
            p.pending = observed
            if observed != CheckState.UNCHECKED and p.count < need:
                continue
            previous, p.state, p.count = p.state, observed, 0
            limit = lo if observed == CheckState.BELOW_LOW else hi
            transitions.append(TRANSITION.pack(p.pmon_id, previous, observed, value, limit))
            if observed in (CheckState.BELOW_LOW, CheckState.ABOVE_HIGH):
                self._events.raise_(
                    t_ns, Ev.MONITOR_ALARM, pmon_id=p.pmon_id, value=value, limit=limit
                )
            elif observed == CheckState.WITHIN and previous in (
                CheckState.BELOW_LOW,
                CheckState.ABOVE_HIGH,
            ):
                self._events.raise_(t_ns, Ev.MONITOR_CLEARED, pmon_id=p.pmon_id, value=value)
        if transitions:
            data = struct.pack("!B", len(transitions)) + b"".join(transitions)
            self._sink.tm(Apid.HK, Service.MONITORING, 12, data, t_ns)

    def in_violation(self, pmon_id: int) -> bool:
        return self.pmons[pmon_id].state in (CheckState.BELOW_LOW, CheckState.ABOVE_HIGH)


def unpack_transitions(data: bytes) -> list[dict]:
    """Rows of a TM[12,12] check transition report; ValueError on a wrong length."""
    if not data or len(data) != 1 + data[0] * TRANSITION.size:
        raise ValueError(f"TM[12,12]: {len(data)} bytes does not match its count")
    rows = []
    for i in range(data[0]):
        pid, prev, new, value, limit = TRANSITION.unpack_from(data, 1 + i * TRANSITION.size)
        rows.append(
            {
                "pmon_id": pid,
                "previous": CheckState(prev).name if prev < 4 else prev,
                "state": CheckState(new).name if new < 4 else new,
                "value": value,
                "limit": limit,
            }
        )
    return rows
