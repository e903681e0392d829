"""The flight executive as the flight computer of the mission: the must-shows of issue 7.

- the raw archive of a whole mission — with a brown-out, a hang, a missed pass, upsets and a
  noisy uplink — decodes with `spacepackets` alone: every CRC valid, every APID's counts
  contiguous from 0, and every count generated on board is on the ground or still on board;
- a malformed or out-of-range telecommand in a mission is rejected with a failure report and
  never executed;
- a high-value find is looked at again (PROSPECT) by the simulated instrument, longer;
- autonomy beats send-everything on science events per MB downlinked;
- a ground script drives the mission with `send_and_wait` / `await_event` on simulated time.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from spacepackets.ccsds.spacepacket import PacketId, PacketType, parse_space_packets
from spacepackets.ecss import PusTc, PusTm

from assay.cli import main
from firmware.fsw.health import model_digest
from firmware.fsw.modes import Mode
from firmware.fsw.pus import SEQ_COUNT_MODULO, Apid, encode_tc
from firmware.taxonomy import load_demeo_model
from sim.fsw_report import compare, fly_baseline, reobservations, science_return
from sim.gse.archive import scan
from sim.mission import build_mission
from sim.outputs import write_run
from sim.scenario import load_scenario
from tests.sim.conftest import FAULT_BENCH, fault_bench, fly

S = 10**9
SMALL_STORE = {"spacecraft.storage.capacity_bytes": 120_000}  # as the conservation tests


@pytest.fixture(scope="module")
def stormy(faults_scenario, tmp_path_factory):
    """Every fault kind in one 8-h mission; its run directory."""
    m = fly(faults_scenario, duration="8 h", overrides=SMALL_STORE)
    out = tmp_path_factory.mktemp("stormy")
    report = write_run(m, out, plots=False)
    return m, out, report


def _unwrap(counts14: list[int]) -> list[int]:
    """14-bit counts in arrival order → unbounded counts (our decoder not involved)."""
    out, last = [], None
    for c in counts14:
        n = c if last is None else last + ((c - last + SEQ_COUNT_MODULO // 2) % SEQ_COUNT_MODULO - SEQ_COUNT_MODULO // 2)
        out.append(n)
        last = n if last is None else max(last, n)
    return out


def test_archive_decodes_with_spacepackets_alone(stormy):
    m, out, _ = stormy
    buf = (out / "telemetry.bin").read_bytes()
    ids = [PacketId(PacketType.TM, True, a) for a in Apid] + [PacketId(PacketType.TC, True, Apid.CMD)]
    result = parse_space_packets(buf, ids)
    assert result.skipped_ranges == [] and sum(map(len, result.tm_list)) == len(buf)
    counts: dict[int, list[int]] = {}
    n_tc = 0
    for raw in result.tm_list:
        if raw[0] & 0x10:
            PusTc.unpack(raw)  # raises on a bad CRC
            n_tc += 1
            continue
        p = PusTm.unpack(raw, timestamp_len=7)  # raises on a bad CRC
        counts.setdefault(p.apid, []).append(p.seq_count)
    assert n_tc > 10 and set(counts) >= {Apid.EVT, Apid.HK}
    exe = m.computer.onboard.exe
    for apid, seqs in counts.items():
        ground = set(_unwrap(seqs))
        assert ground == set(range(max(ground) + 1)), f"APID {apid:#x}: counts not contiguous from 0"
        # nothing lost: every count generated is on the ground or still stored on board
        generated = exe.mass.counters.seq[apid]
        onboard = {s.seq for s in exe.mass.tm.queues[apid]}
        assert ground | onboard == set(range(generated)), f"APID {apid:#x} lost packets"


def test_the_storm_really_happened(stormy):
    m, _, report = stormy
    f = report["fsw"]
    assert f["boots"] >= 3  # power-on, brown-out, watchdog
    assert f["telemetry"]["unheard_packets"] > 0 and f["telemetry"]["retransmitted_packets"] > 0
    assert f["commands"]["ground"]["tc_corrupted"] > 0
    assert f["events"]["raised_on_board"].get("STORED_DATA_CORRUPTED", 0) >= 1
    assert all(a["lost"] == 0 for a in f["telemetry"]["per_apid"].values())
    assert {x["kind"] for x in report["faults"]} == {x[2]["kind"] for x in m.faults.schedule}
    # the science counters add up over every software image (each reboot starts them at 0)
    sci = f["science"]
    assert sci["classified"] + sci["quality_rejects"] + sci["classify_failed"] == len(m.computer.onboard.results) > 0
    undetected = [x for x in report["faults"] if x.get("detected") is None and "note" in x]
    assert all("modes during the fault" in x["note"] for x in undetected)


def test_assay_decode_reads_the_run_archive(stormy, capsys):
    _, out, report = stormy
    epoch = report["simulation"]["epoch"]
    assert main(["decode", str(out / "telemetry.bin"), "--epoch", epoch, "--strict", "--quiet",
                 "--out", str(out / "decoded")]) == 0  # fmt: skip
    rows = (out / "decoded" / "events.csv").read_text().splitlines()
    assert len(rows) - 1 == sum(report["fsw"]["events"]["on_ground"].values()) > 0
    assert rows[1].split(",")[1] == "BOOT"  # t_ns, event, …: the first thing the ground heard


BAD_COMMANDS = """
[[commands]]
at = "5 min"
command = "SET_MODE"
args = { mode = 9 }

