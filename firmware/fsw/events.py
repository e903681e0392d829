"""Events with severities, reported as PUS-C service 5 packets.

One table (`EVENTS`) defines every event: its ID, severity and the layout of its auxiliary
data, so the ground decoder reads the same definitions the flight software writes. Listeners
(FDIR, autonomy) subscribe in-process — the event-action idea of PUS service 19 — and the
ground can disable or enable the *reporting* of any event with TC[5,6]/TC[5,5] without
disabling the onboard reaction.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from firmware.fsw.pus import Apid, Service


class Severity(IntEnum):
    """PUS-C service 5 report subtypes: TM[5,1] informative … TM[5,4] high severity."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


class Ev(IntEnum):
    BOOT = 1
    MODE_CHANGED = 2
    MODE_REFUSED = 3
    RATE_GROUP_SLIP = 4
    CYCLES_MISSED = 5
    MONITOR_ALARM = 6
    MONITOR_CLEARED = 7
    SPECTROMETER_STUCK = 8
    SPECTROMETER_SATURATED = 9
    SPECTRUM_NOISY = 10
    MODEL_CORRUPTED = 11
    MODEL_RELOADED = 12
    FDIR_RESPONSE = 13
    FDIR_RECOVERED = 14
    SAFE_MODE_ENTERED = 15
    SEQUENCE_ABORTED = 16
    STORE_FULL = 17
    PRODUCT_DISCARDED = 18
    HIGH_VALUE_FIND = 19
    REOBS_REQUESTED = 20
    FIND_CONFIRMED = 21
    FIND_NOT_CONFIRMED = 22
    PARAMS_DEFAULTED = 23
    TC_REJECTED = 24
    CLASSIFY_FAILED = 25
    FAULTS_CLEARED = 26
    STORED_DATA_CORRUPTED = 27


@dataclass(frozen=True)
class EventDef:
    id: Ev
    severity: Severity
    fields: tuple[tuple[str, str], ...]  # (name, struct code), packed big-endian

    @property
    def fmt(self) -> str:
        return "!" + "".join(code for _name, code in self.fields)


_I, _L, _M, _H = Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH
EVENTS: dict[int, EventDef] = {
    d.id: d
    for d in (
        EventDef(Ev.BOOT, _I, (("boot_count", "I"), ("reset_cause", "B"))),
        EventDef(Ev.MODE_CHANGED, _I, (("from_mode", "B"), ("to_mode", "B"), ("reason", "B"))),
        EventDef(Ev.MODE_REFUSED, _L, (("from_mode", "B"), ("to_mode", "B"), ("guard", "B"))),
        EventDef(Ev.RATE_GROUP_SLIP, _L, (("group", "B"), ("cost_us", "I"), ("budget_us", "I"))),
        EventDef(Ev.CYCLES_MISSED, _M, (("group", "B"), ("missed", "I"))),
        EventDef(Ev.MONITOR_ALARM, _M, (("pmon_id", "B"), ("value", "f"), ("limit", "f"))),
        EventDef(Ev.MONITOR_CLEARED, _I, (("pmon_id", "B"), ("value", "f"))),
        EventDef(Ev.SPECTROMETER_STUCK, _M, (("obs_id", "I"), ("identical", "H"))),
        EventDef(Ev.SPECTROMETER_SATURATED, _M, (("obs_id", "I"), ("frac_saturated", "f"))),
        EventDef(Ev.SPECTRUM_NOISY, _L, (("obs_id", "I"), ("snr_est", "f"))),
        EventDef(Ev.MODEL_CORRUPTED, _H, (("expected", "I"), ("actual", "I"))),
        EventDef(Ev.MODEL_RELOADED, _I, (("ok", "B"), ("checksum", "I"))),
        EventDef(Ev.FDIR_RESPONSE, _M, (("fault", "B"), ("action", "B"), ("attempt", "B"))),
        EventDef(Ev.FDIR_RECOVERED, _I, (("fault", "B"),)),
        EventDef(Ev.SAFE_MODE_ENTERED, _H, (("fault", "B"),)),
        EventDef(Ev.SEQUENCE_ABORTED, _M, (("group", "B"), ("request_id", "I"), ("deleted", "H"))),
        EventDef(Ev.STORE_FULL, _M, (("fill_permille", "H"), ("suppressed", "I"))),
        EventDef(Ev.PRODUCT_DISCARDED, _L, (("product_id", "I"), ("value", "f"))),
        EventDef(Ev.HIGH_VALUE_FIND, _I, (("obs_id", "I"), ("kind", "B"), ("value", "f"))),
        EventDef(Ev.REOBS_REQUESTED, _I, (("request_id", "I"), ("obs_id", "I"), ("scale", "f"))),
        EventDef(Ev.FIND_CONFIRMED, _I, (("obs_id", "I"), ("value", "f"))),
        EventDef(Ev.FIND_NOT_CONFIRMED, _L, (("obs_id", "I"), ("value", "f"))),
        EventDef(Ev.PARAMS_DEFAULTED, _M, (("bank_a_ok", "B"), ("bank_b_ok", "B"))),
        EventDef(Ev.TC_REJECTED, _L, (("length", "H"), ("code", "B"))),
        EventDef(Ev.CLASSIFY_FAILED, _M, (("obs_id", "I"),)),
        EventDef(Ev.FAULTS_CLEARED, _I, (("faults", "I"),)),
        # kind 0: a TM packet (replaced by this event under the same APID and count), 1: a product
        EventDef(Ev.STORED_DATA_CORRUPTED, _M, (("kind", "B"), ("apid", "H"), ("id", "I"))),
    )
}


