"""Where a band's fit window goes: the lowest point of a running mean of the continuum-removed
band (`firmware.kernels.bands._band`, step 3 of its method).

The running mean is over ±SMOOTH_POINTS grid steps, clipped to the valid span [lo, hi], so
noise does not pick the window: the fit, not the noisiest sample, gives the centre. The
first j of the smallest mean wins. Two scans, one per kind of window:

- `full_window_min`: j whose ±2 window is whole (the interior). Compares 5-sample sums (one
  division at the end, not one per j), in two independent chains (even and odd j) merged at
  the end, so the compare-and-select chain runs at twice the rate; the merge keeps the first
  j on a tie, as one sequential scan would.
- `partial_window_min`: j near lo or hi whose window is clipped (Band II usually ends on the
  last grid point, so its last two candidates are such j). Written on zero-based views so
  numba's negative-index wraparound does not turn the loads into gathers.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf

SMOOTH_POINTS = 2  # running mean over ±2 grid steps (±0.02 µm on the 0.01 µm band grid)


@njit_leaf
def partial_window_min(cr, j0, j1, lo, hi, sp, jmin, vmin):
    """Scan j0 ≤ j ≤ j1 for a mean of cr over [max(lo, j − sp), min(hi, j + sp)] below vmin;
    return the updated (jmin, vmin). Needs 0 ≤ lo."""
    for j in range(j0, j1 + 1):
        k0 = max(max(lo, j - sp), 0)
        k1 = min(hi, j + sp)
        seg = cr[k0 : k1 + 1]
        acc = 0.0
        for k in range(seg.shape[0]):
            acc += seg[k]
        mean = acc / (k1 - k0 + 1)
        if mean < vmin:
            vmin = mean
            jmin = j
    return jmin, vmin


@njit_leaf
def full_window_min(cr, j0, j1):
    """(first j in [j0, j1] with the smallest cr[j−2] + … + cr[j+2], that sum); (−1, inf)
    when the range is empty. Needs j0 ≥ 2 and j1 + 2 < len(cr)."""
    n = j1 - j0 + 1
    if n <= 0:
        return -1, np.inf
    seg = cr[max(j0 - 2, 0) : j1 + 3]
    s_even = np.inf
    k_even = -1
    s_odd = np.inf
    k_odd = -1
    k = 0
    while k + 1 < n:
        a = (((seg[k] + seg[k + 1]) + seg[k + 2]) + seg[k + 3]) + seg[k + 4]
        b = (((seg[k + 1] + seg[k + 2]) + seg[k + 3]) + seg[k + 4]) + seg[k + 5]
        better = a < s_even
        s_even = a if better else s_even
        k_even = k if better else k_even
        better = b < s_odd
        s_odd = b if better else s_odd
        k_odd = k + 1 if better else k_odd
        k += 2
    if k < n:
        a = (((seg[k] + seg[k + 1]) + seg[k + 2]) + seg[k + 3]) + seg[k + 4]
        if a < s_even:
            s_even = a
            k_even = k
    if k_odd >= 0 and (s_odd < s_even or (s_odd == s_even and k_odd < k_even)):
        return j0 + k_odd, s_odd
    if k_even >= 0:
        return j0 + k_even, s_even
    return -1, np.inf


@njit_leaf
def smoothed_min(cr, js, je, lo, hi, sp):
    """(jmin, mean there) of the running mean over ±sp of cr, for js ≤ j ≤ je, windows clipped
    to [lo, hi] (0 ≤ lo); (−1, inf) when no j. The whole-window interior is scanned by sums
    when sp == 2, the clipped edges by `partial_window_min`; left to right, first j wins."""
    if sp != 2:
        return partial_window_min(cr, js, je, lo, hi, sp, -1, np.inf)
    f0 = max(js, lo + sp)  # first j with a whole window
    f1 = min(je, hi - sp)  # last one
    if f0 > f1:
        return partial_window_min(cr, js, je, lo, hi, sp, -1, np.inf)
    jmin, vmin = partial_window_min(cr, js, f0 - 1, lo, hi, sp, -1, np.inf)
    jf, sf = full_window_min(cr, f0, f1)
    mf = sf / 5
    if jf >= 0 and mf < vmin:
        jmin, vmin = jf, mf
    return partial_window_min(cr, f1 + 1, je, lo, hi, sp, jmin, vmin)
