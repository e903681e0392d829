"""The simple onboard loop (firmware/onboard.py) and the product format the ground decodes.

Frames are real asteroid spectra seen through the instrument's bands; the classifier is
the real spectral core.
"""

from __future__ import annotations

import numpy as np
import pytest
from crc import Calculator, Crc16
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware._jit import set_threads
from firmware.busdemeo import classify_batch
from firmware.onboard import (
    HostClassifier,
    OnboardConfig,
    OnboardInputs,
    OnboardLoop,
    ProspectValuer,
    SimpleValuer,
    Valuation,
    crc16,
    encode_result,
    encode_spectrum,
    simple_value,
)
from sim.ground import ProductDecodeError, decode_product
from sim.messages import Frame
from sim.spectra import band_response, load_source

BANDS = np.linspace(0.45, 2.45, 200)
SOURCES = {"Ch": "asteroid:a000013.sp41.txt", "S": "asteroid:a000433.sp16.txt",
           "X": "asteroid:a000016.sp02.txt", "V": "asteroid:a000004.sp02.txt"}  # fmt: skip
SPECTRA = {k: band_response(load_source(v), BANDS, BANDS[1] - BANDS[0]) for k, v in SOURCES.items()}
SPECTRUM_BYTES = 24 + 3 * 200 + 2
RESULT_BYTES = 40


def frame(obs_id: int, kind: str, t_s: float = 0.0) -> Frame:
    r = SPECTRA[kind] * 0.2 if kind != "empty" else np.full(BANDS.size, np.nan)
    return Frame(int(t_s * 1e9), obs_id, 10.0, -20.0, 30.0, 150.0, 0,
                 r.astype(np.float32), (np.abs(r) / 150).astype(np.float32))  # fmt: skip


def loop(capacity=10**7, **kw) -> OnboardLoop:
    return OnboardLoop(OnboardConfig(wavelength_um=BANDS, capacity_bytes=capacity, **kw))


def step(ob, t_s, frames=(), **kw):
    defaults = dict(soc=0.9, observable=False)
    defaults.update(kw)
    return ob.step(OnboardInputs(t_ns=int(t_s * 1e9), frames=tuple(frames), **defaults))


def test_crc_is_ccitt_false_as_the_crc_library_computes_it():
    calc = Calculator(Crc16.IBM_3740)
    for data in (b"123456789", b"", bytes(range(256)) * 3):
        assert crc16(data) == calc.checksum(data)
    assert crc16(b"123456789") == 0x29B1


def test_products_round_trip_through_the_ground_decoder():
    frames = [frame(i, k) for i, k in enumerate(["Ch", "S", "X", "V", "empty"], start=1)]
    refl = np.stack([f.reflectance for f in frames])
    batch = classify_batch(BANDS, refl, np.stack([f.error for f in frames]))
    for i, f in enumerate(frames):
        val = simple_value(batch, i)
        res = decode_product(encode_result(f, batch, i, val))
        assert res["kind"] == "result" and res["obs_id"] == f.obs_id
        assert res["class"] == (batch.labels()[i] or "") and res["verdict"] == val.verdict
        assert res["lat_deg"] == 10.0 and res["lon_deg"] == -20.0 and abs(res["snr"] - 150) < 0.1
        if batch.class_index[i] >= 0:
            assert abs(res["slope"] - batch.slope[i]) <= 0.5e-4
            assert np.allclose(res["pc"], batch.pc[i], atol=0.5e-4)
        spec = decode_product(encode_spectrum(f))
        assert spec["kind"] == "spectrum" and spec["reflectance"].size == 200
        r = np.asarray(f.reflectance, float)
        ok = np.isfinite(r)
        if ok.any():
            step_dn = np.max(np.abs(r[ok])) / 32000  # the quantisation step
            assert np.max(np.abs(spec["reflectance"][ok] - r[ok])) <= 0.51 * step_dn
        assert np.array_equal(np.isnan(spec["reflectance"]), ~ok)
    assert len(encode_result(frames[0], batch, 0, simple_value(batch, 0))) == RESULT_BYTES
    assert len(encode_spectrum(frames[0])) == SPECTRUM_BYTES


@given(st.binary(max_size=700))
def test_decoder_never_crashes_on_arbitrary_bytes(data):
    try:
        decode_product(data)
    except ProductDecodeError:
        pass


@settings(max_examples=200)
@given(st.integers(0, 8 * SPECTRUM_BYTES - 1))
def test_every_single_bit_flip_is_detected(bit):
    good = bytearray(encode_spectrum(frame(7, "S")))
    good[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProductDecodeError):
        decode_product(bytes(good))


