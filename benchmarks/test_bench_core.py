"""Spectral-core stages and the full Bus-DeMeo pipeline: numpy vs numba on 1 and all threads,
plus the memory-bandwidth floor measured on the same array in the same run."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import numpy_baseline_up_to, record, run
from benchmarks.data import make_inputs, sizes
from firmware import busdemeo
from firmware._jit import njit_parallel, prange
from firmware.kernels import demeo, features, resample
from firmware.kernels.thermal import thermal_model
from tests.twins.numpy_pipeline import NumpyBusDeMeo

SIZES = sizes()
NUMPY_MAX_N = 100_000  # the numpy baselines (~20–50 µs per spectrum) stop here; the summary
# scales their time per spectrum to larger N (blocked numpy: flat per spectrum from ~10^4 on)


def _numpy_ok(n: int) -> None:
    numpy_baseline_up_to(n, NUMPY_MAX_N, "~20–50 µs")


@njit_parallel
def _stream_read(x, n_chunks):
    """Read every element once (a sum per chunk): the floor any pipeline pays."""
    n = x.shape[0]
    chunk = (n + n_chunks - 1) // n_chunks
    acc = np.zeros(n_chunks)
    for c in prange(n_chunks):
        s = 0.0
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            for j in range(x.shape[1]):
                s += x[i, j]
        acc[c] = s
    return acc.sum()


@pytest.mark.parametrize("n", SIZES)
def test_floor_stream_read(benchmark, n, numba_impl):
    benchmark.group = "floor: read input once"
    _axis, x, _ = make_inputs(n)
    chunks = busdemeo.n_chunks_for(n)
    run(benchmark, lambda: _stream_read(x, chunks), n)
    record(benchmark, "read-" + numba_impl, n, x.shape[1], bytes=x.nbytes)


@pytest.mark.parametrize("n", SIZES)
def test_floor_numpy_sum(benchmark, n):
    benchmark.group = "floor: read input once"
    _axis, x, _ = make_inputs(n)
    run(benchmark, lambda: x.sum(axis=0), n)
    record(benchmark, "read-numpy", n, x.shape[1], bytes=x.nbytes)


def _numpy(n):
    axis, x, _ = make_inputs(n)
    return axis, x, NumpyBusDeMeo(axis)


@pytest.mark.parametrize("n", SIZES)
def test_bus_demeo_pipeline_numba(benchmark, n, numba_impl):
    benchmark.group = "bus-demeo: raw spectra → class"
    axis, x, _ = make_inputs(n)
    result = run(benchmark, lambda: busdemeo.classify_batch(axis, x), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert (result.status == 0).mean() > 0.99


@pytest.mark.parametrize("n", SIZES)
def test_bus_demeo_pipeline_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "bus-demeo: raw spectra → class"
    axis, x, nb = _numpy(n)
    run(benchmark, lambda: nb.classify(x), n)
    record(benchmark, "numpy", n, x.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_bus_demeo_stage_numba(benchmark, n, numba_impl):
    """The Bus-DeMeo stage alone (resample → e/h/k → thermal tail → normalise → slope → PCA →
    tree): classes, w, slope, PCs and status, with the template χ² only where the tree falls
    back on them (`classify_classes`). The stage the memory-floor target is about."""
    benchmark.group = "bus-demeo stage: raw spectra → class only"
    axis, x, _ = make_inputs(n)
    result = run(benchmark, lambda: busdemeo.classify_classes(axis, x), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert (result.status == 0).mean() > 0.99


@pytest.mark.parametrize("n", SIZES)
def test_bus_demeo_stage_reused_outputs(benchmark, n, numba_impl):
    """The same stage writing into the arrays of the previous call (`out=`): a survey
    streamed in chunks, without fresh output pages to map and zero at every call."""
    benchmark.group = "bus-demeo stage, outputs reused (out=): raw spectra → class only"
    axis, x, _ = make_inputs(n)
    previous = busdemeo.classify_classes(axis, x)
    result = run(benchmark, lambda: busdemeo.classify_classes(axis, x, out=previous), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert np.shares_memory(result.class_index, previous.class_index) and (result.status == 0).mean() > 0.99


@pytest.mark.parametrize("n", SIZES)
def test_bus_demeo_stage_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "bus-demeo stage: raw spectra → class only"
    axis, x, nb = _numpy(n)
    run(benchmark, lambda: nb.classify(x), n)
    record(benchmark, "numpy", n, x.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_resample_numba(benchmark, n, numba_impl):
    benchmark.group = "stage: resample to the 41-point grid"
    axis, x, _ = make_inputs(n)
    grid = busdemeo.DEMEO_GRID_UM
    run(benchmark, lambda: resample.resample_binned(axis, x, grid, busdemeo.GRID_HALF_WIDTH_UM), n)
    record(benchmark, numba_impl, n, x.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_resample_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "stage: resample to the 41-point grid"
    _axis, x, nb = _numpy(n)
    run(benchmark, lambda: [x[i : i + 8192].astype(np.float64) @ nb.m41.T for i in range(0, n, 8192)], n)
    record(benchmark, "numpy", n, x.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_features_numba(benchmark, n, numba_impl):
    benchmark.group = "stage: e/h/k features"
    axis, x, _ = make_inputs(n)
    fine = resample.resample_binned(axis, x, features.FEATURE_GRID_UM, features.FEATURE_RESAMPLE_HALF_WIDTH_UM)
    model = features.feature_model()
    run(benchmark, lambda: features.measure_features(fine, *model), n)
    record(benchmark, numba_impl, n, fine.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_features_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "stage: e/h/k features"
    axis, x, nb = _numpy(n)
    fine = resample.resample_binned(axis, x, features.FEATURE_GRID_UM, features.FEATURE_RESAMPLE_HALF_WIDTH_UM)
    run(benchmark, lambda: [nb.features(fine[i : i + 8192]) for i in range(0, n, 8192)], n)
    record(benchmark, "numpy", n, fine.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_tree_numba(benchmark, n, numba_impl):
    benchmark.group = "stage: normalise → slope → PCA → χ² → tree"
    axis, x, _ = make_inputs(n)
    model, tmpl_sr, inv_var = busdemeo._kernel_constants()
    r41 = resample.resample_binned(axis, x, model.grid_um, busdemeo.GRID_HALF_WIDTH_UM)
    det = np.zeros((n, 3))
    chunks = busdemeo.n_chunks_for(n)
    args = (r41, r41, False, det, model.grid_um, model.eigenvectors, model.data_mean,
            model.template_mean, model.template_sigma, inv_var, tmpl_sr, 1,
            *thermal_model(model.grid_um), chunks)  # fmt: skip
    run(benchmark, lambda: demeo.classify_grid(*args), n)
    record(benchmark, numba_impl, n, r41.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_tree_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "stage: normalise → slope → PCA → χ² → tree"
    axis, x, nb = _numpy(n)
    r41 = resample.resample_binned(axis, x, nb.model.grid_um, busdemeo.GRID_HALF_WIDTH_UM)
    det = np.zeros((n, 3))

    def tree():
        for i in range(0, n, 8192):
            r = r41[i : i + 8192]
            r = nb.remove_thermal_tail(r / r[:, [demeo.I055]])
            slope = r @ nb.slope_w
            rprime = r / (1 + slope[:, None] * (nb.model.grid_um - 0.55))
            pc = (rprime[:, nb.keep] - nb.model.data_mean) @ nb.model.eigenvectors.T
            chi2 = np.einsum("nck,ck->nc", (r[:, None, :] - nb.model.template_mean) ** 2, nb.inv_var)
            nb._tree(pc, slope, r[:, 0], rprime, det[i : i + 8192], chi2 / r.shape[1])

    run(benchmark, tree, n)
    record(benchmark, "numpy", n, r41.shape[1])
