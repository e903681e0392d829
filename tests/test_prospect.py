"""The prospecting verdict: kernel = twin on every input combination, batch = single, and the
levels on the real developer spectra (published labels as truth, our classification as
input)."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from firmware import bands, busdemeo
from firmware import prospect as P
from firmware.assessment import assess_spectrum
from tests.spectra_fixtures import shared_axis_batch, spectrum, visnir_rows
from tests.twins import band_twins as twin


def test_levels_equal_twin_on_every_combination_of_inputs():
    combos = list(itertools.product(range(9), (-1, 0, 1), (-1, 0, 1), (np.nan, -0.1, 0.2),
                                    (np.nan, 0.05, 0.15, 0.5)))  # fmt: skip
    g, h, b, s, a = (np.array(c) for c in zip(*combos, strict=True))
    got = P.levels(g.astype(np.int64), h.astype(np.int64), b.astype(np.int64), s, a)
    want = twin.prospect_levels(g, h, b, s, a)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], equal_nan=True)


def test_metal_needs_x_complex_red_slope_and_m_albedo():
    lv, score = P.levels(np.array([P.G_X] * 5), np.zeros(5, np.int64), np.array([0, 0, 0, 0, 1]),
                         np.array([0.2, 0.2, 0.2, 0.2, 0.2]), np.array([0.15, np.nan, 0.05, 0.5, 0.15]))  # fmt: skip
    assert [P.LEVEL_NAMES[v] for v in lv[:, 1]] == ["high", "moderate", "unlikely", "unlikely", "moderate"]
    assert score[0] == 1.0


def test_group_of_lets_mahlke_albedo_classes_refine_x():
    assert P.group_of("Xk", "M") == P.G_M
    assert P.group_of("X", "Pe") == P.G_P
    assert P.group_of("S", None) == P.G_MAFIC
    assert P.group_of(None, "Ch") == P.G_HYDRATED
    assert P.group_of("Sw", None) == P.G_MAFIC
    assert P.group_of(None, "Eek") == P.G_E


def test_batch_form_equals_single_spectrum_path():
    axis, x = shared_axis_batch(n=40, seed=9)
    bd = busdemeo.classify_batch(axis, x)
    bb = bands.analyse_batch(axis, x)
    lv, score = P.prospect_batch(bd, bb)
    assert lv.shape == (len(x), 3) and score.shape == (len(x),)
    from firmware.assessment import assess

    for i in range(0, len(x), 7):
        single = assess(axis, x[i], bus_demeo=bd.result(i), n_mc=0).prospect
        assert [single[k]["level"] for k in ("water", "metal", "silicates")] == list(lv[i])


@cache
def _verdicts():
    out = []
    for r in visnir_rows():
        s = spectrum(r["file"])
        a = assess_spectrum(s, bus_demeo=busdemeo.classify_spectrum(s), n_mc=0).to_dict()["prospect"]
        out.append((r["class_bdm"], a))
    return out


def _fraction(classes, resource, levels):
    got = [a[resource]["likelihood"] for c, a in _verdicts() if c in classes]
    assert len(got) >= 10
    return np.mean([g in levels for g in got])


@pytest.mark.parametrize(("classes", "resource", "levels", "at_least"), [
    (("Ch", "Cgh"), "water", ("high", "moderate", "possible"), 0.65),  # measured 0.71
    (("S", "Sq", "Q", "V"), "water", ("unlikely",), 0.95),  # measured 0.98
    (("S", "Sq", "Q", "V", "A"), "silicates", ("high",), 0.90),  # measured 0.93
    (("X", "Xc", "Xe", "Xk"), "metal", ("moderate", "high"), 0.85),  # measured 0.89
    (("S", "Sq", "Q", "V", "C", "B", "Ch", "Cgh"), "metal", ("unlikely",), 0.90),
])  # fmt: skip
def test_verdicts_on_the_developer_asteroid_spectra(classes, resource, levels, at_least):
    assert _fraction(classes, resource, levels) >= at_least


def test_every_verdict_has_a_reason_and_ranked_evidence():
    for _c, a in _verdicts()[::25]:
        for k in ("water", "metal", "silicates"):
            assert a[k]["reason"]
        sig = [e["significance_sigma"] for e in a["evidence"]]
        measured = [abs(s) for s in sig if s is not None]
        assert measured == sorted(measured, reverse=True)
        assert all(s is None for s in sig[len(measured):])


def test_batch_group_table_matches_group_of_for_every_class():
    from firmware.taxonomy import CLASS_NAMES

    t = P.group_table()
    assert [int(t[i]) for i in range(len(CLASS_NAMES))] == [P.group_of(c) for c in CLASS_NAMES]
    assert t[-1] == P.G_UNKNOWN  # class index −1
