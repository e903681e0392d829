"""Every spectral-core kernel equals its plainly written numpy twin (tests/twins/core_twins.py)."""

from __future__ import annotations

import numpy as np
import pytest

from firmware import busdemeo
from firmware.batch_input import validate_batch
from firmware.kernels import demeo, features, resample
from firmware.kernels.thermal import thermal_model
from firmware.taxonomy import DEMEO_GRID_UM
from tests.spectra_fixtures import shared_axis_batch, spectrum, visnir_rows
from tests.twins import core_twins as twin


@pytest.fixture(scope="module")
def batch():
    return shared_axis_batch()


def _real_subset(step=7):
    return [spectrum(r["file"]) for r in visnir_rows()[::step]]


def test_resample_linear_equals_twin(batch):
    axis, x = batch
    got = resample.resample_linear(axis, x, DEMEO_GRID_UM)
    want = twin.resample_linear(axis, x, DEMEO_GRID_UM)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, equal_nan=True)


def test_resample_linear_bridges_nan_holes_only_between_valid_samples():
    axis = np.array([0.5, 0.6, 0.7, 0.8])
    x = np.array([[1.0, np.nan, 3.0, np.nan]])
    got = resample.resample_linear(axis, x, np.array([0.45, 0.55, 0.65, 0.7, 0.75]))
    np.testing.assert_allclose(got[0], [np.nan, 1.5, 2.5, 3.0, np.nan], equal_nan=True)


@pytest.mark.parametrize("half_width", [0.0025, 0.0125, 0.05])
def test_resample_binned_equals_twin_on_real_spectra(half_width):
    for s in _real_subset():
        got = resample.resample_binned(s.wavelength_um, s.reflectance[None], DEMEO_GRID_UM, half_width)
        want = twin.resample_binned(s.wavelength_um, s.reflectance[None], DEMEO_GRID_UM, half_width)
        np.testing.assert_allclose(got, want, rtol=1e-10, equal_nan=True, err_msg=s.source)


def test_resample_binned_equals_twin_on_edge_cases(batch):
    axis, x = batch
    got = resample.resample_binned(axis, x, DEMEO_GRID_UM, 0.0125)
    want = twin.resample_binned(axis, x, DEMEO_GRID_UM, 0.0125)
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


def test_coverage_equals_twin(batch):
    axis, x = batch
    got = resample.coverage(axis, x, 0.45, 2.45)
    want = twin.coverage(axis, x, 0.45, 2.45)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def _fine(axis, x):
    return resample.resample_binned(
        axis, x, features.FEATURE_GRID_UM, features.FEATURE_RESAMPLE_HALF_WIDTH_UM
    )


def _compare_features(fine):
    got = features.measure_features(fine, *features.feature_model())
    want = twin.measure_features(
        fine, features.FEATURE_GRID_UM, features.FEATURE_WINDOWS_UM,
        features.FEATURE_CENTRE_UM, features.FEATURE_CENTRE_TOL_UM,
    )  # fmt: skip
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want[..., 0])
    np.testing.assert_allclose(got[..., 2][ok], want[..., 2][ok], rtol=1e-4, atol=1e-7)  # σ
    # The kernel finds the polynomial's minimum coarse-to-fine, the twin by a dense scan of
    # 8193 points: depths agree to 1e-5 and centres to 0.002 µm, except where two minima
    # of nearly equal depth compete (a flat or noisy window): allowed for < 2 % of cases.
    curved = ok & (np.abs(want[..., 0]) > 1e-6)
    same = (np.abs(got[..., 0] - want[..., 0]) <= 1e-5) & (np.abs(got[..., 1] - want[..., 1]) <= 0.002)
    assert np.mean(same[curved]) >= 0.98
    assert np.mean(got[..., 3][ok] == want[..., 3][ok]) >= 0.98


def test_features_equal_twin_on_real_spectra():
    fine = np.vstack([_fine(s.wavelength_um, s.reflectance[None]) for s in _real_subset(3)])
    _compare_features(fine)


def test_features_equal_twin_on_edge_cases(batch):
    _compare_features(_fine(*batch))


def _model_args():
    model, tmpl_sr, _inv_var = busdemeo._kernel_constants()
    return (model.eigenvectors, model.data_mean, model.template_mean, model.template_sigma, tmpl_sr)


