"""Helpers for the simulator tests: fly a (possibly modified) scenario once, share the result.

Missions are deterministic, so a flown mission is cached by its arguments and reused by
every test that only reads it.
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
"""


def variant(name: str, extra_toml: str, directory: Path) -> Path:
    """A copy of a shipped scenario with TOML appended (e.g. more [[faults]])."""
    text = (SCENARIO_DIR / f"{name}.toml").read_text(encoding="utf-8")
    if extra_toml.strip().startswith("[[faults]]"):
        # drop the shipped faults so the appended schedule is the whole schedule
        head, sep, _ = text.partition("\n[[faults]]")
        text = head + "\n" if sep else text
    path = directory / f"{name}-variant.toml"
    path.write_text(text + extra_toml, encoding="utf-8")
    return path


@functools.lru_cache(maxsize=16)
def _fly(scenario: str, seed, duration, overrides: tuple):
    return run_mission(load_scenario(scenario, seed=seed, duration=duration, overrides=dict(overrides)))


def fly(scenario: str = "default", seed: int | None = None, duration: str | None = None,
        overrides: dict | None = None):  # fmt: skip
    """Fly (or reuse) a mission. `scenario` is a shipped name or a .toml path."""
    return _fly(str(scenario), seed, duration, tuple(sorted((overrides or {}).items())))


@pytest.fixture(scope="session")
def faults_scenario(tmp_path_factory) -> Path:
    return variant("default", ALL_FAULTS_TOML, tmp_path_factory.mktemp("faults"))
