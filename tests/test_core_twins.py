"""Every spectral-core kernel equals its plainly written numpy twin (tests/twins/core_twins.py)."""

from __future__ import annotations

import numpy as np
import pytest

from firmware import busdemeo
from firmware.kernels import demeo, features, resample
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
    np.testing.assert_allclose(got[..., 0][ok], want[..., 0][ok], atol=1e-9)  # depth
    np.testing.assert_allclose(got[..., 2][ok], want[..., 2][ok], rtol=1e-6, atol=1e-12)  # σ
    # the centre is an argmin on a dense grid: equal, or one step apart on a flat bottom;
    # where the fit is flat (depth ~ 0, e.g. a straight spectrum) the argmin is arbitrary
    step = np.diff(features.FEATURE_GRID_UM[:2])[0]
    curved = ok & (np.abs(want[..., 0]) > 1e-6)
    assert np.all(np.abs(got[..., 1][curved] - want[..., 1][curved]) <= step)
    assert np.mean(got[..., 3][ok] == want[..., 3][ok]) >= 0.99


def test_features_equal_twin_on_real_spectra():
    fine = np.vstack([_fine(s.wavelength_um, s.reflectance[None]) for s in _real_subset(3)])
    _compare_features(fine)


def test_features_equal_twin_on_edge_cases(batch):
    _compare_features(_fine(*batch))


def test_classify_grid_equals_twin_on_real_spectra_and_edge_cases(batch):
    model, tmpl_sr = busdemeo._kernel_constants()
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
    args = (r41, err, det, DEMEO_GRID_UM, model.eigenvectors, model.data_mean,
            model.template_mean, model.template_sigma, tmpl_sr, 1)  # fmt: skip
    cls, w, slope, pc, chi2, status, _ = demeo.classify_grid(*args)
    t_cls, t_w, t_slope, t_pc, t_chi2, t_status = twin.classify_grid(*args)
    np.testing.assert_array_equal(status, t_status)
    np.testing.assert_allclose(slope, t_slope, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(pc, t_pc, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(chi2, t_chi2, rtol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(cls, t_cls)
    np.testing.assert_array_equal(w, t_w)
    assert len(set(cls[status == 0].tolist())) >= 12  # many tree branches were exercised


def test_float32_and_float64_inputs_agree(batch):
    axis, x = batch
    a = busdemeo.classify_batch(axis, x)
    b = busdemeo.classify_batch(axis, x.astype(np.float64))
    np.testing.assert_array_equal(a.class_index, b.class_index)
    np.testing.assert_allclose(a.pc, b.pc, atol=1e-5, equal_nan=True)
