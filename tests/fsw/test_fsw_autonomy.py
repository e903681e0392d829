"""Onboard autonomy on real spectra: value, science events, PROSPECT re-observations,
summaries instead of raw low-value data, downlink by value, and the science return per MB
against the send-everything baseline."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from firmware.fsw.autonomy import (
    FLAG_CONFIRMED,
    FLAG_REOBSERVATION,
    Valuation,
    ValueKind,
    busdemeo_value,
)
from firmware.fsw.messages import Observation
from firmware.fsw.modes import Mode
from firmware.fsw.products import ClassMap, ProductError, decode_product, encode_spectrum
from firmware.fsw.science import classify_one
from firmware.taxonomy import CLASS_INDEX
from sim.gse.link import Pass
from sim.gse.metrics import events_per_mb, ground_science_events
from tests.fsw.fsw_world import LOW, WATER, S, make_world
from tests.spectra_fixtures import spectrum, visnir_rows


def test_value_function_on_every_labelled_real_spectrum():
    """Measured on the 455 labelled DeMeo 2009 + Binzel 2019 spectra (bounds a little under
    the measured rates: water 79 % events / 43 % finds, X 93 % / 37 %, S false events 2 %)."""
    rows = visnir_rows()
    by = collections.defaultdict(list)
    for r in rows:
        s = spectrum(r["file"])
        group = "water" if r["class_bdm"] in ("Ch", "Cgh") else r["complex"]
        by[group].append(
            busdemeo_value(classify_one(s.wavelength_um, s.reflectance, s.error)).score
        )
    rate = {k: (np.mean(np.array(v) >= 0.35), np.mean(np.array(v) >= 0.6)) for k, v in by.items()}
    assert rate["water"][0] >= 0.75 and rate["water"][1] >= 0.40
    assert rate["X"][0] >= 0.85 and rate["X"][1] >= 0.30
    assert rate["S"][0] <= 0.05 and rate["S"][1] == 0.0
    for common in ("Q", "V", "K", "A"):
        assert rate[common] == (0.0, 0.0), common


def test_find_triggers_a_prospect_reobservation_that_confirms_it():
    w = make_world([WATER[0]] + LOW, params={"auto.auto_downlink": 0})
    w.run(15)
    g = w.ground
    find = g.await_event("HIGH_VALUE_FIND", timeout_s=60, since_ns=0)
    assert find["kind"] == ValueKind.WATER and find["value"] >= 0.9
    req = g.await_event("REOBS_REQUESTED", timeout_s=5, since_ns=0)
    assert req["scale"] == 4.0
    g.await_event(
        "MODE_CHANGED", timeout_s=5, since_ns=0, where=lambda e: e["to_mode"] == Mode.PROSPECT
    )
    conf = g.await_event("FIND_CONFIRMED", timeout_s=60, since_ns=0)
    assert conf["obs_id"] == find["obs_id"]
    reobs = [o for o in w.env.sent if o.request_id == req["request_id"]]
    assert len(reobs) == 1 and reobs[0].integration_scale == 4.0
    g.await_event(
        "MODE_CHANGED",
        timeout_s=5,
        since_ns=0,
        where=lambda e: e["to_mode"] == Mode.SURVEY and e["from_mode"] == Mode.PROSPECT,
    )
    g.send_and_wait("SET_MODE", mode=Mode.DOWNLINK)  # the ground asks for the science downlink
    w.run(300)
    flags = [e["flags"] for e in g.decoder.tables["science_events"]]
    assert FLAG_REOBSERVATION | FLAG_CONFIRMED in flags
    first = g.decoder.tables["products"][0]
    assert (
        first["kind"] == "SPECTRUM" and first["value"] == 1.0 and first["obs_id"] == reobs[0].obs_id
    )
    assert find["obs_id"] not in {
        p["obs_id"] for p in g.decoder.products.values() if p["kind"] == "SPECTRUM"
    }


def test_unconfirmed_find_is_downgraded_and_stays_onboard():
    w = make_world([WATER[0]] + LOW, params={"auto.auto_downlink": 0})
    w.env.reobs_file = LOW[0]  # the second look sees an S-type
    w.run(120)
    ev = w.ground.await_event("FIND_NOT_CONFIRMED", timeout_s=60, since_ns=0)
    first = next(p for p in w.exe.mass.products.items.values() if p.value > 0.3)
    assert first.value == pytest.approx(0.95 * 0.5) and ev["value"] < 0.35
    assert first.value < w.exe.params["auto.downlink_min_value"]  # waits for a ground request
    assert w.exe.mode == Mode.SURVEY


def test_low_value_data_becomes_a_class_map_and_statistics():
    w = make_world(LOW, passes=[Pass(400 * S, 1000 * S)], params={"auto.summary_obs": 20})
    w.run(1000)
    summaries = [p for p in w.ground.decoder.products.values() if p["kind"] == "SUMMARY"]
    assert summaries and not [
        p for p in w.ground.decoder.products.values() if p["kind"] == "SPECTRUM"
    ]
    first = summaries[0]
    assert first["n_obs"] == 20
    counts = {r["class_index"]: r["count"] for r in first["classes"]}
    assert sum(counts.values()) == 20 and set(counts) <= {
        CLASS_INDEX[c] for c in ("S", "Sq", "Sr", "V", "Q")
    }
    assert sum(c["count"] for c in first["cells"]) == 20  # every observation is on the map
    assert w.exe.autonomy.stats["discarded_raw"] >= 20


def test_downlink_is_ordered_by_value():
    w = make_world(
        WATER + ["demeo2009/a000016.sp02.txt"] + LOW,
        passes=[Pass(900 * S, 2000 * S)],
        params={"auto.keep_low_value_raw": 1, "auto.downlink_min_value": 0.0, "auto.max_reobs": 0},
    )
    w.run(1200)
    # products that waited for the pass (the class map summary is closed as the pass begins)
    rows = [p for p in w.ground.decoder.tables["products"] if p["t_ns"] <= 900 * S]
    values = [p["value"] for p in rows]
    assert len(rows) >= 10 and len(set(values)) >= 3
    assert values == sorted(values, reverse=True)
    kinds = {p["kind"] for p in rows}
    assert kinds == {"SPECTRUM", "SUMMARY"}


def test_value_function_is_pluggable():
    from firmware.fsw.executive import Executive

    w = make_world(LOW, start=False, params={"auto.auto_downlink": 0})
    exe = Executive(
        nvm=w.exe.nvm,
        mass=w.exe.mass,
        value=lambda r, o: Valuation(0.5, ValueKind.OTHER, "all good"),
    )
    w.exe = w.link.exe = w.env.exe = exe
    w.link.start(0)
    w.run(100)
    assert exe.autonomy.stats["science_events"] == exe.science.stats["classified"] > 5
    assert exe.autonomy.stats["finds"] == 0


def test_autonomy_beats_send_everything_on_science_events_per_mb():
    """Same real-spectra stream (every 3rd labelled spectrum: a rich mixture, ~18 % events),
    same passes and rate. Measured: ~9× (autonomy ~590 events/MB, baseline ~64)."""
    files = [r["file"] for r in visnir_rows()[::3]]
    passes = [Pass(k * 3600 * S + 3000 * S, k * 3600 * S + 3600 * S) for k in range(3)]
    per_mb = {}
    for send_all in (0, 1):
        w = make_world(files, passes=passes, rate_bps=16_000, params={"auto.send_all": send_all})
        w.run(3 * 3600)
        events = ground_science_events(w.ground.decoder, w.exe.params["auto.event_threshold"])
        per_mb[send_all] = events_per_mb(len(events), w.link.stats["bytes_down"])
        assert len(events) > 100
    assert per_mb[0] >= 6 * per_mb[1], per_mb


def test_spectrum_product_round_trip_and_damage():
    s = spectrum(WATER[0])
    err = s.error if s.error is not None else np.full_like(s.reflectance, 0.01)
    refl = s.reflectance.copy()
    refl[5] = np.nan
    obs = Observation(42, 7 * S, s.wavelength_um, refl, err, lat_deg=1.5, lon_deg=200.0, snr=80.0)
    blob = encode_spectrum(
        9, obs, CLASS_INDEX["Ch"], 0.95, ValueKind.WATER, 0.1, [0.1, 0.2, 0.3, 0.4, 0.5], 8 * S
    )
    p = decode_product(blob)
    assert (p["product_id"], p["obs_id"], p["class_index"], p["lon_deg"]) == (
        9,
        42,
        CLASS_INDEX["Ch"],
        200.0,
    )
    for key, a in (("wavelength_um", s.wavelength_um), ("reflectance", refl), ("error", err)):
        finite = np.isfinite(a)
        step = (np.nanmax(a) - np.nanmin(a)) / 65534
        assert np.array_equal(np.isfinite(p[key]), finite)
        assert np.max(np.abs(p[key][finite] - a[finite])) <= 0.5 * step * (
            1 + 1e-6
        ) + 1e-7 * np.nanmax(a)
    bad = bytearray(blob)
    bad[40] ^= 0x10
    with pytest.raises(ProductError, match="CRC-32"):
        decode_product(bytes(bad))


def test_class_map_cells_and_statistics():
    m = ClassMap(cell_deg=10.0)
    m.add(1, 5.0, 5.0, CLASS_INDEX["S"], 0.2, 0.1, 0.0, 0.1)
    m.add(2, 5.0, 365.0, CLASS_INDEX["S"], 0.4, 0.3, 0.0, 0.1)  # same cell (longitude wraps)
    m.add(3, -85.0, 355.0, CLASS_INDEX["Ch"], 0.0, -0.2, 0.1, 0.9)
    m.add(4, float("nan"), 0.0, -1, float("nan"), float("nan"), float("nan"), 0.0)  # no position
    p = decode_product(m.encode(3, 10, 0.5))
    assert p["n_obs"] == 4 and len(p["cells"]) == 2
    cell = next(c for c in p["cells"] if c["count"] == 2)
    assert (cell["lat_index"], cell["lon_index"], cell["class_index"]) == (9, 0, CLASS_INDEX["S"])
    rows = {r["class_index"]: r for r in p["classes"]}
    assert rows[CLASS_INDEX["S"]]["mean_slope"] == pytest.approx(0.3) and rows[255]["count"] == 1


def test_classifier_failure_is_an_event_not_a_crash():
    from firmware.fsw.executive import Executive, default_classify

    def flaky(obs):
        if obs.obs_id % 3 == 1:
            raise RuntimeError("bus error reading the classifier's scratch RAM")
        return default_classify(obs)

    w = make_world(LOW, start=False, params={"auto.auto_downlink": 0})
    exe = Executive(nvm=w.exe.nvm, mass=w.exe.mass, classify=flaky)
    w.exe = w.link.exe = w.env.exe = exe
    w.link.start(0)
    w.run(100)
    failed = w.ground.events("CLASSIFY_FAILED")
    assert failed and all(e["obs_id"] % 3 == 1 for e in failed)
    assert (
        exe.science.stats["classify_failed"] == len(failed) and exe.science.stats["classified"] > 3
    )
    assert exe.mode == Mode.SURVEY


def test_same_seed_same_archive_bytes(tmp_path):
    import hashlib

    from sim.gse.standalone import main

    digests = []
    for run, seed in (("a", 1), ("b", 1), ("c", 2)):
        main(["--out", str(tmp_path / run), "--hours", "1", "--seed", str(seed)])
        digests.append(hashlib.sha256((tmp_path / run / "telemetry.bin").read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_prospecting_verdict_plugs_in_as_the_value_function():
    from firmware.fsw.autonomy import prospect_value

    def value_of(file):
        s = spectrum(file)
        obs = Observation(0, 0, s.wavelength_um, s.reflectance, s.error)
        return prospect_value(classify_one(s.wavelength_um, s.reflectance, s.error), obs)

    water, metal, silicate = (
        value_of(WATER[0]),
        value_of("demeo2009/a000016.sp02.txt"),
        value_of(LOW[0]),
    )
    assert (water.kind, water.score) == (ValueKind.WATER, 1.0) and "0.7 µm band" in water.reason
    assert metal.kind == ValueKind.METAL and metal.score == pytest.approx(2 / 3, abs=1e-4)
    assert silicate.score == 0.0
