"""Each fault kind, injected alone into a short mission flown by the flight executive: it is
detected, the response happens, and the spacecraft recovers — by itself or by the ground's
recovery procedure — and the report says so.

The bench (`tests.sim.conftest.FAULT_BENCH`): the default scenario with Earth at 0.1 au (50 s
light time) and a 15-min pass every hour, 3 h long (the first daylight arc of its orbit).
"""

from __future__ import annotations

import pytest

from firmware.fsw.fdir import Fault
from firmware.fsw.health import model_digest
from firmware.fsw.modes import Mode
from firmware.taxonomy import load_demeo_model
from sim.fault_report import fault_timeline
from sim.faults import FAULT_KINDS
from sim.report import build_report
from tests.sim.conftest import FAULT_BENCH, fault_bench, fly

S = 10**9
MIN = 60 * S
BENCH_HOURS = "3 h"

# kind → (fault TOML, how it must recover: "itself" | "command" | "link")
CASES = {
    "spectrometer_stuck": ('start = "20 min"\nduration = "25 min"', "command"),
    "spectrometer_latchup": ('start = "20 min"', "itself"),
    "spectrometer_noisy": ('start = "20 min"\nduration = "15 min"\nfactor = 20.0', "itself"),
    "spectrometer_saturated": ('start = "20 min"\nduration = "30 min"\ngain = 1.2', "itself"),
    "battery_brownout": ('start = "20 min"\nduration = "5 min"\ndrop_fraction = 0.2', "command"),
    "missed_pass": ('start = "55 min"\nduration = "30 min"', "link"),
    "cpu_hang": ('start = "25 min"\nduration = "2 min"', "command"),
    "model_upset": ('start = "25 min"\nbits = 3', "itself"),
    "storage_upset": ('start = "40 min"\nbits = 4\nregion = "telemetry"', "itself"),
    "uplink_corruption": (
        'start = "1 h"\nduration = "4 min"\n\n[[commands]]\nat = "1 h 1 min"\ncommand = "PING"', "link"),
}


def test_every_fault_kind_has_a_case():
    assert set(CASES) == set(FAULT_KINDS)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench")


def fly_fault(bench_dir, kind: str):
    toml, _ = CASES[kind]
    path = fault_bench(bench_dir, f'\n[[faults]]\nkind = "{kind}"\n{toml}\n', kind)
    return fly(path, duration=BENCH_HOURS, overrides=FAULT_BENCH)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_fault_is_detected_answered_and_recovered(bench_dir, kind):
    m = fly_fault(bench_dir, kind)
    start, end, f = m.faults.schedule[0]
    tl = fault_timeline(m, start, end, f)
    assert tl["detected"] is not None, (kind, tl)
    assert start <= tl["detected"]["t_s"] * S <= start + 10 * MIN, tl
    assert tl["response"], tl
    assert tl["recovered"] is not None, tl
    how = CASES[kind][1]
    if how == "itself":
        assert "FDIR" in tl["recovered"]["how"] or "scrub" in tl["recovered"]["how"], tl
    elif how == "command":
        assert "ground command" in tl["recovered"]["how"], tl
        recover = [row for row in m.ground.ops.log if row["script"] == "recover"]
        assert recover and recover[-1]["name"] == "RESUME_AUTONOMY" and recover[-1]["result"] == "COMPLETE_OK"
    # back to work: surveying again (or at least out of SAFE) after the recovery
    assert m.computer.onboard.exe.mode != Mode.SAFE
    listed = next(x for x in build_report(m)["faults"] if x["kind"] == kind)
    assert listed["detected"] == tl["detected"] and listed["recovered"] == tl["recovered"]


def test_stuck_spectrometer_is_power_cycled_before_safe(bench_dir):
    m = fly_fault(bench_dir, "spectrometer_stuck")
    start, end, f = m.faults.schedule[0]
    tl = fault_timeline(m, start, end, f)
    actions = [r["event"] for r in tl["response"]]
    assert sum("POWER_CYCLE_INSTRUMENT" in a for a in actions) == 2  # fdir.max_retries
    assert any("to_mode=SAFE" in a for a in actions)
    looks = [x for x in m.computer.onboard.results if x.t_ns > tl["recovered"]["t_s"] * S]
    assert looks and all(x.cls for x in looks[-5:])  # classifying again after the recovery


