"""Every fault kind the simulator models arrives as a message and has its effect.

(The spectrometer's stuck/noisy/saturated effects on the frames are in test_instrument; the
flight software's detection, response and recovery of each kind in test_fsw_faults.) The
mission with every fault at once is flown by the flight executive; the per-window accuracy
table is checked on the simple loop, which keeps observing through every fault.
"""

from __future__ import annotations

from sim.fault_report import fault_timeline
from sim.faults import FAULT_KINDS
from sim.report import build_report
from tests.sim.conftest import SIMPLE, fly

H = 3600 * 10**9


def test_fault_messages_start_and_end_on_schedule(faults_scenario):
    m = fly(faults_scenario, duration="8 h")
    msgs = m.bus.history("fault")
    kinds = {msg.kind for msg in msgs}
    assert kinds == set(FAULT_KINDS)
    step = m.scenario.step_ns
    for start, end, f in m.faults.schedule:
        on = [x for x in msgs if x.fault_id == f["fault_id"] and x.active]
        off = [x for x in msgs if x.fault_id == f["fault_id"] and not x.active]
        assert len(on) == 1 and len(off) == 1
        assert start <= on[0].t_ns < start + step and end <= off[0].t_ns < end + step
        assert on[0].target == FAULT_KINDS[f["kind"]][0]


def test_brownout_drains_resets_the_computer_and_forces_safe(faults_scenario):
    m = fly(faults_scenario, duration="8 h")
    start, end, _ = next(s for s in m.faults.schedule if s[2]["kind"] == "battery_brownout")
    rec = m.recorders["power"]
    t, soc = rec.column("t_ns"), rec.column("soc")
    before = soc[t < start][-1]
    after = soc[(t >= start) & (t < start + 120 * 10**9)][0]
    assert after < before * 0.55  # half the stored energy lost at onset (drop_fraction 0.5)
    assert m.power.ledger["fault_loss_j"] > 0
    comp = m.recorders["computer"]
    modes = dict(zip(comp.column("t_ns").tolist(), comp.column("mode").tolist(), strict=True))
    assert all(mode == "SAFE" for tt, mode in modes.items() if start + 20 * 10**9 <= tt < end)
    texts = [e.text for e in m.bus.history("event")]
    assert any("brown-out" in x for x in texts) and any("reset_cause=BROWNOUT" in x for x in texts)


def test_missed_pass_blocks_the_link_during_the_outage(faults_scenario):
    m = fly(faults_scenario, duration="8 h")
    start, end, _ = next(s for s in m.faults.schedule if s[2]["kind"] == "missed_pass")
    link = m.recorders["link"]
    t, up = link.column("t_ns"), link.column("in_pass")
    assert not up[(t > start) & (t < end)].any()
    window = m.comms.windows[0]
    assert window.outage and 0 < window.contact_s < (window.end_ns - window.start_ns) / 1e9 - (end - window.start_ns) / 1e9 + 60
    # the spacecraft cannot see the outage: it transmitted into it, nobody heard, and every
    # packet it sent then reached the ground later (sent again: store-and-forward)
    during = [d for d in m.bus.history("downlink") if start <= d.t_ns < end]
    assert during and m.ground.stats["tm_unheard"] == len(during)
    heard_early = [r for r in m.ground.station.decoder.rows if r.get("t_rx_ns") and r["t_rx_ns"] < end]
    assert not [r for r in heard_early if r.get("type") == "TM"]
    tl = fault_timeline(m, start, end, next(s[2] for s in m.faults.schedule if s[2]["kind"] == "missed_pass"))
    assert tl["still_missing_on_ground"] == 0 and tl["recovered"] is not None


def test_report_lists_faults_with_accuracy_during_each(faults_scenario):
    m = fly(faults_scenario, duration="8 h", overrides={**SIMPLE, "spacecraft.storage.capacity_bytes": 600_000})
    rep = build_report(m)
    by_kind = {f["kind"]: f for f in rep["faults"]}
    assert set(by_kind) == set(FAULT_KINDS)
    assert by_kind["spectrometer_stuck"]["accuracy_during"]["observations"] > 20
    assert by_kind["spectrometer_saturated"]["accuracy_during"]["observations"] > 20
    nominal = rep["accuracy"]["no_active_fault"]["exact"]
    assert by_kind["spectrometer_noisy"]["accuracy_during"]["exact"] < nominal
    sat = by_kind["spectrometer_saturated"]["accuracy_during"]
    assert sat["unclassified"] > 0 or (sat["exact"] or 0) < nominal


def test_faults_after_a_shortened_mission_are_not_injected(faults_scenario):
    m = fly(faults_scenario, duration="1 h 10 min")
    assert {f["kind"] for f in m.faults.beyond_end} == {
        "spectrometer_saturated", "battery_brownout", "missed_pass", "cpu_hang", "storage_upset", "uplink_corruption"}
    early = ("spectrometer_stuck", "spectrometer_noisy", "spectrometer_latchup", "model_upset")
    assert all(msg.kind in early for msg in m.bus.history("fault"))
