"""Assemble a mission from a scenario and fly it.

    from sim.mission import run_mission
    from sim.scenario import load_scenario
    result = run_mission(load_scenario("default", seed=1))

The module order is the data flow of one step: faults → orbit → geometry → ground link →
spectrometer → flight computer → mass memory → ground → power. The power module runs last
because it integrates the interval that just ended with the mode the flight computer had
commanded for it and the compute and transmit time the computer actually spent.

`onboard_factory(config, classifier) -> onboard` and `classifier` are the seams: the
flight executive (issue 7) and a board over serial (issue 8) plug in there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.onboard import VALUERS, HostClassifier, OnboardConfig, OnboardInputs, OnboardLoop
from sim.bus import MessageBus, Module, Recorder
from sim.comms import GroundLink
from sim.engine import Engine, Pacer, RunStats
from sim.ephemeris import Ephemeris
from sim.faults import FaultInjector
from sim.ground import Ground
from sim.instrument import Spectrometer, band_centres_um
from sim.messages import CHANNELS
from sim.power import Power
from sim.scenario import Scenario
from sim.spacecraft import FlightComputer, GeometryModule, OrbitModule, Storage
from sim.target import Surface

RECORDED = ("orbit", "geometry", "power", "storage", "link", "computer")


def default_onboard(config: dict, classifier) -> OnboardLoop:
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
    modules: dict[str, Module] = {
        "faults": FaultInjector(bus, c["faults"], t_end),
        "orbit": OrbitModule(bus, eph),
        "geometry": GeometryModule(bus, eph),
        "comms": comms,
        "instrument": Spectrometer(bus, c, eph, surface, scenario.rng("instrument")),
        "computer": FlightComputer(bus, onboard, t_end, OnboardInputs),
        "storage": Storage(bus, c["spacecraft"]["storage"]["capacity_bytes"]),
        "ground": Ground(bus, comms),
        "power": Power(bus, c, eph),
    }
    interval = c["mission"]["record_interval"]
    recorders = {name: bus.record(name, interval) for name in RECORDED}
    engine = Engine(
        bus, list(modules.values()), scenario.step_ns, t_end,
        event_skipping=c["mission"]["event_skipping"], max_skip_ns=c["mission"]["max_skip"],
        pacer=Pacer(speed), progress=progress,
    )  # fmt: skip
    return Mission(scenario, bus, eph, surface, modules, recorders, engine, extra={"onboard": onboard})


def run_mission(scenario: Scenario, **kwargs) -> Mission:
    mission = build_mission(scenario, **kwargs)
    t0 = time.perf_counter()
    mission.stats = mission.engine.run()
    mission.wall_s = time.perf_counter() - t0
    return mission
