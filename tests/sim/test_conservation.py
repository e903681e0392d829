"""Conservation: energy in and out of the battery, bytes through the store, orbit energy.

Each budget is checked against an independent recomputation (from the ephemeris, the
time spent in each mode, the bytes the ground received), not only against the ledger's
own bookkeeping. The faulty mission is flown by the flight executive; the simple loop's own
product ledger is checked too.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.ledger import energy_budget, storage_budget
from sim.power import J_PER_WH
from tests.sim.conftest import SIMPLE, fly

SMALL_STORE = {"spacecraft.storage.capacity_bytes": 120_000}


@pytest.fixture(scope="module")
def faulty(faults_scenario):
    # brown-out, SAFE, a missed pass and a store too small for the day's data
    return fly(faults_scenario, duration="8 h", overrides=SMALL_STORE)


def test_battery_energy_balances(faulty):
    e = energy_budget(faulty)
    assert e["fault_loss_wh"] > 0 and e["soc_min"] < e["soc_initial"]
    for key in ("residual_battery_wh", "residual_solar_wh", "residual_demand_wh"):
        assert abs(e[key]) < 1e-9, key
    p = faulty.power
    assert 0 <= p.energy_j <= p.capacity_j
    # battery change = charged − discharged − fault loss, from the ledger's parts
    L = p.ledger
    assert p.energy_j - p.initial_energy_j == pytest.approx(L["charge_in_j"] - L["discharge_out_j"] - L["fault_loss_j"], abs=1e-6)


def test_demand_equals_mode_loads_plus_compute_plus_transmitter(faulty):
    p, comp = faulty.power, faulty.computer
    expected = sum(p.mode_load_w(mode) * t_ns / 1e9 for mode, t_ns in comp.mode_time_ns.items())
    expected += p.ledger["cpu_j"] + p.ledger["tx_j"]
    assert p.ledger["demand_j"] == pytest.approx(expected, rel=1e-9)
    # the classifier's compute time is a load: every classified spectrum costs cpu_s × P_cpu
    # (charged, or still due at the end of the mission)
    cfg = faulty.scenario.config["spacecraft"]
    per_spectrum_j = cfg["computer"]["cpu_s_per_spectrum"] * cfg["power"]["load_cpu_active_w"]
    cpu_j = p.ledger["cpu_j"] + p.cpu_backlog_s * cfg["power"]["load_cpu_active_w"]
    assert comp.classified > 50 and cpu_j == pytest.approx(comp.classified * per_spectrum_j, rel=1e-9)
    # the transmitter is on exactly as long as the bytes sent take at the link rate
    sent_bits = 8 * sum(m.n_bytes for m in faulty.bus.history("downlink"))
    tx_s = p.ledger["tx_j"] / cfg["power"]["load_radio_tx_w"] + p.tx_backlog_s
    assert sent_bits > 0 and tx_s == pytest.approx(sent_bits / faulty.comms.rate_bps, rel=1e-9)


def test_solar_input_matches_the_ephemeris():
    m = fly(duration="8 h", overrides={"spacecraft.power.array_pointing": "sun_tracking", **SIMPLE})
    eph, p = m.eph, m.power
    n = m.scenario.duration_ns // m.scenario.step_ns
    lit = ~eph.compute(np.arange(1, n + 1) * m.scenario.step_ns)["eclipse"]  # samples (0, T]
    expected_j = p.p_array_max_w * m.scenario.step_ns / 1e9 * np.count_nonzero(lit)
    assert p.ledger["solar_j"] == pytest.approx(expected_j, rel=1e-12)
    assert (~lit).any()  # the orbit does cross the shadow


def test_stored_bytes_equal_produced_minus_downlinked_minus_dropped(faulty):
    s = storage_budget(faulty)
    assert s["dropped_bytes"] > 0 and s["downlinked_bytes"] > 0  # both paths exercised
    assert s["residual_bytes"] == 0
    assert s["held_at_end_bytes"] == s["catalogue_bytes"] <= s["capacity_bytes"]
    rec = faulty.recorders["storage"]
    used = rec.column("used_bytes")
    ledger = rec.column("produced_bytes") - rec.column("downlinked_bytes") - rec.column("dropped_bytes")
    assert np.array_equal(used, ledger - rec.column("repackaged_bytes"))
    assert used.max() <= s["capacity_bytes"]
    # what the ground acknowledged is what the spacecraft freed ("downlinked"), and every
    # acknowledged packet is in the ground's archive
    g = faulty.ground
    exe = faulty.computer.onboard.exe
    assert exe.mass.tm.acked_bytes == s["downlinked_bytes"] > 0
    archived_tm = sum(len(raw) for _, raw in _archive_tm(g))
    assert archived_tm >= s["downlinked_bytes"]
    assert not [r for r in g.station.decoder.rows if r.get("error")]


def test_products_cut_into_packets_are_repackaged_not_lost():
    m = fly(duration="8 h")  # the default mission: products go down in its 4–6 h pass
    s = storage_budget(m)
    assert s["residual_bytes"] == 0 and s["held_at_end_bytes"] == s["catalogue_bytes"]
    prod = m.computer.onboard.exe.mass.products
    assert s["repackaged_bytes"] == prod.removed_bytes["packetised"] > 0


def _archive_tm(g):
    from sim.gse.archive import scan

    return [(o, raw) for o, raw in scan(bytes(g.archive.data)).packets if not raw[0] & 0x10]


def test_observation_counts_balance(faulty):
    n_obs = len(faulty.bus.history("truth"))
    # every observation went through the science pipeline, or was lost before it
    assert faulty.computer.classified + faulty.computer.lost == n_obs
    ob = faulty.extra["onboard"]
    assert len(ob.results) == faulty.computer.classified


def test_simple_loop_product_counts_balance():
    m = fly(duration="8 h", overrides={**SMALL_STORE, **SIMPLE})
    ob = m.extra["onboard"]
    n_obs = len(m.bus.history("truth"))
    # every observation becomes a result and a spectrum product, or was lost before that
    assert m.computer.classified + m.computer.lost == n_obs
    assert ob.next_id - 1 == 2 * m.computer.classified
    s = storage_budget(m)
    assert s["residual_bytes"] == 0 and s["repackaged_bytes"] == 0 and s["dropped_bytes"] > 0
    g = m.ground  # what left the spacecraft is what the ground got, plus what is on its way
    assert g.received_bytes + sum(x.n_bytes for x in g.in_flight) == s["downlinked_bytes"]
    assert not g.decode_errors


def test_orbit_energy_is_constant_along_the_mission():
    m = fly(duration="8 h", overrides={"orbit.eccentricity": 0.3, "orbit.semi_major_axis_m": 40_000.0, **SIMPLE})
    e = m.recorders["orbit"].column("specific_energy_j_kg")
    gm = m.scenario.config["target"]["gm_m3_s2"]
    assert len(e) > 100
    assert np.max(np.abs(e / (-gm / (2 * 40_000.0)) - 1)) < 1e-12


def test_ledger_units():
    assert J_PER_WH == 3600.0
