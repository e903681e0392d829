"""Band analysis, mineralogy and verdict stages: numpy twin vs numba on 1 and all threads.

The numpy baselines of the band analysis and of the fused survey pipeline are the vectorised,
blocked twins (tests/twins/numpy_bands.py, numpy_pipeline.py), run up to NUMPY_MAX_N spectra
(~50 µs per spectrum); the per-spectrum twins of band_twins.py (Python loops, for clarity) are
timed on NUMPY_N spectra for the hull, calibration and verdict stages. The survey group is the
issue-5 throughput metric: raw spectra → Bus-DeMeo class and Band I/II parameters in one pass;
the chain adds the mineralogy calibrations and the prospecting verdict.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import numpy_baseline_up_to, record, run
from benchmarks.data import make_inputs, sizes
from firmware import bands
from firmware import mineralogy as M
from firmware import prospect as P
from firmware.kernels import bands as K
from firmware.kernels import continuum as C
from firmware.kernels.resample import resample_binned
from tests.twins import band_twins as twin
from tests.twins.numpy_bands import NumpyBands
from tests.twins.numpy_pipeline import NumpyBusDeMeo

SIZES = sizes()
NUMPY_N = 100  # the per-spectrum twins are Python loops: ~1–3 ms per spectrum
NUMPY_MAX_N = 100_000  # the vectorised twins: ~50 µs per spectrum
MC_SIZES = [n for n in SIZES if n <= 10_000] or SIZES[:1]  # 64 draws per spectrum


def _grid(n):
    axis, x, _ = make_inputs(n)
    r = np.where(x > 0, x, np.nan).astype(np.float64)
    return resample_binned(axis, r, K.BAND_GRID_UM, K.BAND_RESAMPLE_HALF_WIDTH_UM)


@pytest.mark.parametrize("n", SIZES)
def test_bands_numba(benchmark, n, numba_impl):
    benchmark.group = "bands: raw spectra → Band I/II centre, depth, area, BAR"
    axis, x, _ = make_inputs(n)
    result = run(benchmark, lambda: bands.analyse_batch(axis, x, n_mc=0), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert (result.status[:, 0] == K.OK).mean() > 0.6


def _numpy_ok(n: int) -> None:
    numpy_baseline_up_to(n, NUMPY_MAX_N, "~50 µs")


@pytest.mark.parametrize("n", SIZES)
def test_bands_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "bands: raw spectra → Band I/II centre, depth, area, BAR"
    axis, x, _ = make_inputs(n)
    nb = NumpyBands(axis)
    run(benchmark, lambda: nb.analyse(x), n)
    record(benchmark, "numpy", n, x.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_survey_numba(benchmark, n, numba_impl):
    benchmark.group = "survey: raw spectra → Bus-DeMeo class + Band I/II (fused)"
    axis, x, _ = make_inputs(n)
    bd, bb = run(benchmark, lambda: bands.survey_batch(axis, x), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert (bd.status == 0).mean() > 0.99 and (bb.status[:, 0] == K.OK).mean() > 0.6


@pytest.mark.parametrize("n", SIZES)
def test_survey_reused_outputs(benchmark, n, numba_impl):
    """The survey writing into the arrays of the previous call (`out=`): chunks of a long
    survey reuse one set of outputs (~400 B per spectrum) instead of fresh pages each call."""
    benchmark.group = "survey, outputs reused (out=): raw spectra → Bus-DeMeo class + Band I/II"
    axis, x, _ = make_inputs(n)
    previous = bands.survey_batch(axis, x)
    bd, bb = run(benchmark, lambda: bands.survey_batch(axis, x, out=previous), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert np.shares_memory(bd.class_index, previous[0].class_index) and (bd.status == 0).mean() > 0.99


@pytest.mark.parametrize("n", SIZES)
def test_survey_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "survey: raw spectra → Bus-DeMeo class + Band I/II (fused)"
    axis, x, _ = make_inputs(n)
    nbd, nbb = NumpyBusDeMeo(axis), NumpyBands(axis)
    run(benchmark, lambda: (nbd.classify(x), nbb.analyse(x)), n)
    record(benchmark, "numpy", n, x.shape[1])


@pytest.mark.parametrize("n", MC_SIZES)
def test_bands_monte_carlo_numba(benchmark, n, numba_impl):
    benchmark.group = f"bands: with Monte-Carlo σ ({bands.N_MC} draws, error column)"
    axis, x, _ = make_inputs(n)
    err = (np.abs(x) * 0.01).astype(np.float32)
    run(benchmark, lambda: bands.analyse_batch(axis, x, err), n)
    record(benchmark, numba_impl, n, x.shape[1], n_mc=bands.N_MC)


@pytest.mark.parametrize("n", SIZES)
def test_hull_numba(benchmark, n, numba_impl):
    benchmark.group = "stage: upper convex hull continuum (band grid)"
    r = _grid(n)
    run(benchmark, lambda: C.hull_continuum(K.BAND_GRID_UM, r), n)
    record(benchmark, numba_impl, n, r.shape[1])


@pytest.mark.parametrize("n", [NUMPY_N])
def test_hull_numpy(benchmark, n):
    benchmark.group = "stage: upper convex hull continuum (band grid)"
    r = _grid(n)
    run(benchmark, lambda: twin.hull_continuum(K.BAND_GRID_UM, r), n)
    record(benchmark, "numpy", n, r.shape[1])


def _calibration_inputs(n):
    axis, x, _ = make_inputs(n)
    b = bands.analyse_batch(axis, x, n_mc=0)
    vals = M.masked_band_values(b.values, b.status)
    sig = np.full_like(vals, 0.002)
    idx = np.random.default_rng(n).integers(-1, M.UNKNOWN_CLASS + 1, n)
    return vals, sig, idx, M.class_table()


@pytest.mark.parametrize("n", SIZES)
def test_mineralogy_numba(benchmark, n, numba_impl):
    benchmark.group = "stage: mineralogy calibrations (9 relations, domains)"
    vals, sig, idx, table = _calibration_inputs(n)
    run(benchmark, lambda: M.calibrate(vals, sig, idx, table, M.DOMAIN, M.SIGMA_CAL), n)
    record(benchmark, numba_impl, n, vals.shape[1])


@pytest.mark.parametrize("n", [NUMPY_N * 10])
def test_mineralogy_numpy(benchmark, n):
    benchmark.group = "stage: mineralogy calibrations (9 relations, domains)"
    vals, sig, idx, table = _calibration_inputs(n)
    run(benchmark, lambda: twin.calibrate(vals, sig, idx, table, M.DOMAIN, M.SIGMA_CAL), n)
    record(benchmark, "numpy", n, vals.shape[1])


def _verdict_inputs(n):
    rng = np.random.default_rng(n)
    return (rng.integers(0, 9, n), rng.integers(-1, 2, n), rng.integers(-1, 2, n),
            rng.normal(0.1, 0.2, n), rng.uniform(0.02, 0.6, n))  # fmt: skip


@pytest.mark.parametrize("n", SIZES)
def test_verdict_numba(benchmark, n, numba_impl):
    benchmark.group = "stage: prospecting verdict levels"
    args = _verdict_inputs(n)
    run(benchmark, lambda: P.levels(*args), n)
    record(benchmark, numba_impl, n, 5)


@pytest.mark.parametrize("n", [NUMPY_N * 10])
def test_verdict_numpy(benchmark, n):
    benchmark.group = "stage: prospecting verdict levels"
    args = _verdict_inputs(n)
    run(benchmark, lambda: twin.prospect_levels(*args), n)
    record(benchmark, "numpy", n, 5)


@pytest.mark.parametrize("n", SIZES)
def test_onboard_chain_numba(benchmark, n, numba_impl):
    benchmark.group = "chain: Bus-DeMeo + bands + calibrations + verdict"
    axis, x, _ = make_inputs(n)

    def chain():
        bd, bb = bands.survey_batch(axis, x)
        M.mineralogy_batch(bb, bd.class_index)
        return P.prospect_batch(bd, bb)

    run(benchmark, chain, n)
    record(benchmark, numba_impl, n, x.shape[1])