[[commands]]
at = "5 min"
command = "HK_SET_PERIOD"
args = { sid = 1, period_s = 0 }

[[commands]]
at = "5 min"
command = "PARAM_SET"
args = { "fdir.max_retries" = 99 }

[[commands]]
at = "5 min"
command = "RAW"
raw_hex = "{wrong_apid}"

[[commands]]
at = "5 min"
command = "RAW"
raw_hex = "{truncated}"

[[commands]]
at = "5 min"
command = "RAW"
raw_hex = "{unknown}"

[[commands]]
at = "5 min"
command = "PING"
"""


def test_malformed_or_out_of_range_commands_are_rejected_and_never_executed(tmp_path):
    ping = encode_tc(Apid.CMD, 17, 1, seq_count=7000)
    toml = (
        BAD_COMMANDS.replace("{wrong_apid}", encode_tc(0x123, 17, 1, seq_count=7001).hex())
        .replace("{truncated}", ping[:-3].hex())
        .replace("{unknown}", encode_tc(Apid.CMD, 17, 99, seq_count=7002).hex())
    )
    path = fault_bench(tmp_path, toml, "badtc")
    m = fly(path, duration="1 h", overrides={**FAULT_BENCH, "ground.procedure": "none"})
    log = {(row["name"], json.dumps(row["args"], sort_keys=True), i): row for i, row in enumerate(m.ground.ops.log)}
    results = [(row["name"], row["result"], row["attempts"][-1]["code"]) for row in log.values()]
    assert results[:3] == [
        ("SET_MODE", "ACCEPT_FAIL", "ARG_OUT_OF_RANGE"),
        ("HK_SET_PERIOD", "ACCEPT_FAIL", "ARG_OUT_OF_RANGE"),
        ("PARAM_SET", "ACCEPT_FAIL", "ARG_OUT_OF_RANGE"),
    ]
    assert results[-1] == ("PING", "COMPLETE_OK", None)
    exe = m.computer.onboard.exe
    # the raw ones are refused too (a damaged header cannot be matched to its report by the
    # ground's bookkeeping, but the spacecraft's own report is in the archive)
    rejected = [r for r in m.ground.station.decoder.tables["verification"] if r["report"] == "ACCEPT_FAIL"]
    codes = sorted(r["code"] for r in rejected)
    assert codes == sorted(["ARG_OUT_OF_RANGE"] * 3 + ["BAD_APID", "BAD_LENGTH", "UNKNOWN_COMMAND"])
    assert exe.dispatcher.stats["rejected"] == 6 and exe.dispatcher.stats["internal_errors"] == 0
    # never executed: nothing they asked for happened
    assert exe.params["fdir.max_retries"] == 2 and exe.params["hk.essential_period_s"] == 30
    assert not [r for r in m.ground.station.decoder.tables["verification"]
                if r["report"] in ("START_OK", "COMPLETE_OK") and r["command"] != "PING"]  # fmt: skip


def test_high_value_find_is_looked_at_again_longer():
    m = fly(duration="8 h")
    rows = reobservations(m)
    assert rows and all(r["outcome"] == "FIND_CONFIRMED" for r in rows)
    frames = {f.obs_id: f for f in m.bus.history("frame")}
    for r in rows:
        look, src = frames[r["reobs_obs_id"]], frames[r["source_obs_id"]]
        assert look.request_id == r["request_id"] and look.integration_scale == 4.0
        assert (look.lat_deg, look.lon_deg) == (src.lat_deg, src.lon_deg)  # pointed at the find
        assert look.snr_median > 1.6 * src.snr_median  # four co-added frames: SNR × ~2
        assert r["true_resource"] == "water" and r["reobs_true_unit"] == r["true_unit"]
    modes = {k for k, v in m.computer.mode_time_ns.items() if v}
    assert "PROSPECT" in modes


def test_autonomy_beats_send_everything_per_mb():
    m = fly(duration="8 h")
    ret = compare(science_return(m), fly_baseline(m.scenario))
    auto, base = ret["autonomy"], ret["send_everything"]
    assert auto["science_events_on_ground"] > base["science_events_on_ground"]  # more, and
    assert auto["bytes_transmitted"] < base["bytes_transmitted"] / 5  # for far fewer bytes
    assert ret["factor"] >= 10, ret
    # the events the ground learns of are real: every one is an observation of a resource unit
    assert auto["resource_observations_on_ground"] == auto["science_events_on_ground"]


def test_a_ground_script_drives_the_mission_on_simulated_time(tmp_path):
    path = fault_bench(tmp_path, "", "script")
    sc = load_scenario(path, duration="2 h", overrides={**FAULT_BENCH, "ground.procedure": "none"})
    mission = build_mission(sc)
    mission.start()
    g = mission.ground.station
    boot = g.await_event("BOOT", timeout_s=600, since_ns=0)
    assert boot["reset_cause"] == 0
    rep = g.send_and_wait("PING", timeout_s=300)
    assert rep["report"] == "COMPLETE_OK"
    assert g.latest("mode", max_age_s=120) in (Mode.SURVEY, Mode.DOWNLINK, Mode.IDLE)
    g.send_and_wait("SET_MODE", mode=int(Mode.IDLE), timeout_s=300)  # park it
    assert g.await_hk("mode", lambda v: v == Mode.IDLE, timeout_s=300, max_age_s=120) == Mode.IDLE
    t_parked = mission.engine.now_ns
    mission.finish()
    assert mission.computer.onboard.exe.mode == Mode.IDLE  # it stayed parked
    assert t_parked < 15 * 60 * S  # all within the first pass
    assert mission.stats.steps > 0 and mission.wall_s > 0


def test_missions_leave_the_model_constants_as_they_found_them(tmp_path):
    good = load_demeo_model().checksum  # recorded when loaded; model_digest recomputes it
    path = fault_bench(tmp_path, '\n[[faults]]\nkind = "model_upset"\nstart = "59 min 50 s"\nbits = 8\n', "late")
    m = fly(path, duration="1 h", overrides=FAULT_BENCH)
    assert m.computer.upsets  # the upset struck...
    from sim.upsets import flip_model_bits, restore_model

    assert model_digest(load_demeo_model()) == good  # ...and nothing of it outlived the mission
    flip_model_bits(np.random.default_rng(1), 4)
    assert model_digest(load_demeo_model()) != good
    assert restore_model() == 4 and model_digest(load_demeo_model()) == good


def test_run_summary_and_report_have_the_flight_software(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "default", "--duration", "8 h", "--no-plots", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "science events per MB downlinked: autonomy" in text and "telemetry:" in text
    report = json.loads((out / "report.json").read_text())
    f = report["fsw"]
    assert report["onboard"]["software"] == "FswComputer" and report["onboard"]["kind"] == "fsw"
    assert f["science_return"]["factor"] >= 10
    assert {"modes", "events", "fdir", "commands", "science", "products", "telemetry"} <= set(f)
    timing = json.loads((out / "timing.json").read_text())
    assert timing["baseline_wall_s"] > 0 and "wall_s" not in json.dumps(f["science_return"])
    assert scan((out / "telemetry.bin").read_bytes()).skipped == []
    assert (out / "telemetry" / "science_events.csv").exists() and (out / "telemetry" / "products.csv").exists()
