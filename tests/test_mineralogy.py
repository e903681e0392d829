"""Calibrations: kernel = twin, domains and class refusals with reasons, Gaffey iteration,
phase correction, and the must-show on lab spectra via tests/test_bands_lab.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import mineralogy as M
from firmware.bands import analyse
from firmware.kernels import bands as KB
from firmware.taxonomy import CLASS_NAMES
from tests.test_bands_lab import lab_bands
from tests.twins import band_twins as twin


def _run(values, sigma, idx):
    got = M.calibrate(values, sigma, idx, M.class_table(), M.DOMAIN, M.SIGMA_CAL)
    want = twin.calibrate(values, sigma, idx, M.class_table(), M.DOMAIN, M.SIGMA_CAL)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, equal_nan=True)
    return got


def test_calibrate_equals_twin_on_lab_band_parameters_for_every_class():
    b, _ = lab_bands()
    rng = np.random.default_rng(5)
    vals = M.masked_band_values(b.values, b.status)
    sig = np.abs(rng.normal(0, 0.01, vals.shape))
    for c in [*range(len(CLASS_NAMES)), M.UNKNOWN_CLASS]:
        _run(vals, sig, np.full(len(vals), c, np.int64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.8, 1.2) | st.just(float("nan")), min_size=3, max_size=3),
       st.floats(0, 3) | st.just(float("nan")), st.integers(-1, len(CLASS_NAMES)))  # fmt: skip
def test_calibrate_equals_twin_on_random_parameters(bics, bar, c):
    vals = np.full((1, KB.N_OUT), np.nan)
    vals[0, KB.BIC], vals[0, KB.BIIC] = bics[0], 1.7 + bics[1]
    vals[0, KB.BAR] = bar
    sig = np.full((1, KB.N_OUT), 0.003)
    _run(vals, sig, np.array([c]))


def _band(bic, biic, bar, sig=0.002):
    vals = np.full((1, KB.N_OUT), np.nan)
    vals[0, [KB.BIC, KB.BIIC, KB.BAR]] = bic, biic, bar
    return vals, np.full((1, KB.N_OUT), sig)


def test_ordinary_chondrite_like_s_type_gets_dunn_with_calibration_sigma():
    vals, sig = _band(0.95, 1.94, 0.55)
    est, s, code = M.calibrate(vals, sig, np.array([CLASS_NAMES.index("S")]), M.class_table(),
                               M.DOMAIN, M.SIGMA_CAL)  # fmt: skip
    assert code[0, M.FA_DUNN] == M.APPLIED
    assert est[0, M.FA_DUNN] == pytest.approx(242.5 * 0.95 - 204.5)
    assert est[0, M.OL_DUNN] == pytest.approx(-0.242 * 0.55 + 0.728)
    # σ = √(σ_cal² + (242.5 · 0.002)²)
    assert s[0, M.FA_DUNN] == pytest.approx(np.hypot(M.SIGMA_CAL[M.FA_DUNN], 242.5 * 0.002))
    assert code[0, M.FS_BURBINE] == M.NOT_FOR_CLASS  # V-type relation refused for an S


def test_out_of_domain_is_refused_with_the_domain_in_the_reason():
    b = analyse(*_synthetic(1.06, depth=0.3), n_mc=0)  # an olivine-like band, BAR 0
    d = M.mineralogy(b, "S")
    fa = d["estimates"]["fa_dunn2010"]
    assert fa["status"] == "out_of_domain" and fa["value"] is None
    assert "0.91–1.03" in fa["reason"] and "measured BIC 1.0" in fa["reason"]
    assert d["estimates"]["fs_burbine2009"]["status"] == "not_for_class"
    assert "not S" in d["estimates"]["fs_burbine2009"]["reason"]


def test_non_mafic_class_gets_no_calibration_at_all():
    b = analyse(*_synthetic(0.95, depth=0.2), n_mc=0)
    d = M.mineralogy(b, "Ch")
    assert all(e["status"] == "not_for_class" for e in d["estimates"].values())


def test_unknown_class_is_decided_by_the_band_domain_alone():
    b = analyse(*_synthetic(0.95, depth=0.2, band2=0.1), n_mc=0)
    d = M.mineralogy(b, None)
    assert d["class_known"] is False
    assert {e["status"] for e in d["estimates"].values()} <= {"applied", "out_of_domain", "no_convergence", "not_measured"}


def test_gaffey_2002_iteration_converges_inside_its_ranges_and_refuses_outside():
    wo, fs, ok = M._gaffey(0.93, 1.95)  # a eucrite-like pyroxene
    assert ok and 0 < wo < 50 and 0 < fs < 50
    assert twin.gaffey2002(0.93, 1.95) == pytest.approx((wo, fs))
    assert not M._gaffey(1.05, 2.3)[2]  # Fs > 50: outside the equations


def test_phase_correction_lowers_band1_depth_of_s_types_and_leaves_centres():
    b = analyse(*_synthetic(0.95, depth=0.2), n_mc=0).to_dict()
    d = M.phase_correction(b, "Sw", 40.0, demeo_slope=0.30)
    assert d["applied"]
    assert d["band1_depth_corrected"] == pytest.approx(b["band1"]["depth"] - 0.00067 * 40)
    assert d["demeo_slope_corrected_per_um"] == pytest.approx(0.30 - 0.040)
    assert "band1_centre_um" in d["unchanged"]
    assert not M.phase_correction(b, "C", 40.0)["applied"]
    assert not M.phase_correction(b, "S", 120.0)["applied"]
    assert "no phase angle" in M.phase_correction(b, "S", None)["reason"]


def _synthetic(centre_um, depth=0.2, band2=0.0):
    """A red continuum with a Gaussian Band I (and optional Band II at 1.95 µm)."""
    wl = np.linspace(0.45, 2.45, 500)
    r = (1 + 0.1 * (wl - 0.55)) * (1 - depth * np.exp(-0.5 * ((wl - centre_um) / 0.12) ** 2))
    r *= 1 - band2 * np.exp(-0.5 * ((wl - 1.95) / 0.2) ** 2)
    return wl, r


def test_batch_by_class_index_equals_batch_by_labels():
    from firmware.taxonomy import CLASS_NAMES

    b, _ = lab_bands()
    rng = np.random.default_rng(3)
    idx = rng.integers(-1, len(CLASS_NAMES), len(b))
    labels = [None if i < 0 else CLASS_NAMES[i] for i in idx]
    a = M.mineralogy_batch(b, class_index=idx)
    c = M.mineralogy_batch(b, class_labels=labels)
    for x, y in zip(a, c, strict=True):
        np.testing.assert_array_equal(x, y)
