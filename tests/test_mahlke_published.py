"""The Mahlke 2022 model reproduces the published catalogue (class_visnir.csv, 2573 samples).

The published samples are already preprocessed by the authors: their features ln R − α are
the mixnorm reference rows shipped in seeds/ (tests/data/mahlke2022/build.py checks that to
1e-6), and the catalogue gives for each sample the 50 cluster probabilities, the latent
scores, the 16 class probabilities (Ch has none), the class and the e/h/k flags.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from firmware.kernels.mahlke_tree import tree_batch
from firmware.kernels.mcfa import score
from firmware.mahlke_model import N_BINS, N_FEATURES, PV_INDEX, load_mahlke_model
from firmware.mahlke_tree import label, load_tree

DATA = Path(__file__).resolve().parent / "data" / "mahlke2022"


@lru_cache(maxsize=1)
def published():
    with np.load(DATA / "class_visnir_published.npz") as d:
        pub = {k: d[k] for k in d.files}
    m = load_mahlke_model()
    rows = pub["reference_row"].astype(np.int64)
    x = np.empty((rows.size, N_FEATURES))
    x[:, :N_BINS] = np.log(m.reference_reflectance[rows]) - m.reference_alpha[rows, None]
    x[:, PV_INDEX] = pub["log_pv"]
    pub["features"] = x
    return pub


@lru_cache(maxsize=1)
def scored():
    m = load_mahlke_model()
    return score(published()["features"], m)


def _tree(tau, z, variant="mahlke2022"):
    t = load_tree(variant)
    return tree_batch(tau, z, published()["log_pv"], len(t.classes), *t.kernel_args())


def _published_columns(probs, variant="mahlke2022"):
    t = load_tree(variant)
    return probs[:, [t.class_index[c] for c in published()["class_columns"]]]


def test_sample_mix_covers_the_cases():
    pub = published()
    nir_only = np.all(np.isnan(pub["features"][:, :10]), axis=1)  # nothing below 0.7 µm
    assert pub["tau"].shape == (2573, 50) and 1000 < nir_only.sum() < 1573
    assert 400 < np.isnan(pub["log_pv"]).sum() < 1000  # with and without albedo
    assert len(set(pub["tau"].argmax(axis=1))) == 50  # every cluster is somebody's best


def test_cluster_probabilities_reproduce_the_published_ones():
    tau, _z, loglik = scored()
    err = np.abs(tau - published()["tau"])
    assert err.max() <= 1e-4, f"max |Δτ| = {err.max():.2e}"
    assert np.all(np.isfinite(loglik))
    np.testing.assert_allclose(tau.sum(axis=1), 1.0, atol=1e-12)


def test_latent_scores_reproduce_the_published_ones():
    _tau, z, _ = scored()
    err = np.abs(z - published()["z"])
    assert err.max() <= 5e-4 and np.median(err) <= 1e-5, (err.max(), np.median(err))


def test_tree_on_published_inputs_reproduces_published_class_probabilities():
    """The tree alone: from the catalogue's own τ and z, its class probabilities to 1e-5."""
    pub = published()
    got = _published_columns(_tree(pub["tau"], pub["z"]))
    assert np.abs(got - pub["class_probabilities"]).max() <= 1e-5


def test_end_to_end_class_probabilities_and_classes_reproduce_the_catalogue():
    pub = published()
    tau, z, _ = scored()
    probs = _tree(tau, z)
    err = np.abs(_published_columns(probs) - pub["class_probabilities"])
    assert err.max() <= 1e-3, f"max |ΔP| = {err.max():.2e}"
    t = load_tree("mahlke2022")
    base = [t.classes[i] for i in probs.argmax(axis=1)]
    flags = pub["flags_ehk"] == 1
    labels = [label(b, *f) for b, f in zip(base, flags, strict=True)]
    sf = [label(b, False, bool(f[1]), False) for b, f in zip(base, flags, strict=True)]
    agree_sf = np.mean(np.array(sf) == pub["class_sf"])
    agree = np.mean(np.array(labels) == pub["class_"])
    assert agree_sf >= 0.99 and agree >= 0.99, (agree_sf, agree)


def test_classy_variant_differs_only_through_its_rule_changes():
    """The later classy rules (clusters 23, 30, 37 gate, E boost) must change exactly the
    samples those rules touch, and no others."""
    pub = published()
    paper = _tree(pub["tau"], pub["z"])
    classy = _tree(pub["tau"], pub["z"], "classy")
    t = load_tree("mahlke2022")
    tau = pub["tau"]
    e_like = ~np.isnan(pub["log_pv"])  # the E boost and the 37 gate need an albedo
    untouched = (tau[:, 23] < 1e-12) & (tau[:, 30] < 1e-12) & ~e_like
    np.testing.assert_allclose(classy[untouched], paper[untouched], atol=1e-12)
    changed = np.abs(classy - paper).max(axis=1) > 1e-3
    assert changed.sum() > 50
    moved = np.argmax(classy, axis=1) != np.argmax(paper, axis=1)
    assert 0 < moved.sum() < 0.05 * len(tau)
    assert {t.classes[i] for i in np.argmax(classy[moved], axis=1)} <= {
        "D",
        "E",
        "K",
        "L",
        "M",
        "S",
    }


@pytest.mark.parametrize("variant", ["mahlke2022", "classy"])
def test_class_probabilities_are_a_distribution(variant):
    tau, z, _ = scored()
    probs = _tree(tau, z, variant)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
