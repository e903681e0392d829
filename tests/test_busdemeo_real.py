"""Bus-DeMeo on real spectra: published PC′ scores, accuracy against the published labels,
the class templates, refusals with reasons."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from firmware import busdemeo
from firmware.taxonomy import CLASS_NAMES, load_demeo_model
from firmware.validation import evaluate_bus_demeo, strip_w
from tests.spectra_fixtures import SPECTRA_DIR, labels, spectrum


@pytest.fixture(scope="module")
def accuracy():
    return evaluate_bus_demeo(SPECTRA_DIR)


def test_published_pc_scores_reproduced_from_raw_demeo_spectra():
    with (SPECTRA_DIR / "demeo2009_published_pc_scores_classy.csv").open(newline="") as fh:
        published = {r["designation"]: r for r in csv.DictReader(fh)}
    ours, theirs = [], []
    for row in labels():
        pub = published.get(row["number"] or row["designation"])
        if row["source"] != "DeMeo2009" or pub is None:
            continue
        res = busdemeo.classify_spectrum(spectrum(row["file"]))
        if res.pc is None:
            continue
        ours.append([res.slope, *res.pc])
        theirs.append([float(pub["slope"])] + [float(pub[f"PC{k}"]) for k in range(1, 6)])
    ours, theirs = np.array(ours), np.array(theirs)
    assert len(ours) >= 200
    for k in (1, 2, 3):  # PC1′–PC3′
        assert np.corrcoef(ours[:, k], theirs[:, k])[0, 1] >= 0.99, f"PC{k}'"
    assert np.median(np.abs(ours[:, 0] - theirs[:, 0])) < 0.01  # slope, µm⁻¹


def test_accuracy_on_demeo_2009_spectra(accuracy):
    n, exact, same_complex = accuracy.by_source["DeMeo2009"]
    # measured 88.8 % exact / 97.9 % complex; the floor guards against regressions
    assert exact / n >= 0.85
    assert same_complex / n >= 0.95


def test_accuracy_on_all_developer_visnir_spectra(accuracy):
    # DeMeo 2009 + Binzel 2019: measured 72.7 % exact, 82.9 % complex (held-out by grouped
    # cross-validation: 71.8–72.5 % / 82.2–82.7 %, firmware.validation_cv). The issue asks
    # 80 % / 93 %: not reached — Binzel 2019's labels disagree with the tree on the published
    # PC scores themselves (see README). Nearest-template baseline (§1.5): 64 % / 87 %.
    assert accuracy.n >= 400
    assert accuracy.exact_rate >= 0.71
    assert accuracy.complex_rate >= 0.82
    assert accuracy.n_refused <= 15  # partial coverage, each with a reason


def test_every_class_mean_is_classified_as_itself():
    """The DeMeo class means run through the tree land in their own class — including R,
    which classy's tree cannot reach. Xe needs the 0.49 µm band, which a 0.05 µm grid does not
    resolve, and Xn has no rule in the tree."""
    m = load_demeo_model()
    got = [strip_w(lbl) for lbl in busdemeo.classify_batch(m.grid_um, m.template_mean).labels()]
    expected = [c if c not in ("Xe", "Xn") else got[i] for i, c in enumerate(CLASS_NAMES)]
    assert got == expected
    assert "R" in got


def test_w_suffix_for_red_s_types():
    m = load_demeo_model()
    s = m.template_mean[CLASS_NAMES.index("S")]
    red = s * (1 + 0.3 * (m.grid_um - 0.55))  # redden by 0.3 µm⁻¹ (space weathering)
    res = busdemeo.classify(m.grid_um, red)
    assert res.cls == "Sw" and res.complex == "S"


def test_nir_only_spectrum_is_refused_with_a_reason():
    row = next(r for r in labels() if r["source"] == "Marsset2022" and float(r["wmin_um"]) > 0.7)
    res = busdemeo.classify_spectrum(spectrum(row["file"]))
    assert res.cls is None and "0.45" in res.reason and "mahlke" in res.reason


@pytest.mark.parametrize(
    ("wavelength", "reflectance", "words"),
    [
        (np.linspace(0.45, 2.45, 5), np.ones(5), "fewer than"),
        (np.linspace(0.45, 2.45, 50), np.r_[np.ones(10), np.full(30, -1.0), np.ones(10)], "gap"),
        (np.linspace(0.6, 2.45, 50), np.ones(50), "needs 0.45"),
    ],
)
def test_unclassifiable_spectra_come_back_with_a_reason(wavelength, reflectance, words):
    res = busdemeo.classify(wavelength, reflectance)
    assert res.cls is None and words in res.reason


def test_bad_arrays_raise_input_errors():
    from firmware.errors import InputError

    with pytest.raises(InputError, match="nm"):
        busdemeo.classify_batch(np.linspace(450, 2450, 41), np.ones((1, 41)))
    with pytest.raises(InputError, match="shape|must be"):
        busdemeo.classify_batch(np.linspace(0.45, 2.45, 41), np.ones((1, 40)))


def test_classify_grid_equals_the_pipeline_on_real_spectra():
    """The host reference on the 41-point grid gives the fused pipeline's answers when fed the
    same resampled spectra and the same e/h/k detections."""
    from firmware.kernels.resample import resample_binned
    from tests.spectra_fixtures import visnir_rows

    rows = visnir_rows()[::3]
    specs = [spectrum(r["file"]) for r in rows]
    r41 = np.vstack([
        resample_binned(s.wavelength_um, s.reflectance[None], busdemeo.DEMEO_GRID_UM,
                        busdemeo.GRID_HALF_WIDTH_UM)
        for s in specs
    ])  # fmt: skip
    e41 = np.vstack([
        resample_binned(s.wavelength_um, np.where(s.error > 0, s.error, np.nan)[None],
                        busdemeo.DEMEO_GRID_UM, busdemeo.GRID_HALF_WIDTH_UM)
        if s.error is not None else np.full((1, 41), np.nan)
        for s in specs
    ])  # fmt: skip
    want = [busdemeo.classify_spectrum(s) for s in specs]
    det = np.array([[bool(r.features[f].detected) for f in "ehk"] for r in want])
    got = busdemeo.classify_grid(r41, det, e41)  # the χ² fallback weighs the errors too
    ok = [i for i, r in enumerate(want) if r.classified]
    assert len(ok) >= 100
    assert [got.labels()[i] for i in ok] == [want[i].cls for i in ok]
    np.testing.assert_allclose(got.pc[ok], [want[i].pc for i in ok], atol=1e-9)
    feats = got.result(ok[0], "x").features
    assert feats["h"].detected == want[ok[0]].features["h"].detected and feats["h"].depth is None


def test_classify_grid_rejects_bad_shapes():
    from firmware.errors import InputError

    with pytest.raises(InputError, match="41"):
        busdemeo.classify_grid(np.ones((2, 40)), np.zeros((2, 3), bool))
    with pytest.raises(InputError, match="e/h/k"):
        busdemeo.classify_grid(np.ones((2, 41)), np.zeros((2, 2), bool))


def test_binzel_labels_do_not_follow_the_tree_on_the_published_scores():
    """The evidence behind the unmet 80 % / 93 % (README): the DeMeo 2009 labels follow the
    tree run on the published slope and PC′ scores (Korda et al. 2023 copies), the Binzel 2019
    labels do not — and they disagree with the other published class of the same spectra."""
    from firmware.validation import label_consistency

    korda = SPECTRA_DIR.parent / "korda2023" / "asteroid-spectra_metadata.csv"
    agg = label_consistency(SPECTRA_DIR, korda)
    demeo, binzel = agg["DeMeo2009"], agg["Binzel2019"]
    assert demeo["label_vs_korda"].n >= 200 and binzel["label_vs_korda"].n >= 150

    def rate(a, what="exact"):
        return getattr(a, what) / a.n

    # measured: DeMeo 90.0 % / 97.1 %, Binzel 52.8 % / 64.0 %
    assert rate(demeo["label_vs_tree_on_published_pcs"]) >= 0.85
    assert rate(binzel["label_vs_tree_on_published_pcs"]) <= 0.60
    assert rate(binzel["label_vs_tree_on_published_pcs"], "same_complex") <= 0.70
    # measured: the two published classes of the same spectra agree 98.7 % (DeMeo) but only
    # 56.5 % exact / 71.4 % complex (Binzel); ours agree with Korda's 73.9 % / 84.5 % there
    assert rate(demeo["label_vs_korda"]) >= 0.95
    assert rate(binzel["label_vs_korda"]) <= 0.65
    assert rate(binzel["ours_vs_korda"]) >= rate(binzel["ours_vs_label"]) + 0.1