@pytest.mark.parametrize("has_err", [False, True])
def test_classify_grid_equals_twin_on_real_spectra_and_edge_cases(batch, has_err):
    model, tmpl_sr, inv_var = busdemeo._kernel_constants()
    axis, x = batch
    r41 = resample.resample_binned(axis, x, DEMEO_GRID_UM, busdemeo.GRID_HALF_WIDTH_UM)
    reals = [spectrum(r["file"]) for r in visnir_rows()[::2]]
    r41 = np.vstack([r41] + [
        resample.resample_binned(s.wavelength_um, s.reflectance[None], DEMEO_GRID_UM, 0.0125)
        for s in reals
    ])  # fmt: skip
    rng = np.random.default_rng(3)
    det = rng.integers(0, 2, size=(r41.shape[0], 3)).astype(float)  # exercise every feature branch
    err = np.full_like(r41, 0.01)
    cls, w, slope, pc, chi2, status, indet, thermal = demeo.classify_grid(
        r41, err, has_err, det, DEMEO_GRID_UM, model.eigenvectors, model.data_mean,
        model.template_mean, model.template_sigma, inv_var, tmpl_sr, 1,
        *thermal_model(DEMEO_GRID_UM), 7,
    )  # fmt: skip
    t_cls, t_w, t_slope, t_pc, t_chi2, t_status, t_indet, _, t_thermal = twin.classify_grid(
        r41, err, has_err, det, DEMEO_GRID_UM, *_model_args(), 1
    )
    np.testing.assert_array_equal(status, t_status)
    np.testing.assert_allclose(slope, t_slope, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(pc, t_pc, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(chi2, t_chi2, rtol=1e-6, equal_nan=True)  # float32 output
    np.testing.assert_array_equal(cls, t_cls)
    np.testing.assert_array_equal(w, t_w)
    np.testing.assert_array_equal(indet, t_indet)
    np.testing.assert_allclose(thermal, t_thermal, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert len(set(cls[status == 0].tolist())) >= 12  # many tree branches were exercised


@pytest.mark.parametrize("with_error", [False, True])
def test_fused_pipeline_equals_the_chain_of_twins(batch, with_error):
    axis, x = batch
    rng = np.random.default_rng(5)
    x = x.copy()
    x[3, 10:14] = -1.0  # MIT "missing" marker inside a spectrum
    err = (np.abs(x) * rng.uniform(0.005, 0.03, x.shape)).astype(np.float32) if with_error else None
    got = busdemeo.classify_batch(axis, x, err)
    want = twin.bus_demeo_pipeline(
        axis, x, err, DEMEO_GRID_UM, busdemeo.GRID_HALF_WIDTH_UM,
        features.FEATURE_GRID_UM, features.FEATURE_RESAMPLE_HALF_WIDTH_UM,
        (features.FEATURE_WINDOWS_UM, features.FEATURE_CENTRE_UM, features.FEATURE_CENTRE_TOL_UM),
        _model_args(), busdemeo.MAX_EDGE_STEPS, busdemeo.MAX_GAP_UM, busdemeo.MIN_POINTS,
        busdemeo.K_MIN_DEPTH,
    )  # fmt: skip
    cls, w, slope, pc, chi2, feats, status, edge, indet, cov, thermal = want
    np.testing.assert_array_equal(got.status, status)
    np.testing.assert_array_equal(got.class_index, cls)
    np.testing.assert_array_equal(got.w, w)
    np.testing.assert_allclose(got.slope, slope, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got.pc, pc, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got.chi2, chi2, rtol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(got.edge_filled, edge)
    np.testing.assert_array_equal(got.tree_indeterminate, indet)
    np.testing.assert_allclose(got.first_um, cov[:, 0], equal_nan=True)
    np.testing.assert_array_equal(np.isnan(got.features), np.isnan(feats))
    ok = ~np.isnan(feats[:, :, 3])
    assert np.mean(got.features[:, :, 3][ok] == feats[:, :, 3][ok]) >= 0.98  # detections
    np.testing.assert_allclose(got.thermal, thermal, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_float32_and_float64_inputs_agree(batch):
    axis, x = batch
    a = busdemeo.classify_batch(axis, x)
    b = busdemeo.classify_batch(axis, x.astype(np.float64))
    np.testing.assert_array_equal(a.class_index, b.class_index)
    np.testing.assert_allclose(a.pc, b.pc, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("grid", [DEMEO_GRID_UM, features.FEATURE_GRID_UM])
@pytest.mark.parametrize("half_width", [0.0025, 0.005, 0.0125])
def test_planned_resampling_equals_the_searching_kernel_on_complete_rows(batch, grid, half_width):
    axis, x = batch
    complete = x[~np.isnan(x).any(axis=1)].astype(np.float64)
    idx, t = resample.resample_plan(axis, grid, half_width)
    want = twin.resample_binned(axis, complete, grid, half_width)
    got = np.empty_like(want)
    for i, row in enumerate(complete):
        resample.resample_planned_one(row, idx, t, got[i])
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def _thermal_cases():
    """Normalised 41-point spectra: every labelled VIS-NIR file (NEOs with thermal tails
    among them), a C-type template with injected ~350 K tails, and the edge cases."""
    from firmware.kernels.thermal import planck_ratio

    rows = visnir_rows()
    r41 = np.vstack([
        resample.resample_binned(spectrum(r["file"]).wavelength_um, spectrum(r["file"]).reflectance[None],
                                 DEMEO_GRID_UM, busdemeo.GRID_HALF_WIDTH_UM)
        for r in rows
    ])  # fmt: skip
    model = busdemeo._kernel_constants()[0]
    c_type = model.template_mean[2]
    tail = planck_ratio(DEMEO_GRID_UM, 350.0) / planck_ratio(2.45, 350.0)
    injected = np.vstack([c_type + a * tail for a in (0.02, 0.05, 0.2, 0.6)])
    g = DEMEO_GRID_UM
    edge = np.vstack([
        np.ones(41), 1 + 2.0 * (g - 0.55), np.where(g > 1.6, np.nan, c_type),
        np.where((g > 2.0) & (g < 2.2), np.nan, c_type + 0.3 * tail),
        c_type * (1 + np.random.default_rng(2).normal(0, 0.03, 41)),
    ])  # fmt: skip
    x = np.vstack([r41, injected, edge])
    return x / x[:, [2]]


def test_thermal_tail_kernel_equals_twin_on_real_spectra_and_edge_cases():
    from firmware.kernels.thermal import thermal_tail_one

    model = thermal_model(DEMEO_GRID_UM)
    x = _thermal_cases()
    n_detected = 0
    for row in x:
        got = row.copy()
        ex, tk = thermal_tail_one(got, DEMEO_GRID_UM, *model)
        want, t_ex, t_tk = twin.thermal_tail(row.copy(), DEMEO_GRID_UM)
        np.testing.assert_allclose([ex, tk], [t_ex, t_tk], rtol=1e-7, atol=1e-9, equal_nan=True)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, equal_nan=True)
        n_detected += ex > 0
    assert 8 <= n_detected <= 60  # the real NEO tails and the injected ones, not everything


def _per_spectrum(axis, x, error=None):
    """The fused kernel with the block path switched off: every row per spectrum."""
    import dataclasses

    wl, refl, err = validate_batch(axis, x, error)
    model, tmpl_sr, inv_var = busdemeo._kernel_constants()
    plan = dataclasses.replace(busdemeo.axis_plan(wl), block_ok=False)
    has_err = err is not None
    return busdemeo.batch_result(busdemeo._call_kernel(
        wl, refl, err if has_err else np.empty((0, 0)), has_err, plan, model, tmpl_sr, inv_var,
        busdemeo.K_MIN_DEPTH, True, False, None,
    ))  # fmt: skip


def _block_cases():
    """Complete rows (the block path): benchmark spectra (real spectra with gain, tilt and
    noise; NEOs with thermal tails among them), real spectra on a shared axis, and flat, very
    red and noisy rows."""
    from benchmarks.data import make_inputs

    axis, x, _ = make_inputs(2000)
    axis2, y = shared_axis_batch(n=200, seed=9, range_um=(0.45, 2.45))
    y = y[~np.isnan(y).any(axis=1)]
    return [(axis, x), (axis2, y)]


@pytest.mark.parametrize("with_error", [False, True])
def test_block_path_equals_the_per_spectrum_path(with_error):
    for axis, x in _block_cases():
        err = (np.abs(x) * 0.01).astype(np.float32) if with_error else None
        got = busdemeo.classify_batch(axis, x, err)
        want = _per_spectrum(axis, x, err)
        for name in ("class_index", "w", "status", "tree_indeterminate", "edge_filled"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        for name in ("slope", "pc", "thermal", "first_um", "last_um"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9,
                                       atol=1e-12, equal_nan=True, err_msg=name)  # fmt: skip
        np.testing.assert_allclose(got.chi2, want.chi2, rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(got.features[..., 3], want.features[..., 3])
        np.testing.assert_allclose(got.features, want.features, rtol=1e-6, atol=1e-7, equal_nan=True)
        assert (got.thermal[:, 0] > 0).sum() >= 3 or len(x) < 1000  # thermal tails were removed
        assert len(set(got.class_index.tolist())) >= 12


def test_classes_only_mode_and_the_fused_survey_give_the_same_values():
    from firmware import bands

    for axis, x in _block_cases() + [shared_axis_batch(n=64, seed=2)]:
        full = busdemeo.classify_batch(axis, x)
        only = busdemeo.classify_classes(axis, x)
        # the classes-only mode's C/X fallback (χ² of the C/X classes only) is exercised
        assert full.tree_indeterminate.any()
        np.testing.assert_array_equal(only.class_index, full.class_index)
        np.testing.assert_array_equal(only.w, full.w)
        np.testing.assert_array_equal(only.status, full.status)
        np.testing.assert_allclose(only.pc, full.pc, rtol=0, atol=0, equal_nan=True)
        assert only.labels() == full.labels()
        bd, bb = bands.survey_batch(axis, x)
        sep = bands.analyse_batch(axis, x, n_mc=0)
        np.testing.assert_array_equal(bd.class_index, full.class_index)
        np.testing.assert_allclose(bd.chi2, full.chi2, rtol=0, equal_nan=True)
        np.testing.assert_allclose(bb.values, sep.values, rtol=1e-12, atol=1e-15, equal_nan=True)
        np.testing.assert_array_equal(bb.status, sep.status)
        np.testing.assert_array_equal(bb.first_um, sep.first_um)


@pytest.mark.parametrize("grid, half_width", [
    (DEMEO_GRID_UM, 0.0125), (features.FEATURE_GRID_UM, 0.005), (None, 0.005)])  # fmt: skip
def test_resample_taps_equal_the_binned_twin_on_complete_rows(batch, grid, half_width):
    from firmware.kernels.bands import BAND_GRID_UM

    grid = BAND_GRID_UM if grid is None else grid
    for axis in (batch[0], np.linspace(0.45, 2.45, 120), np.linspace(0.40, 2.50, 517)):
        x = np.random.default_rng(4).uniform(0.5, 1.5, (20, axis.size))
        taps, w, valid = resample.resample_taps(axis, grid, half_width)
        got = np.einsum("kt,nkt->nk", w, x[:, taps])
        want = twin.resample_binned(axis, x, grid, half_width)
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(valid, ~np.isnan(want[0]))


@pytest.mark.parametrize("with_error", [False, True])
def test_cx_fallback_chi2_column_equals_a_plain_numpy_chi2(with_error):
    """`_chi2_column` (the classes-only mode's C/X fallback, read from a column of a block)
    against the reduced χ² written out in numpy, σ² = σ_class² + σ_obs², on real normalised
    spectra with NaN errors here and there; every other class is NaN."""
    from firmware.kernels.demeo_block import _chi2_column

    model, _tmpl_sr, inv_var = busdemeo._kernel_constants()
    axis, x = shared_axis_batch(n=40, seed=5, range_um=(0.45, 2.45))
    x = x[~np.isnan(x).any(axis=1)].astype(np.float64)
    r41 = resample.resample_binned(axis.astype(np.float64), x, DEMEO_GRID_UM, 0.0125)
    r41 /= r41[:, [int(np.argmin(abs(DEMEO_GRID_UM - 0.55)))]]
    rng = np.random.default_rng(11)
    e41 = np.abs(r41) * rng.uniform(0.005, 0.05, r41.shape)
    e41[rng.random(e41.shape) < 0.1] = np.nan
    r_t, e_t = np.ascontiguousarray(r41.T), np.ascontiguousarray(e41.T)
    var = model.template_sigma[:, None, :] ** 2 + (np.nan_to_num(e41) ** 2 if with_error else 0.0)
    want = np.mean((r41[None] - model.template_mean[:, None, :]) ** 2 / var, axis=2)  # (25, N)
    out = np.empty(model.template_mean.shape[0])
    cx = np.zeros(out.size, bool)
    cx[demeo.CX_CLASSES] = True
    for s in range(r_t.shape[1]):
        _chi2_column(r_t, e_t, s, with_error, model.template_mean, model.template_sigma,
                     inv_var, out)  # fmt: skip
        np.testing.assert_allclose(out[cx], want[cx, s], rtol=1e-12)
        assert np.isnan(out[~cx]).all()
