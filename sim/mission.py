"""Assemble a mission from a scenario and fly it.

    from sim.mission import run_mission
    from sim.scenario import load_scenario
    result = run_mission(load_scenario("default", seed=1))

The module order is the data flow of one step: faults → orbit → geometry → ground link →
spectrometer → flight computer → mass memory → ground → power. The power module runs last
because it integrates the interval that just ended with the mode the flight computer had
commanded for it and the compute and transmit time the computer actually spent.

`onboard_factory(config, classifier) -> onboard` and `classifier` are the seams. The
scenario's `spacecraft.computer.kind` picks the flight software: "fsw" (default) flies the
flight executive (`firmware.fsw.computer.FswComputer`), talking to the ground segment
(`sim.gse.segment`) only in CCSDS/PUS packets; "simple" flies the baseline loop of
`firmware.onboard` with its product-level ground receiver (`sim.ground`).

Driving: `run_mission` flies to the end. A ground script may drive instead:

    mission = build_mission(scenario); mission.start()
    g = mission.ground.station                # sim.gse.ground.GroundStation
    g.await_event("SAFE_MODE_ENTERED", timeout_s=3600); g.send_and_wait("CLEAR_FAULTS")
    mission.finish()

The model constants an upset corrupted are restored when a mission finishes (`sim.upsets`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.onboard import VALUERS, HostClassifier, OnboardConfig, OnboardInputs, OnboardLoop
from sim import upsets
from sim.bus import MessageBus, Module, Recorder
from sim.comms import GroundLink
from sim.engine import Engine, Pacer, RunStats
from sim.ephemeris import Ephemeris
from sim.faults import FaultInjector
from sim.ground import Ground
from sim.gse.segment import GroundSegment
from sim.instrument import Spectrometer, band_centres_um
from sim.messages import CHANNELS
from sim.power import Power
from sim.radiometry import light_time_s
from sim.scenario import Scenario
from sim.spacecraft import FlightComputer, GeometryModule, OrbitModule, Storage
from sim.target import Surface

RECORDED = ("orbit", "geometry", "power", "storage", "link", "computer")
SECOND_NS = 1_000_000_000


def simple_onboard(config: dict, classifier) -> OnboardLoop:
    """The simple loop of `firmware.onboard`, configured from the scenario."""
    sc = config["spacecraft"]
    p, comp = sc["power"], sc["computer"]
    bands, _ = band_centres_um(config["instrument"])
    cfg = OnboardConfig(
        wavelength_um=bands, capacity_bytes=sc["storage"]["capacity_bytes"],
        batch_size=comp["batch_size"], cpu_s_per_spectrum=comp["cpu_s_per_spectrum"],
        min_soc_observe=p["min_soc_observe"], safe_soc=p["safe_soc"], resume_soc=p["resume_soc"],
        downlink_raw_min_value=comp["downlink_raw_min_value"],
    )  # fmt: skip
    return OnboardLoop(cfg, classifier, VALUERS[comp["value_rule"]]())


def fsw_params(config: dict) -> dict:
    """Onboard parameters from the scenario: the power thresholds, the classifier's CPU time,
    a retransmission timeout that fits the round-trip light time, then `computer.params`."""
    sc = config["spacecraft"]
    p, comp = sc["power"], sc["computer"]
    owlt_s = light_time_s(config["target"]["earth_distance_au"])
    ack_s = config["ground"]["ack_interval"] / SECOND_NS
    return {
        "mon.battery_low_soc": p["safe_soc"],
        "mode.safe_exit_soc": p["resume_soc"],
        "mode.science_min_soc": p["min_soc_observe"],
        "cpu.classify_cost_us": round(comp["cpu_s_per_spectrum"] * 1e6),
        # go back N only when an acknowledgement is overdue: round trip + ack period + margin
        "link.retransmit_s": round(2 * owlt_s + ack_s + 60.0),
        "fdir.watchdog_timeout_s": max(5.0, 5 * comp["fast_period"] / SECOND_NS),
        **comp["params"],
    }


def fsw_onboard(config: dict, classifier):
    """The flight executive as the flight computer, configured from the scenario."""
    from firmware.fsw.autonomy import busdemeo_value, prospect_value
    from firmware.fsw.computer import FswComputer

    sc = config["spacecraft"]
    comp = sc["computer"]
    bands, _ = band_centres_um(config["instrument"])
    epoch_ms = round(config["mission"]["epoch"].timestamp() * 1000)
    value = prospect_value if comp["value_rule"] == "prospect" else busdemeo_value
    return FswComputer(
        bands, capacity_bytes=sc["storage"]["capacity_bytes"], epoch_unix_ms=epoch_ms,
        classifier=classifier, value=value, cpu_s_per_spectrum=comp["cpu_s_per_spectrum"],
        fast_period_ns=comp["fast_period"], params=fsw_params(config),
    )  # fmt: skip


def default_onboard(config: dict, classifier):
    """The flight software the scenario asks for (`spacecraft.computer.kind`)."""
    kind = config["spacecraft"]["computer"]["kind"]
    return (fsw_onboard if kind == "fsw" else simple_onboard)(config, classifier)


@dataclass
class Mission:
    scenario: Scenario
    bus: MessageBus
    eph: Ephemeris
    surface: Surface
    modules: dict[str, Module]
    recorders: dict[str, Recorder]
    engine: Engine
    stats: RunStats | None = None
    wall_s: float = 0.0  # wall-clock time of the run: NOT deterministic, never in report.json
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        modules = self.__dict__.get("modules", {})
        if name in modules:
            return modules[name]
        raise AttributeError(name)

    @property
    def packet_link(self) -> bool:
        """The flight software talks CCSDS to a ground segment (the executive)."""
        return isinstance(self.modules["ground"], GroundSegment)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.engine.start()

    def run_until(self, t_ns: int) -> None:
        self.engine.advance(t_ns)

    def finish(self) -> Mission:
        """Fly to the end; restore the model constants an upset left corrupted."""
        try:
            while not self.engine.done:
                self.engine.step()
        finally:
            self.extra["model_words_restored"] = upsets.restore_model()
        self.stats = self.engine.stats
        self.wall_s = time.perf_counter() - self._t0
        return self


def build_mission(scenario: Scenario, *, onboard_factory: Callable | None = None,
                  classifier=None, speed: float | None = None,
                  progress: Callable[[int], None] | None = None) -> Mission:  # fmt: skip
    c = scenario.config
    t_end = scenario.duration_ns
    bus = MessageBus()
    for name, (msg_type, log) in CHANNELS.items():
        bus.channel(name, msg_type, log=log)
    eph = Ephemeris(c)
    bands, fwhm = band_centres_um(c["instrument"])
    surface = Surface(c["target"]["surface"], bands, fwhm, scenario.rng("target"))
    onboard = (onboard_factory or default_onboard)(c, classifier or HostClassifier())
    comms = GroundLink(bus, c, eph, t_end)
    computer = FlightComputer(bus, onboard, t_end, OnboardInputs, scenario.rng("upsets"))
    if computer.packet_software:
        epoch_ms = round(c["mission"]["epoch"].timestamp() * 1000)
        ground: Module = GroundSegment(bus, c, comms, epoch_ms, scenario.rng("ground"))
    else:
        ground = Ground(bus, comms)
    modules: dict[str, Module] = {
        "faults": FaultInjector(bus, c["faults"], t_end),
        "orbit": OrbitModule(bus, eph),
        "geometry": GeometryModule(bus, eph),
        "comms": comms,
        "instrument": Spectrometer(bus, c, eph, surface, scenario.rng("instrument")),
        "computer": computer,
        "storage": Storage(bus, c["spacecraft"]["storage"]["capacity_bytes"]),
        "ground": ground,
        "power": Power(bus, c, eph),
    }
    interval = c["mission"]["record_interval"]
    recorders = {name: bus.record(name, interval) for name in RECORDED}
    engine = Engine(
        bus, list(modules.values()), scenario.step_ns, t_end,
        event_skipping=c["mission"]["event_skipping"], max_skip_ns=c["mission"]["max_skip"],
        pacer=Pacer(speed), progress=progress,
    )  # fmt: skip
    if isinstance(ground, GroundSegment):
        ground.link.engine = engine
    return Mission(scenario, bus, eph, surface, modules, recorders, engine, extra={"onboard": onboard})


def run_mission(scenario: Scenario, *, baseline: bool | None = None, **kwargs) -> Mission:
    """Fly a mission to its end. With `mission.compare_send_all` (or `baseline=True`) the
    same scenario and seed is flown again with the send-everything baseline and its science
    return is kept in `extra["baseline"]` (see `sim.fsw_report.science_return`)."""
    mission = build_mission(scenario, **kwargs)
    mission.start()
    mission.finish()
    want = scenario.config["mission"]["compare_send_all"] if baseline is None else baseline
    if want and mission.packet_link:
        from sim.fsw_report import fly_baseline

        mission.extra["baseline"] = fly_baseline(scenario, **kwargs)
    return mission
