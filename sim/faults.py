"""Faults are messages: a declarative schedule in the scenario, published on the bus.

Each `[[faults]]` entry has a `kind`, a `start` (offset or ISO time), a `duration` (default:
until the end) and the parameters of its kind. The injector publishes a `FaultMsg` with
`active=True` at the start and `active=False` at the end; the module named in `target`
models the effect: the spectrometer (`sim.instrument`), the battery (`sim.power`), the
ground stations (`sim.comms`), the flight computer's processor and memories
(`sim.spacecraft.FlightComputer`, bit flips by `sim.upsets`) and the ground segment's uplink
(`sim.gse.segment`). Detection and response are the flight software's job, not the
injector's. Single-event upsets act at their start (their duration does not matter).

To add a kind: one entry in `FAULT_KINDS` (target module and parameter schema) and the
effect in the target module.
"""

from __future__ import annotations

from sim.bus import FOREVER_NS, MessageBus, Module
from sim.messages import Event, FaultMsg
from sim.schema import F

# kind → (target module, {parameter: schema}, what it does)
FAULT_KINDS: dict[str, tuple[str, dict, str]] = {
    "spectrometer_stuck": (
        "instrument", {},
        "the spectrometer returns its last frame again and again (frozen readout)",
    ),
    "spectrometer_noisy": (
        "instrument",
        {"factor": F("float", 10.0, lo=1.0, doc="noise σ multiplier (e.g. a failing cooler)")},
        "detector noise multiplied by `factor`",
    ),
    "spectrometer_saturated": (
        "instrument",
        {"gain": F("float", 30.0, lo=1.0, doc="integration time stuck at integration_s × gain")},
        "exposure control stuck long (auto-exposure off): bands above the ADC full scale clip",
    ),
    "battery_brownout": (
        "power",
        {"drop_fraction": F("float", 0.3, lo=0.0, hi=1.0, doc="fraction of the stored energy lost at onset (a failing cell)")},
        "stored energy drops at onset and the bus cannot hold the computer up: it resets and stays in SAFE",
    ),
    "missed_pass": (
        "comms",
        {"station": F("str", "", doc="station name; empty = every station")},
        "ground-station outage: no contact during the fault window",
    ),
    "spectrometer_latchup": (
        "instrument", {},
        "the readout freezes (as stuck) until the flight software power-cycles the spectrometer",
    ),
    "cpu_hang": (
        "computer", {},
        "the flight processor hangs (a locked bus, a driver in a loop) for the fault's duration: "
        "nothing runs; a processor reset (the watchdog) ends it",
    ),
    "model_upset": (
        "computer",
        {"bits": F("int", 1, lo=1, hi=64, doc="bits flipped at onset"),
         "array": F("choice", "any", choices=("any", "eigenvectors", "data_mean", "template_mean", "template_sigma"),
                    doc="which model constants in RAM; any = one the classifier reads directly")},
        "single-event upsets in the classifier's constants in RAM (the live arrays of firmware.taxonomy.load_demeo_model)",
    ),
    "storage_upset": (
        "computer",
        {"bits": F("int", 1, lo=1, hi=64, doc="bits flipped at onset"),
         "region": F("choice", "any", choices=("any", "telemetry", "products"),
                     doc="stored telemetry packets, science products, or either")},
        "single-event upsets in mass memory: bits flipped in stored packets or products",
    ),
    "uplink_corruption": (
        "ground",
        {"bits": F("int", 1, lo=1, hi=16, doc="bits flipped in each corrupted telecommand"),
         "probability": F("float", 1.0, lo=0.0, hi=1.0, doc="chance that a telecommand sent in the window is hit")},
        "a noisy uplink: telecommands sent during the fault window arrive with flipped bits",
    ),
}  # fmt: skip


def fault_params_schema(item: dict, where: str) -> dict:
    """Extra schema fields for one [[faults]] entry, by its kind (used by the validator)."""
    kind = item.get("kind")
    if kind in FAULT_KINDS:
        return FAULT_KINDS[kind][1]
    return {}


class FaultInjector(Module):
    """Publishes fault onsets and ends at their scheduled times."""

    name = "faults"

    def __init__(self, bus: MessageBus, faults: list[dict], t_end_ns: int) -> None:
        super().__init__(bus)
        self.schedule: list[tuple[int, int, dict]] = []
        self.beyond_end: list[dict] = []  # scheduled after the (possibly shortened) mission
        for i, f in enumerate(faults):
            start = f["start"]
            end = t_end_ns if f["duration"] is None else min(start + f["duration"], t_end_ns)
            if start >= t_end_ns:
                self.beyond_end.append({**f, "fault_id": i})
                continue
            self.schedule.append((start, end, {**f, "fault_id": i}))
        self._done: set[tuple[int, bool]] = set()

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self._done.clear()

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        for start, end, f in self.schedule:
            for when, active in ((start, True), (end, False)):
                key = (f["fault_id"], active)
                if when <= t_ns and key not in self._done:
                    self._done.add(key)
                    self._publish(t_ns, f, active)

    def _publish(self, t_ns: int, f: dict, active: bool) -> None:
        target, params_schema, _ = FAULT_KINDS[f["kind"]]
        params = tuple((k, f[k]) for k in params_schema)
        end = next(e for s, e, g in self.schedule if g["fault_id"] == f["fault_id"])
        self.bus.publish("fault", FaultMsg(t_ns, f["fault_id"], f["kind"], active, target, params, end))
        what = "starts" if active else "ends"
        self.bus.publish("event", Event(t_ns, "faults", "warning" if active else "info",
                                        f"fault {f['fault_id']} {f['kind']} {what}"))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        pending = [
            when for start, end, f in self.schedule
            for when, active in ((start, True), (end, False))
            if (f["fault_id"], active) not in self._done
        ]  # fmt: skip
        return min(pending, default=FOREVER_NS)


def active_faults(bus: MessageBus, reader: str, state: dict[int, FaultMsg], target: str) -> dict:
    """Update `state` (fault_id → onset message) with new fault messages for `target`."""
    for msg in bus.drain("fault", reader):
        if msg.target != target:
            continue
        if msg.active:
            state[msg.fault_id] = msg
        else:
            state.pop(msg.fault_id, None)
    return state
