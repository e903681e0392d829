"""The Band I/II analysis written the numpy way: whole-array operations over blocks of spectra,
no numba, no Python loop per spectrum. It is the fair numpy baseline of the band and survey
benchmarks (the per-spectrum twin in band_twins.py is a slow reference, not a baseline) and a
second, independent twin of `firmware.kernels.bands`.

Same method (kernels/bands.py): band grid by a binning matrix, tie points = maxima in three
windows, straight continua, continuum-removed bands, trapezoid areas, a ±2-sample running mean
to place a 31-point cubic fit, the fit's minimum in closed form, up to three re-centrings,
then the same status rules. Assumes complete rows on one shared axis (what surveys give).
"""

from __future__ import annotations

import numpy as np

from firmware.kernels import bands as K
from tests.twins.numpy_pipeline import binning_matrix

BLOCK = 2048  # spectra per block: bounds the (block, 207) temporaries


def _cubic(c, t):
    return ((c[:, 3] * t + c[:, 2]) * t + c[:, 1]) * t + c[:, 0]


def cubic_min(c):
    """(t, value) of the minimum over [−1, 1] of each row's cubic c (n, 4), increasing order:
    both edges and the interior root of p′ with p″ > 0, whichever is lowest."""
    n = c.shape[0]
    best, tbest = _cubic(c, -1.0), np.full(n, -1.0)
    v = _cubic(c, 1.0)
    tbest, best = np.where(v < best, 1.0, tbest), np.minimum(v, best)
    a, b = 3.0 * c[:, 3], 2.0 * c[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = b * b - 4.0 * a * c[:, 1]
        sq = np.sqrt(np.where(disc > 0, disc, 0.0))
        q = np.where(b < 0, -0.5 * (b - sq), -0.5 * (b + sq))
        t1 = q / a
        t2 = np.where(q != 0, c[:, 1] / q, t1)
        t_cubic = np.where(b + 2.0 * a * t1 > 0, t1, t2)
        t_par = -c[:, 1] / b
    t = np.where(a == 0, np.where(b > 0, t_par, np.nan), np.where(disc > 0, t_cubic, np.nan))
    inside = (t > -1.0) & (t < 1.0)
    v = _cubic(c, np.where(inside, t, 0.0))
    better = inside & (v < best)
    return np.where(better, t, tbest), np.where(better, v, best)


class NumpyBands:
    """Precomputes the band-grid matrix for one axis; `analyse(X)` → (values, status)."""

    def __init__(self, axis_um: np.ndarray):
        self.x = K.BAND_GRID_UM
        axis_um = np.asarray(axis_um, float)
        inside = (self.x >= axis_um[0] - 1e-9) & (self.x <= axis_um[-1] + 1e-9)
        self.m = np.full((self.x.size, axis_um.size), np.nan)  # grid points outside: missing
        self.m[inside] = binning_matrix(axis_um, self.x[inside], K.BAND_RESAMPLE_HALF_WIDTH_UM)
        self.tie_j, self.search_j = K.band_indices()
        self.pinv = K.band_fit_model()

    def analyse(self, x: np.ndarray):
        out = [self._block(x[i : i + BLOCK]) for i in range(0, x.shape[0], BLOCK)]
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

    def _block(self, x):
        xg = self.x
        r = np.asarray(x, dtype=np.float64) @ np.nan_to_num(self.m, nan=0.0).T
        r[:, np.isnan(self.m).any(axis=1)] = np.nan
        n, g = r.shape
        rows = np.arange(n)
        out = np.full((n, K.N_OUT), np.nan)
        status = np.full((n, 2), K.NO_COVERAGE)
        valid = ~np.isnan(r)
        has = valid.any(axis=1)
        first = np.where(has, np.argmax(valid, axis=1), -1)
        last = np.where(has, g - 1 - np.argmax(valid[:, ::-1], axis=1), -1)
        ties = []
        for lo, hi in self.tie_j:
            w = np.where(np.isnan(r[:, lo : hi + 1]), -np.inf, r[:, lo : hi + 1])
            k = np.argmax(w, axis=1)
            ties.append(np.where(np.isfinite(w[rows, k]), lo + k, -1))
        for w, t in enumerate(ties):
            out[:, K.TIE1 + w] = np.where(t >= 0, xg[np.maximum(t, 0)], np.nan)
        t1, t2, t3 = ties
        ok1 = has & (t1 >= 0) & (t2 > t1)
        with np.errstate(invalid="ignore", divide="ignore"):
            a, b = np.maximum(t1, 0), np.maximum(t2, 0)
            slope = (r[rows, b] - r[rows, a]) / (xg[b] - xg[a]) / r[rows, a]
        out[:, K.SLOPE] = np.where(ok1, slope, np.nan)
        for band, (ta, tb, col) in enumerate(((t1, t2, K.BIC), (t2, t3, K.BIIC))):
            sel = np.flatnonzero(has & (ta >= 0) & (tb > ta))
            if sel.size:
                status[sel, band] = self._band(r[sel], ta[sel], tb[sel], first[sel], last[sel],
                                               band, out, sel, col)  # fmt: skip
        bar_ok = (status[:, 0] == K.OK) & np.isfinite(out[:, K.BII_AREA]) & (out[:, K.BI_AREA] > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            bar = np.maximum(out[:, K.BII_AREA], 0.0) / out[:, K.BI_AREA]
        out[:, K.BAR] = np.where(bar_ok, bar, np.nan)
        return out, status

    def _band(self, r, a, b, first, last, band, out, sel, col):
        """One band for the rows `sel` (r holds those rows); writes out[sel, col:col+3]."""
        pinv = self.pinv[band]
        w = pinv.shape[1]
        m = (w - 1) // 2
        lo, hi = np.maximum(first, a - m), np.minimum(last, b + m)
        # work on the columns some row of the block needs only, indices relative to c0
        c0, c1 = int(lo.min()), int(hi.max()) + 1
        r, xg = r[:, c0:c1], self.x[c0:c1]
        a, b, lo, hi = a - c0, b - c0, lo - c0, hi - c0
        n, g = r.shape
        rows = np.arange(n)
        h = self.x[1] - self.x[0]
        j = np.arange(g)
        slope = (r[rows, b] - r[rows, a]) / (xg[b] - xg[a])
        in_span = (j >= lo[:, None]) & (j <= hi[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            cr = np.where(in_span, r / (r[rows, a][:, None] + slope[:, None] * (xg - xg[a][:, None])), np.nan)
        one = 1.0 - cr
        trap = 0.5 * h * (one[:, :-1] + one[:, 1:])
        in_band = (j[:-1] >= a[:, None]) & (j[:-1] < b[:, None])
        area = np.where(in_band, trap, 0.0).sum(axis=1)
        # running mean over ±2 samples, clipped to [lo, hi] (NaN outside counts as absent)
        pad = np.pad(np.where(in_span, cr, 0.0), ((0, 0), (2, 2)))
        cnt_pad = np.pad(in_span.astype(float), ((0, 0), (2, 2)))
        total = (((pad[:, 0:g] + pad[:, 1 : g + 1]) + pad[:, 2 : g + 2]) + pad[:, 3 : g + 3]) + pad[:, 4 : g + 4]
        count = cnt_pad[:, 0:g] + cnt_pad[:, 1 : g + 1] + cnt_pad[:, 2 : g + 2] + cnt_pad[:, 3 : g + 3] + cnt_pad[:, 4 : g + 4]
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = total / count
        j_lo, j_hi = self.search_j[band] - c0
        cand = (j >= np.maximum(a + 1, j_lo)[:, None]) & (j <= np.minimum(b - 1, j_hi)[:, None])
        smooth = np.where(cand, smooth, np.inf)
        jmin = np.argmin(smooth, axis=1)
        vmin = smooth[rows, jmin]
        st = np.full(n, K.NO_COVERAGE)
        depth = np.full(n, np.nan)
        centre = np.full(n, np.nan)
        covered = cand.any(axis=1)
        no_band = covered & (1.0 - vmin < K.MIN_DEPTH)
        st[no_band] = K.NO_BAND
        depth[no_band] = 1.0 - vmin[no_band]
        todo = covered & ~no_band

        def fit(centre_j, ok):
            s = np.clip(np.minimum(np.maximum(centre_j - m, lo), hi - w + 1), 0, g - w)
            seg = cr[rows[:, None], s[:, None] + np.arange(w)]
            good = ok & (hi - lo + 1 >= w) & ~np.isnan(seg).any(axis=1)
            t, v = cubic_min(np.nan_to_num(seg) @ pinv.T)
            return good, s + m, t, v

        good, cj, t, v = fit(jmin, todo)
        st[todo & ~good] = K.NO_COVERAGE
        active = todo & good
        for _ in range(K.RECENTRE_STEPS):
            j2 = cj + np.floor(t * m + 0.5).astype(int)
            active = active & (j2 != cj)
            g2, cj2, t2, v2 = fit(j2, active)
            active = active & g2 & (cj2 != cj)
            cj, t, v = np.where(active, cj2, cj), np.where(active, t2, t), np.where(active, v2, v)
        done = todo & good
        cen = xg[np.clip(cj, 0, g - 1)] + t * m * h  # xg starts at column c0
        bad = done & ((t <= -1.0) | (t >= 1.0) | (cen < K.SEARCH_LO_UM[band] - 1e-9) | (cen > K.SEARCH_HI_UM[band] + 1e-9))
        shallow = done & ~bad & (1.0 - v < K.MIN_DEPTH)
        okb = done & ~bad & ~shallow
        st[bad], st[shallow], st[okb] = K.BAD_FIT, K.NO_BAND, K.OK
        depth[done] = 1.0 - v[done]
        depth[bad] = 1.0 - vmin[bad]
        centre[okb] = cen[okb]
        out[sel, col] = centre
        out[sel, col + 1] = depth
        out[sel, col + 2] = area
        return st
