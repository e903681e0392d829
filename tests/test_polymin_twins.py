"""The polynomial-minimum kernels (`firmware.kernels.polymin`, used by the band centres and
the e/h/k features) against their plain numpy twin: the lowest of 20 001 evaluations over
t ∈ [−1, 1] (`tests.twins.band_twins._poly_min_dense`). Random cubics and quartics with a
fixed seed, and the edge cases: flat, monotonic (minimum on an edge), a parabola, a minimum
next to an edge, NaN coefficients."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.kernels import features as F
from firmware.kernels.bands import poly_min
from firmware.kernels.polymin import coarse_min, cubic_min_s, poly_eval
from tests.twins.band_twins import _poly_min_dense


def _random(degree, n, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=degree + 1) for _ in range(n)]


EDGE_CASES = [
    np.array([1.0, 0.0, 0.0, 0.0]),  # flat
    np.array([0.0, 1.0, 0.0, 0.0]),  # monotonic rising: minimum at −1
    np.array([0.0, -1.0, 0.0, 0.0]),  # monotonic falling: minimum at +1
    np.array([0.0, -0.3, 1.0, 0.0]),  # parabola (cubic term 0)
    np.array([0.0, 1.9, 1.0, 0.0]),  # parabola with its vertex at −0.95
    np.array([0.2, -0.1, 2.0, 0.5, 0.0]),  # quartic with a zero leading term
]


@pytest.mark.parametrize("c", _random(3, 300, 1) + EDGE_CASES[:5])
def test_cubic_closed_form_equals_the_dense_twin(c):
    t, v = cubic_min_s(*c)
    td, vd = _poly_min_dense(c)
    assert v <= vd + 1e-12  # never worse than the dense scan
    assert v == pytest.approx(poly_eval(c, t), abs=1e-12)
    assert vd - v <= 1e-6 * max(1.0, abs(vd))  # and the dense scan comes close to it
    if abs(td) == 1.0:
        assert abs(t) == 1.0  # an edge minimum is reported on the edge


@pytest.mark.parametrize("c", _random(4, 300, 2) + EDGE_CASES)
def test_band_poly_min_equals_the_dense_twin(c):
    t, v = poly_min(np.ascontiguousarray(c))
    _td, vd = _poly_min_dense(c)
    assert v <= vd + 1e-9
    assert vd - v <= 1e-6 * max(1.0, abs(vd))


@pytest.mark.parametrize("c", _random(4, 300, 3) + EDGE_CASES)
def test_feature_poly_min_equals_the_dense_twin_away_from_the_edges(c):
    t, v = F._poly_min(np.ascontiguousarray(c))
    td, vd = _poly_min_dense(c)
    coarse = 2.0 / (F.N_COARSE - 1)
    if abs(td) == 1.0:  # an edge minimum stays exactly on the edge
        assert t == td and v == pytest.approx(vd, abs=1e-12)
    elif abs(td) < 1.0 - 2 * coarse:  # interior: the Newton polish finds it
        assert v <= vd + 1e-9
        assert vd - v <= 1e-6 * max(1.0, abs(vd))


def test_coarse_min_scans_only_the_points_asked_for():
    c = np.array([0.0, 1.0, 0.0, 0.0])  # p(t) = t: lowest at the first point scanned
    step = 0.25
    assert coarse_min(c, 0, 8, step, 0.0) == (-1.0, -1.0)
    assert coarse_min(c, 1, 7, step, 0.0) == (-0.75, -0.75)


def test_nan_coefficients_give_no_minimum_and_no_crash():
    c = np.array([np.nan, 0.0, 1.0, 0.0])
    assert coarse_min(c, 0, 8, 0.25, -1.0) == (-1.0, np.inf)
    _t, v = F._poly_min(c)
    assert not np.isfinite(v) or np.isnan(v)
    _t, v = cubic_min_s(*c)
    assert not np.isfinite(v) or np.isnan(v)
