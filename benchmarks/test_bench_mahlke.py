"""Mahlke 2022 taxonomy: the whole pipeline and its stages, numpy vs numba on 1 and all threads.

Inputs are the benchmark spectra of `benchmarks.data` (real DeMeo/Binzel spectra on a shared
120-band axis with gain, tilt and noise). The numpy baseline (`tests/twins/mahlke_numpy.py`)
works on whole blocks with BLAS; it costs ~1–2 ms per spectrum, so it runs up to N = 10⁴ only.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import numpy_baseline_up_to, record, run
from benchmarks.data import make_inputs, sizes
from firmware import mahlke
from firmware.kernels import mahlke_bins, mcfa, mixnorm
from firmware.kernels.mahlke_tree import tree_batch
from firmware.mahlke_model import N_BINS, N_NEIGHBOURS, load_mahlke_model
from firmware.mahlke_tree import load_tree
from tests.twins.mahlke_numpy import NumpyMahlke

SIZES = sizes()
NUMPY_MAX_N = 10_000
ALBEDO = 0.2  # with an albedo every spectrum has all 54 features: the common case onboard


def _numpy_ok(n: int) -> None:
    numpy_baseline_up_to(n, NUMPY_MAX_N, "~1–2 ms")


@pytest.mark.parametrize("n", SIZES)
def test_mahlke_pipeline_numba(benchmark, n, numba_impl):
    benchmark.group = "mahlke: raw spectra → class"
    axis, x, _ = make_inputs(n)
    result = run(benchmark, lambda: mahlke.classify_batch(axis, x, albedo=ALBEDO), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert (result.status == 0).all()


@pytest.mark.parametrize("n", SIZES)
def test_mahlke_pipeline_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "mahlke: raw spectra → class"
    axis, x, _ = make_inputs(n)
    nm = NumpyMahlke(axis)
    run(benchmark, lambda: nm.classify(x, ALBEDO), n)
    record(benchmark, "numpy", n, x.shape[1])


NIR_FROM_UM = 0.82  # near-infrared only, as SpeX spectra without a visible part (Marsset 2022)


def _nir_only(n):
    axis, x, _ = make_inputs(n)
    x = x.copy()  # make_inputs is cached: the other benchmarks share its array
    x[:, axis < NIR_FROM_UM] = np.nan
    return axis, x


@pytest.mark.parametrize("n", SIZES)
def test_mahlke_nir_only_numba(benchmark, n, numba_impl):
    """Partial spectra: mixnorm and the MCFA work on the observed bins only. No numpy row:
    the whole-array twin (`NumpyMahlke`) takes complete spectra only; the per-spectrum twin
    of the tests (`tests/twins/mahlke_twins.py`) is the reference for partial ones."""
    benchmark.group = "mahlke: NIR-only spectra (0.82–2.45 µm) → class"
    axis, x = _nir_only(n)
    result = run(benchmark, lambda: mahlke.classify_batch(axis, x, albedo=ALBEDO), n)
    record(benchmark, numba_impl, n, x.shape[1])
    assert (result.status == 0).all()


def _binned(n):
    axis, x, _ = make_inputs(n)
    m = load_mahlke_model()
    return m, mahlke_bins.bin_spectra(axis, x, m.grid_um, m.half_width_um, mahlke.MAX_GAP_UM)


@pytest.mark.parametrize("n", SIZES)
def test_mixnorm_numba(benchmark, n, numba_impl):
    benchmark.group = "mahlke stage: 5-NN mixnorm over 2573 references"
    m, b = _binned(n)
    run(benchmark, lambda: mixnorm.normalise(b, m, N_NEIGHBOURS, mahlke.MIN_BINS), n)
    record(benchmark, numba_impl, n, N_BINS)


@pytest.mark.parametrize("n", SIZES)
def test_mixnorm_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "mahlke stage: 5-NN mixnorm over 2573 references"
    m, b = _binned(n)
    nm = NumpyMahlke(make_inputs(n)[0])

    def knn():
        for i in range(0, n, 2048):
            blk = b[i : i + 2048]
            cos = (blk / np.linalg.norm(blk, axis=1, keepdims=True)) @ nm.ref_unit.T
            np.argpartition(-cos, N_NEIGHBOURS, axis=1)[:, :N_NEIGHBOURS]

    run(benchmark, knn, n)
    record(benchmark, "numpy", n, N_BINS)


def _features(n):
    m, b = _binned(n)
    x, *_ = mixnorm.normalise(b, m, N_NEIGHBOURS, mahlke.MIN_BINS)
    feats = np.empty((n, N_BINS + 1))
    feats[:, :N_BINS] = x
    feats[:, N_BINS] = np.log10(ALBEDO)
    return m, feats


@pytest.mark.parametrize("n", SIZES)
def test_mcfa_numba(benchmark, n, numba_impl):
    benchmark.group = "mahlke stage: MCFA τ (50 clusters) + latent scores"
    m, feats = _features(n)
    run(benchmark, lambda: mcfa.score(feats, m), n)
    record(benchmark, numba_impl, n, feats.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_mcfa_numpy(benchmark, n):
    _numpy_ok(n)
    benchmark.group = "mahlke stage: MCFA τ (50 clusters) + latent scores"
    m, feats = _features(n)
    nm = NumpyMahlke(make_inputs(n)[0])

    def scores():
        for i in range(0, n, 2048):
            y = feats[i : i + 2048]
            nm._softmax(nm._logpost(y))
            r = y - m.mu
            w = nm._softmax(nm._logpost(r))
            zk = (r @ nm.gamma).reshape(r.shape[0], m.n_components, -1) + m.score_offset
            np.einsum("nk,nki->ni", w, zk)

    run(benchmark, scores, n)
    record(benchmark, "numpy", n, feats.shape[1])


@pytest.mark.parametrize("n", SIZES)
def test_tree_numba(benchmark, n, numba_impl):
    benchmark.group = "mahlke stage: decision tree (14 GMMs)"
    m, feats = _features(min(n, 10_000))
    tau, z, _ = mcfa.score(feats, m)
    reps = -(-n // tau.shape[0])
    tau, z = np.tile(tau, (reps, 1))[:n], np.tile(z, (reps, 1))[:n]
    pv = np.full(n, np.log10(ALBEDO))
    t = load_tree()
    run(benchmark, lambda: tree_batch(tau, z, pv, len(t.classes), *t.kernel_args()), n)
    record(benchmark, numba_impl, n, tau.shape[1])
