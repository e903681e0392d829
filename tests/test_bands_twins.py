"""The band-analysis kernels equal their numpy twins (tests/twins/band_twins.py) on real
asteroid and lab spectra and on the edge cases: NaN holes, flat, very red, truncated, noisy,
all-NaN."""

from __future__ import annotations

import numpy as np
import pytest

from firmware import bands
from firmware.kernels import bands as K
from firmware.kernels import continuum as C
from firmware.kernels.band_pipeline import band_pipeline
from firmware.kernels.noise import der_snr_noise
from firmware.kernels.resample import resample_binned
from tests.spectra_fixtures import shared_axis_batch, spectrum, visnir_rows
from tests.test_bands_lab import lab_spectra
from tests.twins import band_twins as twin


@pytest.fixture(scope="module")
def batch():
    return shared_axis_batch(n=48, seed=3)


def _on_grid(axis, x):
    x = np.where(x > 0, x, np.nan)
    return resample_binned(axis, x, K.BAND_GRID_UM, K.BAND_RESAMPLE_HALF_WIDTH_UM)


def test_hull_continuum_equals_twin(batch):
    axis, x = batch
    np.testing.assert_allclose(
        C.hull_continuum(axis, x), twin.hull_continuum(axis, x), rtol=1e-12, equal_nan=True
    )


def test_hull_lies_on_or_above_every_sample_and_touches_the_maxima(batch):
    axis, x = batch
    cont = C.hull_continuum(axis, x)
    ok = np.isfinite(cont) & (x > 0)
    assert np.all(cont[ok] >= x[ok] * (1 - 1e-6))
    for i in range(len(x)):
        if ok[i].any():
            j = np.nanargmax(np.where(x[i] > 0, x[i], np.nan))
            assert cont[i, j] == pytest.approx(x[i, j], rel=1e-6)


def test_tie_continuum_equals_twin(batch):
    axis, x = batch
    r = _on_grid(axis, x)
    got, gties = C.tie_continuum(K.BAND_GRID_UM, r, K.TIE_LO_UM, K.TIE_HI_UM)
    want, wties = twin.tie_continuum(K.BAND_GRID_UM, r, K.TIE_LO_UM, K.TIE_HI_UM)
    np.testing.assert_array_equal(gties, wties)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def _compare(values, status, want_values, want_status):
    np.testing.assert_array_equal(status, want_status)
    # centres: the kernel's coarse-to-Newton minimum vs the twin's dense scan (1e-4 of the
    # window = 3e-5 µm); depths, areas, BAR, slope and ties to float rounding
    np.testing.assert_allclose(values, want_values, rtol=1e-6, atol=5e-5, equal_nan=True)


def test_band_pipeline_equals_twin_on_real_spectra_and_edge_cases(batch):
    axis, x = batch
    z = np.empty((0, axis.size))
    got = band_pipeline(axis, x, np.empty((0, 0)), False, *bands.kernel_args(axis.astype(float)), z, 4)
    want = twin.band_pipeline(axis, x, None, z)
    _compare(got[0], got[2], want[0], want[2])
    assert (got[2][:-6, 0] == K.OK).mean() > 0.6  # real spectra mostly have a Band I
    assert np.all(got[2][-1] == K.NO_COVERAGE)  # the all-NaN row


@pytest.mark.parametrize("with_error", [True, False])
def test_monte_carlo_sigma_equals_twin(with_error):
    rows = [r for r in visnir_rows() if r["complex"] in ("S", "V")][:3]
    for r in rows:
        s = spectrum(r["file"])
        err = s.error[None] if with_error else None
        z = np.random.default_rng(7).standard_normal((8, s.wavelength_um.size))
        got = bands.analyse_batch(s.wavelength_um, s.reflectance[None], err, n_mc=0)
        wl, refl = s.wavelength_um, s.reflectance[None]
        got = band_pipeline(wl, refl, err if with_error else np.empty((0, 0)), with_error,
                            *bands.kernel_args(wl), z, 1)  # fmt: skip
        want = twin.band_pipeline(wl, refl, err, z)
        _compare(got[0], got[2], want[0], want[2])
        # σ of the centres inherits the twin's scan step (2e-4 of the ±0.15 µm window)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=3e-5, equal_nan=True)
        np.testing.assert_allclose(got[3], want[3], rtol=1e-12, equal_nan=True)


def test_band_pipeline_equals_twin_on_lab_spectra():
    wl, x, _ = lab_spectra()
    sel = x[::9]
    got = bands.analyse_batch(wl, sel, n_mc=0)
    want = twin.band_pipeline(wl, sel, None, np.empty((0, wl.size)))
    _compare(got.values, got.status, want[0], want[2])


def test_der_snr_equals_twin_and_recovers_injected_noise():
    rng = np.random.default_rng(11)
    wl = np.linspace(0.45, 2.45, 400)
    clean = 1 + 0.2 * np.sin(3 * wl)
    noisy = clean + rng.normal(0, 0.01, wl.size)
    scratch = np.empty(2 * wl.size)
    assert der_snr_noise(noisy, scratch) == pytest.approx(twin.der_snr_noise(noisy), rel=1e-12)
    assert der_snr_noise(noisy, scratch) == pytest.approx(0.01, rel=0.15)
    holes = noisy.copy()
    holes[50:60] = np.nan
    assert der_snr_noise(holes, scratch) == pytest.approx(twin.der_snr_noise(holes), rel=1e-12)
    assert np.isnan(der_snr_noise(np.full(4, 1.0), scratch))


def test_vectorised_numpy_bands_equal_the_kernel_on_real_and_benchmark_spectra():
    """The whole-array numpy band analysis (the benchmarks' numpy baseline) agrees with the
    kernels on complete rows: real spectra on a shared axis, the lab spectra, and perturbed
    spectra whose tie points and fit windows fall everywhere."""
    from benchmarks.data import make_inputs
    from tests.twins.numpy_bands import NumpyBands

    axis, x = shared_axis_batch(n=300, seed=4, edge_cases=False, range_um=(0.45, 2.45))
    cases = [(axis, x[~np.isnan(x).any(axis=1)]), make_inputs(3000)[:2]]
    wl, lab, _ = lab_spectra()
    cases.append((wl, lab[~np.isnan(lab).any(axis=1) & (lab > 0).all(axis=1)]))
    for axis, x in cases:
        values, status = NumpyBands(axis).analyse(x)
        got = bands.analyse_batch(axis, x, n_mc=0)
        _compare(got.values, got.status, values, status)
        assert (status[:, 0] == K.OK).mean() > 0.3 and len(set(status[:, 1].tolist())) >= 3