def test_value_rule():
    frames = [frame(i, k) for i, k in enumerate(["Ch", "S", "X", "V", "empty"], start=1)]
    batch = classify_batch(BANDS, np.stack([f.reflectance for f in frames]))
    verdicts = [simple_value(batch, i) for i in range(len(frames))]
    assert batch.labels()[0] == "Ch" and verdicts[0].verdict == "water" and verdicts[0].value == 1.0
    assert verdicts[1].verdict == "silicate" and verdicts[1].value == 0.2
    assert batch.labels()[2] in ("X", "Xk", "Xc") and verdicts[2].verdict == "metal"
    assert verdicts[3].verdict == "silicate" and verdicts[3].value == 0.4  # V: rare silicate
    assert verdicts[4].verdict == "unclassified" and verdicts[4].value == 0.05


def test_batches_are_classified_when_full_or_when_observing_stops():
    ob = loop(batch_size=4)
    out = step(ob, 1, [frame(1, "S"), frame(2, "S")], observable=True)
    assert not out.results and out.cpu_s == 0 and ob.busy
    out = step(ob, 2, [frame(3, "Ch"), frame(4, "S")], observable=True)
    assert [r.obs_id for r in out.results] == [1, 2, 3, 4] and out.cpu_s == pytest.approx(4 * 0.02)
    out = step(ob, 3, [frame(5, "X")], observable=True)
    assert not out.results
    out = step(ob, 4, [], observable=False)  # dark now: finish the queue
    assert [r.obs_id for r in out.results] == [5] and not ob.busy
    assert {p.kind for p in out.written} == {"result", "spectrum"}


def test_full_store_drops_the_least_valuable_first_and_never_exceeds_capacity():
    per_obs = RESULT_BYTES + SPECTRUM_BYTES
    ob = loop(capacity=10 * per_obs, batch_size=1)
    written, deleted, refused = [], [], []
    for i in range(10):  # fill with common S-type spectra (value 0.2)
        out = step(ob, i, [frame(i, "S")])
        written += out.written
    assert ob.used_bytes == 10 * per_obs
    out = step(ob, 20, [frame(20, "Ch")])  # water (1.0) arrives: S spectra make room
    assert {p.kind for p in out.deleted} == {"spectrum"} and all(p.value == 0.2 for p in out.deleted)
    assert [p.obs_id for p in out.deleted] == [0, 1]  # oldest of the least valuable first
    assert {p.obs_id for p in out.written} == {20}
    assert ob.used_bytes <= 10 * per_obs
    for i in range(21, 40):  # more water until nothing less valuable is left to delete
        out = step(ob, i, [frame(i, "Ch")])
        deleted += out.deleted
        refused += out.refused
    assert refused and all(p.value == 1.0 for p in refused)
    assert ob.used_bytes <= 10 * per_obs
    kept = [p for p in ob.store.values() if p.kind == "spectrum"]
    assert all(p.value == 1.0 for p in kept)  # every S spectrum gave way to water
    results_kept = [p for p in ob.store.values() if p.kind == "result"]
    assert len(results_kept) >= 10  # results outrank every raw spectrum


def test_downlink_streams_results_first_then_spectra_by_value_within_the_budget():
    ob = loop(batch_size=3)
    step(ob, 1, [frame(1, "S", 1), frame(2, "Ch", 2), frame(3, "V", 3)], observable=True)
    budget = 3 * RESULT_BYTES + SPECTRUM_BYTES + 100
    out = step(ob, 2, window_open=True, link_up=True, rate_bps=1000.0, downlink_budget_bytes=budget)
    assert [p.kind for p in out.sent] == ["result", "result", "result", "spectrum"]
    assert [p.obs_id for p in out.sent[:3]] == [2, 3, 1]  # water, rare silicate, common
    assert out.sent[3].obs_id == 2
    assert out.tx_s == pytest.approx(budget * 8 / 1000.0)  # the radio was busy the whole budget
    assert ob.tx_id is not None and ob.tx_done == 100  # 100 bytes of the V spectrum are out
    out = step(ob, 3, window_open=True, link_up=True, rate_bps=1000.0, downlink_budget_bytes=600)
    assert [p.obs_id for p in out.sent] == [3] and ob.tx_done == 600 - (SPECTRUM_BYTES - 100)
    out = step(ob, 4, window_open=False)
    assert not out.sent and ob.tx_id is None  # cut off by the end of the pass: resent next time
    out = step(ob, 5, window_open=True, link_up=True, rate_bps=1000.0, downlink_budget_bytes=10_000)
    assert [p.obs_id for p in out.sent] == [1] and out.tx_s == pytest.approx(SPECTRUM_BYTES * 8 / 1000.0)
    assert not ob.store and ob.used_bytes == 0 and not ob.has_sendable()


