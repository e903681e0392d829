"""The minimum of a fitted polynomial over its window t ∈ [−1, 1]: shared by the band centres
(`firmware.kernels.bands`, cubic) and the narrow e/h/k features (`firmware.kernels.features`,
degree 4).

Both fit in local coordinates t ∈ [−1, 1] (increasing-order coefficients `c`) and need the
position and value of the lowest point: a coarse scan, then Newton steps on p′ = 0 kept within
one coarse step of the scan's best point and accepted only where p decreases. A cubic is solved
in closed form (p′ = 0 is a quadratic), on scalars so that no array is passed on.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf


@njit_leaf
def poly_eval(c, t):
    """Horner evaluation of the polynomial with increasing-order coefficients c at t."""
    acc = 0.0
    for m in range(c.shape[0] - 1, -1, -1):
        acc = acc * t + c[m]
    return acc


@njit_leaf
def keep_lower(c, t, tbest, best):
    """(t, p(t)) when p(t) < best, else (tbest, best): the strict test keeps the earlier of
    two equal values, and a NaN p(t) never wins."""
    v = poly_eval(c, t)
    if v < best:
        return t, v
    return tbest, best


@njit_leaf
def coarse_min(c, k_first, k_last, step, t_start):
    """Lowest of p(−1 + k·step) for k_first ≤ k ≤ k_last: (t, p(t)); (t_start, inf) when
    no value is finite and below inf."""
    best = np.inf
    tbest = t_start
    for k in range(k_first, k_last + 1):
        tbest, best = keep_lower(c, -1.0 + k * step, tbest, best)
    return tbest, best


@njit_leaf
def newton_polish(c, tbest, best, step, n_steps):
    """Refine a coarse minimum (tbest, best) by Newton steps on p′ = 0 (p′, p″ by Horner),
    each clamped to tbest ± step; a step is kept only where p is lower. Stops where p″ ≤ 0."""
    lo = tbest - step
    hi = tbest + step
    t = tbest
    for _ in range(n_steps):
        d1 = 0.0
        d2 = 0.0
        for m in range(c.shape[0] - 1, 0, -1):
            d1 = d1 * t + m * c[m]
        for m in range(c.shape[0] - 1, 1, -1):
            d2 = d2 * t + m * (m - 1) * c[m]
        if d2 <= 0.0:
            break
        t = min(hi, max(lo, t - d1 / d2))
        tbest, best = keep_lower(c, t, tbest, best)
    return tbest, best


@njit_leaf
def cubic_at(c0, c1, c2, c3, t):
    """c0 + c1 t + c2 t² + c3 t³ by Horner (scalars: no array passed, no reference count)."""
    return ((c3 * t + c2) * t + c1) * t + c0


@njit_leaf
def cubic_min_s(c0, c1, c2, c3):
    """Minimum over [−1, 1] of c0 + c1 t + c2 t² + c3 t³: the edges and the interior root of
    p′ = c1 + 2 c2 t + 3 c3 t² where p″ > 0 (the local minimum), whichever is lowest."""
    best = cubic_at(c0, c1, c2, c3, -1.0)
    tbest = -1.0
    v = cubic_at(c0, c1, c2, c3, 1.0)
    if v < best:
        best = v
        tbest = 1.0
    a = 3.0 * c3
    b = 2.0 * c2
    if a == 0.0:
        if b > 0.0:  # a parabola opening upwards
            t = -c1 / b
            if -1.0 < t < 1.0:
                v = cubic_at(c0, c1, c2, c3, t)
                if v < best:
                    best = v
                    tbest = t
        return tbest, best
    disc = b * b - 4.0 * a * c1
    if disc <= 0.0:
        return tbest, best  # monotonic: the minimum is on an edge
    # the root with p″ = b + 2 a t > 0 is t = (−b + √disc) / (2a); written stably
    sq = np.sqrt(disc)
    q = -0.5 * (b - sq) if b < 0.0 else -0.5 * (b + sq)
    t1 = q / a
    t2 = c1 / q if q != 0.0 else t1
    t = t1 if b + 2.0 * a * t1 > 0.0 else t2
    if -1.0 < t < 1.0:
        v = cubic_at(c0, c1, c2, c3, t)
        if v < best:
            best = v
            tbest = t
    return tbest, best
