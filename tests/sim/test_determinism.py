"""Same scenario + seed ⇒ byte-identical run directory (every file but timing.json: PNGs,
the telemetry archive telemetry.bin and its decoded tables included); another seed ⇒ other
bytes; skipping quiet stretches changes the cost, not the result."""

from __future__ import annotations

import hashlib
import json

import pytest

from sim.mission import run_mission
from sim.outputs import TIMING_FILE, write_run
from sim.report import build_report
from sim.scenario import load_scenario

DURATION = "6 h"  # covers daylight, night, the ground pass at 4–6 h and the noisy fault


def digests(directory) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*")) if p.is_file() and p.name != TIMING_FILE
    }  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for label, seed in (("a", None), ("b", None), ("c", 12345)):
        d = tmp_path_factory.mktemp(label)
        sc = load_scenario("default", seed=seed, duration=DURATION, overrides={"mission.compare_send_all": False})
        write_run(run_mission(sc), d)
        out[label] = d
    return out


def test_same_seed_gives_byte_identical_outputs(runs):
    a, b = digests(runs["a"]), digests(runs["b"])
    assert len(a) >= 14 and any(k.endswith(".png") for k in a) and any(k.endswith(".csv") for k in a)
    assert {"telemetry.bin", "telemetry/packets.csv", "telemetry/events.csv"} <= set(a)
    assert a == b


def test_timing_is_the_only_wall_clock_file(runs):
    timing = json.loads((runs["a"] / TIMING_FILE).read_text())
    assert timing["speed_up_over_real_time"] > 0
    report = (runs["a"] / "report.json").read_text()
    assert "wall_s" not in report and "timing.json" in report


def test_another_seed_changes_the_outputs(runs):
    a, c = digests(runs["a"]), digests(runs["c"])
    fixed = {k for k in a if not k.startswith("telemetry/products/")}  # products differ by seed
    assert fixed == {k for k in c if not k.startswith("telemetry/products/")}
    differ = {k for k in fixed if a[k] != c[k]}
    assert {"report.json", "recordings/observations.csv", "plots/surface_map.png", "telemetry.bin"} <= differ
    rep_a = json.loads((runs["a"] / "report.json").read_text())
    rep_c = json.loads((runs["c"] / "report.json").read_text())
    assert rep_a["seed"] != rep_c["seed"] and rep_a["module_seeds"] != rep_c["module_seeds"]


@pytest.mark.parametrize("which", ["default", "faults", "hard"])
def test_event_skipping_changes_cost_not_result(which, faults_scenario):
    name, duration, extra = {
        "default": ("default", DURATION, {}),
        # brown-out, SAFE, outage, a store that overflows
        "faults": (faults_scenario, "8 h", {"spacecraft.storage.capacity_bytes": 120_000}),
        "hard": ("hard", "14 h", {}),  # power-starved: SURVEY/IDLE on the battery thresholds
    }[which]  # fmt: skip
    extra = {**extra, "mission.compare_send_all": False}
    fast = run_mission(load_scenario(name, duration=duration, overrides=extra))
    slow = run_mission(load_scenario(name, duration=duration, overrides={**extra, "mission.event_skipping": False}))
    assert fast.stats.steps < slow.stats.steps * 0.85  # skipping did skip
    ra, rb = build_report(fast), build_report(slow)
    for key in ("observations", "accuracy", "prospecting", "storage", "downlink", "faults", "events"):
        assert ra[key] == rb[key], key
    # the flight software did the same: the same events, the same packets (APID, count, kind,
    # length) to the ground in the same order. Housekeeping values may differ in their last
    # digits: over a skipped stretch the sensors hold their last reading
    fa, fb = fast.computer.onboard, slow.computer.onboard
    assert [(e.t_ns, e.id) for e in fa.events] == [(e.t_ns, e.id) for e in fb.events]
    assert _shape(fast) == _shape(slow)
    # energies agree to rounding (a load spread over a skip is summed in another order)
    ea, eb = ra["energy"], rb["energy"]
    assert ea.keys() == eb.keys()
    for k in ea:
        assert ea[k] == pytest.approx(eb[k], rel=1e-9, abs=1e-9), k


def _shape(mission) -> list[tuple]:
    rows = mission.ground.station.decoder.rows
    return [(r.get("type"), r.get("apid"), r.get("seq"), r.get("name"), r["length"], r.get("t_ns")) for r in rows]