def test_modes_hysteresis_and_brownout():
    ob = loop(batch_size=8, min_soc_observe=0.4, safe_soc=0.2, resume_soc=0.5)
    assert step(ob, 1, observable=True, soc=0.9).mode == "SURVEY"
    assert step(ob, 2, observable=True, soc=0.39).mode == "IDLE"
    assert step(ob, 3, observable=True, soc=0.42).mode == "IDLE"  # not yet 5 % above the limit
    assert step(ob, 4, observable=True, soc=0.46).mode == "SURVEY"
    step(ob, 5, [frame(1, "S"), frame(2, "S")], observable=True, soc=0.9)
    out = step(ob, 6, [frame(3, "S")], observable=True, soc=0.9, bus_reset=True)
    assert out.mode == "SAFE" and out.lost == 3 and not out.results and not ob.busy
    assert step(ob, 7, observable=True, soc=0.45).mode == "SAFE"  # below resume_soc
    assert step(ob, 8, observable=True, soc=0.55).mode == "SURVEY"
    assert step(ob, 9, observable=True, soc=0.15).mode == "SAFE"
    step(ob, 10, [frame(4, "S")], observable=True, soc=0.9)  # something to send
    assert step(ob, 11, link_up=True, window_open=True, soc=0.9).mode == "DOWNLINK"


def test_host_classifier_restores_the_thread_count():
    before = set_threads(None)
    set_threads(before)
    HostClassifier(threads=1).classify(BANDS, np.stack([SPECTRA["S"]]))
    assert set_threads(before) == before


def test_prospect_valuer_uses_the_prospecting_verdict():
    frames = [frame(i, k) for i, k in enumerate(["Ch", "S", "X", "V", "empty"], start=1)]
    refl = np.stack([f.reflectance for f in frames])
    err = np.stack([f.error for f in frames])
    batch = classify_batch(BANDS, refl, err)
    vals = ProspectValuer().value_batch(BANDS, refl, err, batch)
    assert vals[0].verdict == "water" and vals[0].value == 1.0  # 0.7 µm band: HIGH
    assert vals[1].verdict == "silicate" and vals[1].value < 0.5  # S-type: Band I, no resource
    assert vals[2].verdict == "metal" and 0.5 < vals[2].value < 1.0  # X, no albedo: MODERATE
    assert vals[4].verdict == "unclassified"
    simple = SimpleValuer().value_batch(BANDS, refl, err, batch)
    assert [v.verdict for v in simple] == [simple_value(batch, i).verdict for i in range(5)]


def test_a_mission_flies_with_the_prospect_valuer():
    from tests.sim.conftest import fly

    m = fly(duration="3 h", overrides={"spacecraft.computer.value_rule": "prospect", "spacecraft.computer.kind": "simple"})
    verdicts = {c.verdict for c in m.bus.history("classification")}
    assert "water" in verdicts and type(m.extra["onboard"].valuer).__name__ == "ProspectValuer"


class ConstantValuer:
    """Every result worth the same: downlink in time order (a send-everything baseline)."""

    name = "constant"

    def value_batch(self, wavelength_um, reflectance, error, batch):
        return [Valuation(0.5, simple_value(batch, i).verdict) for i in range(len(batch))]


class FifoLoop(OnboardLoop):
    """Another onboard software behind the same seam, with its own output file and report."""

    def write_outputs(self, out_dir):
        (out_dir / "fifo.txt").write_text(f"{self.next_id - 1} products\n")
        return ["fifo.txt"]

    def report(self):
        return {"products": self.next_id - 1}


def test_the_onboard_software_is_replaceable_behind_the_seam(tmp_path):
    from sim.mission import run_mission, simple_onboard
    from sim.outputs import write_run
    from sim.scenario import load_scenario

    def factory(config, classifier):
        base = simple_onboard(config, classifier)
        return FifoLoop(base.cfg, classifier, ConstantValuer())

    sc = load_scenario("default", duration="6 h", overrides={"spacecraft.computer.kind": "simple"})
    m = run_mission(sc, onboard_factory=factory)
    report = write_run(m, tmp_path, plots=False)
    assert report["onboard"]["software"] == "FifoLoop" and report["onboard"]["valuer"] == "constant"
    assert report["onboard"]["details"]["products"] == 2 * report["observations"]["classified"]
    assert "fifo.txt" in report["files"] and (tmp_path / "fifo.txt").exists()
    sent = [d for d in m.bus.history("downlink") if d.kind == "spectrum"]
    assert sent and [d.obs_id for d in sent] == sorted(d.obs_id for d in sent)  # time order