def test_latchup_clears_with_the_power_cycle(bench_dir):
    m = fly_fault(bench_dir, "spectrometer_latchup")
    start, end, f = m.faults.schedule[0]
    tl = fault_timeline(m, start, end, f)
    assert [r["event"] for r in tl["response"]] == [
        "FDIR_RESPONSE fault=SPECTROMETER_STUCK action=POWER_CYCLE_INSTRUMENT attempt=1"]
    assert tl["recovered"]["t_s"] * S < end  # the fault window lasts to the end: the cycle fixed it


def test_saturation_is_answered_by_shorter_exposures(bench_dir):
    m = fly_fault(bench_dir, "spectrometer_saturated")
    scales = [f.integration_scale for f in m.bus.history("frame")]
    assert 0.25 in scales or 0.5 in scales  # FDIR halved the exposure the instrument used
    rejected = [x for x in m.computer.onboard.results if x.reason.startswith("FDIR: saturated")]
    assert rejected and all(not x.cls for x in rejected)  # clipped spectra never classified


def test_model_upset_changes_memory_until_reloaded_and_nothing_leaks(bench_dir):
    m = fly_fault(bench_dir, "model_upset")
    (upset,) = m.computer.upsets
    assert len(upset["hit"]) == 3 and all("bit" in h for h in upset["hit"])
    events = [e.id.name for e in m.computer.onboard.events]
    assert "MODEL_CORRUPTED" in events and "MODEL_RELOADED" in events
    assert m.computer.onboard.exe.model.reloads >= 1
    assert model_digest(load_demeo_model()) == m.computer.onboard.exe.model.golden  # repaired


def test_hang_reboots_by_watchdog_and_latches(bench_dir):
    m = fly_fault(bench_dir, "cpu_hang")
    boots = [e for e in m.computer.onboard.events if e.id.name == "BOOT"]
    assert [b.values["reset_cause"] for b in boots] == [0, 1]  # power-on, then watchdog
    exe = m.computer.onboard.exe
    assert exe.params["sys.boot_count"] == 2 and not exe.fdir.latched  # cleared by command
    hung = boots[1].t_ns
    start = m.faults.schedule[0][0]
    assert start < hung <= start + exe.params["fdir.watchdog_timeout_s"] * S + 2 * S


def test_uplink_corruption_is_refused_and_resent(bench_dir):
    m = fly_fault(bench_dir, "uplink_corruption")
    start, end, f = m.faults.schedule[0]
    tl = fault_timeline(m, start, end, f)
    assert tl["rejected_for_crc"] >= 1 and tl["corrupted_uplinks"] >= tl["rejected_for_crc"]
    assert m.computer.onboard.exe.dispatcher.stats["rejected"] >= tl["rejected_for_crc"]


def test_storage_upset_keeps_every_count(bench_dir):
    m = fly_fault(bench_dir, "storage_upset")
    (upset,) = m.computer.upsets
    assert all(h.startswith("packet APID") for h in upset["hit"])
    rep = build_report(m)["fsw"]["telemetry"]["per_apid"]
    assert all(a["lost"] == 0 and a["ground_contiguous_from_0"] for a in rep.values())
    replaced = [e for e in m.computer.onboard.events if e.id.name == "STORED_DATA_CORRUPTED"]
    assert len(replaced) == len(upset["hit"])


def test_brownout_boots_safe_from_nvm(bench_dir):
    m = fly_fault(bench_dir, "battery_brownout")
    boots = [e for e in m.computer.onboard.events if e.id.name == "BOOT"]
    assert [b.values["reset_cause"] for b in boots] == [0, 3]  # power-on, brown-out
    start, end, _ = m.faults.schedule[0]
    assert boots[1].t_ns >= end  # the computer stays off while the bus cannot hold it
    assert Fault.WATCHDOG_RESET not in m.computer.onboard.exe.fdir.detections
