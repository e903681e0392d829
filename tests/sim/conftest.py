"""Helpers for the simulator tests: fly a (possibly modified) scenario once, share the result.

Missions are deterministic, so a flown mission is cached by its arguments and reused by
every test that only reads it. `SIMPLE` flies the baseline onboard loop instead of the flight
executive: the tests of the world models (orbit, instrument physics, accuracy against the
core) use it because it is faster and has no fault protection to interfere.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from sim.mission import run_mission
from sim.scenario import SCENARIO_DIR, load_scenario

# Every fault kind, placed in the default scenario's first daylight arc (SURVEY 0–2.8 h)
# and over the first half of its ground pass (4–6 h).
ALL_FAULTS_TOML = """
[[faults]]
kind = "spectrometer_stuck"
start = "30 min"
duration = "20 min"

[[faults]]
kind = "spectrometer_noisy"
start = "1 h"
duration = "20 min"
factor = 20.0

[[faults]]
kind = "spectrometer_saturated"
start = "1 h 30 min"
duration = "20 min"
gain = 40.0

[[faults]]
kind = "battery_brownout"
start = "2 h"
duration = "10 min"
drop_fraction = 0.5

[[faults]]
kind = "missed_pass"
start = "3 h 50 min"
duration = "1 h 10 min"

[[faults]]
kind = "spectrometer_latchup"
start = "20 min"
duration = "10 min"

[[faults]]
kind = "model_upset"
start = "15 min"
bits = 2

[[faults]]
kind = "cpu_hang"
start = "2 h 30 min"
duration = "1 min"

[[faults]]
kind = "storage_upset"
start = "5 h 30 min"
bits = 3

[[faults]]
kind = "uplink_corruption"
start = "5 h 10 min"
duration = "30 min"
probability = 0.5
"""
SIMPLE = {"spacecraft.computer.kind": "simple"}

# A fast test bench for one fault at a time: Earth at 0.1 au (50 s light time, a 100 kbit/s
# link) and a 15-min pass every hour, so the ground sees a fault and can command a recovery
# within the first daylight arc (0–2.8 h) of the default orbit.
FAULT_BENCH_TOML = """
[[ground.passes]]
station = "DSS-14 Goldstone"
start = "0 s"
duration = "15 min"
repeat = "1 h"
"""
FAULT_BENCH = {"target.earth_distance_au": 0.1, "mission.compare_send_all": False}


def variant(name: str, extra_toml: str, directory: Path, tag: str = "variant") -> Path:
    """A copy of a shipped scenario with TOML appended (e.g. more [[faults]]). Appended
    [[faults]] (or [[ground.passes]]) replace the shipped ones (and what follows them)."""
    text = (SCENARIO_DIR / f"{name}.toml").read_text(encoding="utf-8")
    for block in ("[[ground.passes]]", "[[faults]]"):
        if extra_toml.strip().startswith(block):
            head, sep, _ = text.partition("\n" + block)
            text = head + "\n" if sep else text
            break
    path = directory / f"{name}-{tag}.toml"
    path.write_text(text + extra_toml, encoding="utf-8")
    return path


@functools.lru_cache(maxsize=16)
def _fly(scenario: str, seed, duration, overrides: tuple):
    return run_mission(load_scenario(scenario, seed=seed, duration=duration, overrides=dict(overrides)))


def fly(scenario: str = "default", seed: int | None = None, duration: str | None = None,
        overrides: dict | None = None):  # fmt: skip
    """Fly (or reuse) a mission. `scenario` is a shipped name or a .toml path. The second
    flight of the send-everything baseline is left out unless the overrides ask for it."""
    over = {"mission.compare_send_all": False, **(overrides or {})}
    return _fly(str(scenario), seed, duration, tuple(sorted(over.items(), key=lambda kv: kv[0])))


@pytest.fixture(scope="session")
def faults_scenario(tmp_path_factory) -> Path:
    return variant("default", ALL_FAULTS_TOML, tmp_path_factory.mktemp("faults"))


def fault_bench(directory: Path, faults_toml: str, tag: str) -> Path:
    """The one-fault bench (FAULT_BENCH_TOML passes + these faults); fly with FAULT_BENCH."""
    return variant("default", FAULT_BENCH_TOML + faults_toml, directory, tag)
