"""Peers on the same data in the same run (optional `bench` extra: spectral, scikit-learn).

The peers are trained on a separate draw of the same generator with the source spectra's
published classes, then timed classifying the benchmark array (already normalised to 1 at
0.55 µm, which is not timed; our pipeline's time includes everything)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import record, run
from benchmarks.data import make_inputs, sizes

SIZES = sizes()


def _normalised(n, seed=None):
    axis, x, labels = make_inputs(n) if seed is None else make_inputs(n, seed=seed)
    i55 = int(np.argmin(np.abs(axis - 0.55)))
    return (x / x[:, [i55]]).astype(np.float32), labels


def _training():
    x, y = _normalised(20000, seed=7)
    keep = np.isin(y, [c for c, k in zip(*np.unique(y, return_counts=True), strict=True) if k >= 150])
    return x[keep], y[keep]


@pytest.mark.parametrize("n", SIZES)
def test_peer_spectral_sam(benchmark, n):
    spectral = pytest.importorskip("spectral", reason="install the bench extra: pip install -e '.[bench]'")
    benchmark.group = "peers: classify only"
    x, _ = _normalised(n)
    tx, ty = _training()
    means = np.array([tx[ty == c].mean(0) for c in np.unique(ty)])
    run(benchmark, lambda: np.argmin(spectral.spectral_angles(x[:, None, :], means), axis=-1), n)
    record(benchmark, "spectral-SAM", n, x.shape[1])


@pytest.mark.parametrize("kind", ["Gaussian", "Mahalanobis"])
@pytest.mark.parametrize("n", SIZES)
def test_peer_spectral_gaussian(benchmark, n, kind):
    spectral = pytest.importorskip("spectral", reason="install the bench extra: pip install -e '.[bench]'")
    benchmark.group = "peers: classify only"
    x, _ = _normalised(n)
    tx, ty = _training()
    # spectral's training API takes an image and a class mask (0 = unlabelled)
    classes = spectral.algorithms.create_training_classes(
        tx[:, None, :].astype(np.float64), (ty + 1)[:, None], calc_stats=True
    )
    if kind == "Gaussian":
        clf = spectral.GaussianClassifier(classes, min_samples=50)
    else:
        clf = spectral.MahalanobisDistanceClassifier(classes)
    run(benchmark, lambda: clf.classify_image(x[:, None, :]), n)
    record(benchmark, f"spectral-{kind}", n, x.shape[1])


# some Bus-DeMeo classes have a single training spectrum, so their spread is zero; the
# nearest-centroid rule does not use the spread (sklearn warns when fitting all the same)
@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_ has at least 1 zero:UserWarning")
@pytest.mark.parametrize("model", ["QDA", "NearestCentroid"])
@pytest.mark.parametrize("n", SIZES)
def test_peer_sklearn(benchmark, n, model):
    pytest.importorskip("sklearn", reason="install the bench extra: pip install -e '.[bench]'")
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.neighbors import NearestCentroid

    benchmark.group = "peers: classify only"
    x, _ = _normalised(n)
    tx, ty = _training()
    clf = (QuadraticDiscriminantAnalysis(reg_param=0.01) if model == "QDA" else NearestCentroid()).fit(tx, ty)
    run(benchmark, lambda: clf.predict(x), n)
    record(benchmark, f"sklearn-{model}", n, x.shape[1])
