"""firmware.bands public API on real asteroid spectra: S-complex Band I centres, Monte-Carlo
σ, float32 input, continuum removal, phase trend, errors and fuzzing."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from firmware import bands
from firmware.errors import InputError
from firmware.kernels import bands as K
from firmware.mineralogy import BAND1_DEPTH_PER_DEG, BAND1_DEPTH_PER_DEG_SIGMA
from tests.spectra_fixtures import labels, shared_axis_batch, spectrum


@cache
def _s_complex():
    rows = [r for r in labels() if r["complex"] == "S"]
    return rows, [bands.analyse_spectrum(spectrum(r["file"]), n_mc=0) for r in rows]


def test_s_complex_band_I_centres_lie_in_0_9_to_1_1_um():
    rows, res = _s_complex()
    measured = [b.band1.centre_um for b in res if b.band1.measured]
    assert len(rows) >= 400
    assert len(measured) / len(rows) >= 0.95  # measured 0.97 (the rest: flat, noisy bottoms)
    inside = np.mean([(0.9 <= c <= 1.1) for c in measured])
    assert inside >= 0.95, inside  # measured 0.97


def test_band1_depth_rises_with_phase_angle_as_the_constant_says():
    """Re-derive BAND1_DEPTH_PER_DEG from the Marsset 2022 S/Q spectra (fails if it drifts)."""
    pa, depth = [], []
    for r, b in zip(*_s_complex(), strict=True):
        if r["source"] == "Marsset2022" and r["phase_angle_deg"] and b.band1.measured:
            pa.append(float(r["phase_angle_deg"]))
            depth.append(b.band1.depth)
    for r in labels():
        if r["source"] == "Marsset2022" and r["phase_angle_deg"] and r["class_bdm"] == "Q":
            b = bands.analyse_spectrum(spectrum(r["file"]), n_mc=0)
            if b.band1.measured:
                pa.append(float(r["phase_angle_deg"]))
                depth.append(b.band1.depth)
    slope = np.polyfit(pa, depth, 1)[0]
    assert len(pa) >= 180
    assert abs(slope - BAND1_DEPTH_PER_DEG) <= BAND1_DEPTH_PER_DEG_SIGMA


def test_monte_carlo_sigma_is_deterministic_and_scales_with_the_noise():
    s = spectrum("demeo2009/a000005.sp28.txt")
    a = bands.analyse(s.wavelength_um, s.reflectance, s.error)
    b = bands.analyse(s.wavelength_um, s.reflectance, s.error)
    assert a.to_dict() == b.to_dict()
    c = bands.analyse(s.wavelength_um, s.reflectance, 4 * s.error)
    # depth and area σ follow the photon noise; the centre σ also carries a floor from where
    # the fit window lands on an asymmetric band (a method term, ~0.002 µm here)
    assert c.band1.depth_sigma > 2 * a.band1.depth_sigma
    assert c.band1.area_sigma_um > 1.5 * a.band1.area_sigma_um
    assert c.band1.centre_sigma_um > a.band1.centre_sigma_um
    d = bands.analyse(s.wavelength_um, s.reflectance)  # no error column: DER_SNR
    assert "DER_SNR" in d.uncertainty_source and d.band1.centre_sigma_um > 0


def test_float32_batch_equals_float64_and_is_not_upcast_by_the_caller():
    axis, x = shared_axis_batch(n=30, seed=4)
    b32 = bands.analyse_batch(axis, x)
    b64 = bands.analyse_batch(axis, x.astype(np.float64))
    np.testing.assert_allclose(b32.values, b64.values, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert x.dtype == np.float32


def test_batch_row_equals_single_spectrum():
    axis, x = shared_axis_batch(n=12, seed=6, edge_cases=False)
    batch = bands.analyse_batch(axis, x, n_mc=0)
    for i in range(len(x)):
        assert batch.result(i).to_dict() == bands.analyse(axis, x[i], n_mc=0).to_dict()


@pytest.mark.parametrize("method", ["linear", "hull"])
def test_continuum_removed_is_at_most_one_at_the_continuum_support(method):
    s = spectrum("demeo2009/a000004.sp02.txt")
    grid, cont, removed = bands.continuum_removed(s.wavelength_um, s.reflectance, method)
    ok = np.isfinite(removed)
    assert ok.sum() > 150
    if method == "hull":
        assert np.all(removed[ok] <= 1 + 1e-9)
    assert np.nanmin(removed) < 0.75  # Vesta's deep Band I
    with pytest.raises(InputError, match="continuum method"):
        bands.continuum_removed(s.wavelength_um, s.reflectance, "spline")


def test_nir_only_spectrum_flags_its_blue_shoulder():
    r = next(r for r in labels() if r["source"] == "Marsset2022" and float(r["wmin_um"]) > 0.7)
    b = bands.analyse_spectrum(spectrum(r["file"]), n_mc=0)
    assert any(f.startswith("band1_shoulder_at_data_edge") for f in b.flags)


def test_errors_name_the_problem():
    with pytest.raises(InputError, match=r"\(N spectra, B bands\)"):
        bands.analyse_batch(np.linspace(0.5, 2, 5), np.ones((2, 6)))
    with pytest.raises(InputError, match="error must have"):
        bands.analyse_batch(np.linspace(0.5, 2, 5), np.ones((2, 5)), np.ones((2, 4)))
    with pytest.raises(InputError, match="NaN or inf"):
        bands.analyse_batch(np.array([0.5, np.nan]), np.ones((1, 2)))
    with pytest.raises(InputError, match="n_mc"):
        bands.analyse_batch(np.linspace(0.5, 2, 5), np.ones((1, 5)), n_mc=-1)


def test_unsorted_axis_is_sorted_not_refused():
    s = spectrum("demeo2009/a000004.sp02.txt")
    order = np.random.default_rng(1).permutation(s.wavelength_um.size)
    a = bands.analyse(s.wavelength_um[order], s.reflectance[order], n_mc=0)
    b = bands.analyse(s.wavelength_um, s.reflectance, n_mc=0)
    assert a.to_dict() == b.to_dict()


@settings(max_examples=80, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(2, 60)),
              elements=st.floats(-1, 3, width=32) | st.just(float("nan"))),
       st.floats(0.3, 1.5), st.floats(0.01, 2.5))  # fmt: skip
def test_no_crash_and_sane_outputs_on_random_batches(x, start, span):
    axis = start + np.linspace(0, span, x.shape[1])
    b = bands.analyse_batch(axis, x, n_mc=3)
    assert b.values.shape == (x.shape[0], K.N_OUT)
    assert set(np.unique(b.status)) <= {K.OK, K.NO_COVERAGE, K.NO_BAND, K.BAD_FIT}
    ok = b.status[:, 0] == K.OK
    c = b.band1_centre_um[ok]
    assert np.all((c >= K.SEARCH_LO_UM[0] - 1e-9) & (c <= K.SEARCH_HI_UM[0] + 1e-9))
    assert np.all(np.isnan(b.bar) | (b.bar >= 0))