def pack_event(event_id: int, **values) -> bytes:
    """Source data of a TM[5,x]: event ID (u16) then the auxiliary fields of its definition."""
    d = EVENTS[event_id]
    try:
        aux = struct.pack(d.fmt, *(values[name] for name, _code in d.fields))
    except KeyError as exc:
        raise ValueError(f"event {d.id.name} needs fields {[n for n, _ in d.fields]}") from exc
    return struct.pack("!H", int(event_id)) + aux


def unpack_event(data: bytes) -> tuple[int, dict]:
    """(event ID, auxiliary fields) of a TM[5,x] source data field. Unknown IDs or a wrong
    length raise ValueError naming the event and the expected size."""
    if len(data) < 2:
        raise ValueError(f"event report of {len(data)} bytes: needs at least the 2-byte event ID")
    (eid,) = struct.unpack_from("!H", data, 0)
    if eid not in EVENTS:
        raise ValueError(f"unknown event ID {eid}")
    d = EVENTS[eid]
    size = struct.calcsize(d.fmt)
    if len(data) - 2 != size:
        raise ValueError(f"event {d.id.name}: {len(data) - 2} aux bytes, expected {size}")
    values = struct.unpack_from(d.fmt, data, 2)
    return eid, dict(zip((n for n, _ in d.fields), values, strict=True))


@dataclass(frozen=True)
class EventRecord:
    t_ns: int
    id: Ev
    severity: Severity
    values: dict


class EventLog:
    """Raises events: emits the TM[5,x] through `sink` (unless reporting of that event was
    disabled by TC[5,6]), then calls the onboard listeners (FDIR, autonomy)."""

    def __init__(self, sink, history: int = 256):
        self._sink = sink  # TmSink: .tm(apid, service, subtype, data, t_ns) -> bool
        self._listeners: list[Callable[[EventRecord], None]] = []
        self.disabled: set[int] = set()
        self.recent: list[EventRecord] = []
        self._history = history
        self.counts: dict[int, int] = {}

    def subscribe(self, listener: Callable[[EventRecord], None]) -> None:
        self._listeners.append(listener)

    def raise_(self, t_ns: int, event_id: Ev, *, emit: bool = True, **values) -> EventRecord:
        """Raise an event: its report TM[5,x] (unless `emit` is False — the caller sends the
        report itself, e.g. in place of a damaged packet), then the onboard listeners."""
        d = EVENTS[event_id]
        data = pack_event(event_id, **values)
        rec = EventRecord(t_ns, d.id, d.severity, dict(values))
        self.counts[int(event_id)] = self.counts.get(int(event_id), 0) + 1
        self.recent.append(rec)
        del self.recent[: -self._history]
        if emit and int(event_id) not in self.disabled:
            self._sink.tm(Apid.EVT, Service.EVENT, int(d.severity), data, t_ns)
        for listener in list(self._listeners):
            listener(rec)
        return rec
