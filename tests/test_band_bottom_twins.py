"""The band-bottom search (`firmware.kernels.band_bottom`) against a plain numpy twin.

The twin takes the mean of every clipped window with np.mean and the first j of the
smallest mean with np.argmin; the kernel compares 5-sample sums in two chains and
clips only the edge windows. They must pick the same j and the same mean (to rounding), on
continuum-removed bands of real spectra, random data, flat rows (every j ties: the first
must win), monotonic rows (the minimum on an edge of the range) and ranges that touch the
valid span's ends.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware.kernels.band_bottom import SMOOTH_POINTS, full_window_min, smoothed_min


def twin_smoothed_min(cr, js, je, lo, hi, sp):
    """(first j of the smallest clipped running mean, that mean), NaN means never win."""
    if je < js:
        return -1, np.inf
    means = np.array([np.mean(cr[max(lo, j - sp) : min(hi, j + sp) + 1]) for j in range(js, je + 1)])
    means = np.where(np.isnan(means), np.inf, means)
    k = int(np.argmin(means))
    if not np.isfinite(means[k]):
        return -1, np.inf
    return js + k, float(means[k])


def _check(cr, js, je, lo, hi, sp=SMOOTH_POINTS):
    got = smoothed_min(cr, js, je, lo, hi, sp)
    want = twin_smoothed_min(cr, js, je, lo, hi, sp)
    assert got[0] == want[0], (js, je, lo, hi, got, want)
    if want[0] >= 0:
        assert got[1] == pytest.approx(want[1], rel=1e-13)


def _ranges(rng, n):
    """Random (js, je, lo, hi) with 0 ≤ lo ≤ js, je ≤ hi < n, including edge-touching ones."""
    for _ in range(60):
        lo = int(rng.integers(0, 6))
        hi = int(rng.integers(n - 6, n))
        js = int(rng.integers(lo, lo + 8))
        je = int(rng.integers(max(js - 1, hi - 8), hi + 1))
        yield js, je, lo, hi


def test_band_bottom_equals_its_twin_on_real_continuum_removed_bands():
    from firmware.kernels.bands import BAND_GRID_UM
    from tests.spectra_fixtures import shared_axis_batch

    axis, x = shared_axis_batch(n=48, edge_cases=False, range_um=(0.44, 2.50))
    rng = np.random.default_rng(7)
    grid = BAND_GRID_UM
    for row in x.astype(np.float64):
        r = np.interp(grid, axis, row)
        a, b = 30, 110  # ≈0.74 and 1.54 µm: Band I between its usual tie points
        line = r[a] + (r[b] - r[a]) / (grid[b] - grid[a]) * (grid - grid[a])
        cr = r / line
        _check(cr, a + 1, b - 1, a - 15, b + 15)
        for js, je, lo, hi in _ranges(rng, cr.size):
            _check(cr, js, je, lo, hi)


def test_band_bottom_equals_its_twin_on_random_flat_monotonic_and_short_ranges():
    rng = np.random.default_rng(11)
    n = 64
    rows = [rng.uniform(0.8, 1.0, n), np.full(n, 0.5), np.linspace(1.0, 0.5, n),
            np.linspace(0.5, 1.0, n), 1.0 - 0.1 * np.exp(-((np.arange(n) - 40.5) / 6) ** 2)]  # fmt: skip
    for cr in rows:
        for js, je, lo, hi in _ranges(rng, n):
            _check(cr, js, je, lo, hi)
        _check(cr, 0, n - 1, 0, n - 1)  # clipped windows at both ends
        _check(cr, 5, 4, 0, n - 1)  # empty range
        _check(cr, 10, 10, 0, n - 1)  # one candidate
        _check(cr, 3, 9, 2, 9)  # every window clipped on the right
        _check(cr, 3, 9, 3, 60, sp=3)  # another half-width: the general scan only


def test_flat_band_bottom_picks_the_first_candidate():
    cr = np.full(40, 0.75)  # every sum exact: a true tie everywhere
    assert smoothed_min(cr, 4, 30, 0, 39, 2) == (4, 0.75)
    assert full_window_min(cr, 2, 37) == (2, 3.75)
    assert full_window_min(cr, 9, 8) == (-1, np.inf)


def test_nan_windows_never_win():
    cr = np.linspace(1.0, 0.6, 50)
    cr[20:23] = np.nan  # a hole (the kernels never pass one, but a NaN must not be picked)
    _check(cr, 2, 47, 0, 49)
    cr[:] = np.nan
    assert smoothed_min(cr, 2, 47, 0, 49, 2)[0] == -1
