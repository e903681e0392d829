"""The Bus-DeMeo pipeline written the numpy way: whole-array operations over blocks of
spectra, no numba. It is the fair numpy baseline of the benchmarks (a per-spectrum Python
loop would be an unfair one) and a second, independent twin of the fused kernel.

Assumes what survey arrays give: one shared wavelength axis covering 0.45–2.45 µm and no
missing values (the numba kernels also handle masks; this version does not).
"""

from __future__ import annotations

import numpy as np

from firmware.busdemeo import GRID_HALF_WIDTH_UM, K_MIN_DEPTH, _kernel_constants
from firmware.kernels import demeo as K
from firmware.kernels import thermal as TH
from firmware.kernels.features import (
    ANCHOR_POINTS,
    FEATURE_CENTRE_TOL_UM,
    FEATURE_CENTRE_UM,
    FEATURE_GRID_UM,
    FEATURE_RESAMPLE_HALF_WIDTH_UM,
    FEATURE_WINDOWS_UM,
    MIN_DEPTH,
)

BLOCK = 8192  # spectra per block: bounds the temporaries (numpy would otherwise need GBs)


def binning_matrix(axis_um: np.ndarray, grid_um: np.ndarray, half_width_um: float) -> np.ndarray:
    """(G, B) matrix M with resampled = spectra @ M.T: the mean of the samples within
    ±half_width of each grid point, else linear interpolation between its neighbours."""
    m = np.zeros((grid_um.size, axis_um.size))
    for k, g in enumerate(grid_um):
        sel = np.abs(axis_um - g) <= half_width_um + 1e-9
        if sel.any():
            m[k, sel] = 1.0 / sel.sum()
        else:
            j = np.searchsorted(axis_um, g)
            t = (g - axis_um[j - 1]) / (axis_um[j] - axis_um[j - 1])
            m[k, j - 1], m[k, j] = 1 - t, t
    return m


class NumpyBusDeMeo:
    """Precomputes the matrices for one wavelength axis; `classify(X)` → (class, w, slope, pc)."""

    def __init__(self, axis_um: np.ndarray, n_dense: int = 2049):
        self.model, self.tmpl_sr, self.inv_var = _kernel_constants()
        grid = self.model.grid_um
        self.m41 = binning_matrix(axis_um, grid, GRID_HALF_WIDTH_UM)
        self.mfine = binning_matrix(axis_um, FEATURE_GRID_UM, FEATURE_RESAMPLE_HALF_WIDTH_UM)
        self.windows = []
        td = np.linspace(-1, 1, n_dense)
        for (lo, hi), c, tol in zip(FEATURE_WINDOWS_UM, FEATURE_CENTRE_UM, FEATURE_CENTRE_TOL_UM, strict=True):
            idx = np.flatnonzero((FEATURE_GRID_UM >= lo - 1e-9) & (FEATURE_GRID_UM <= hi + 1e-9))
            x = FEATURE_GRID_UM[idx]
            mid, half = (x[0] + x[-1]) / 2, (x[-1] - x[0]) / 2
            t = (x - mid) / half
            v = np.vander(t, 5, increasing=True)
            self.windows.append((idx, t, v, np.linalg.pinv(v), np.vander(td, 5, increasing=True), mid + half * td, c, tol))
        self.thermal = self._thermal_designs(grid)
        dx = grid - grid.mean()
        self.slope_w = dx / (dx @ dx)  # least-squares slope = R @ slope_w
        self.keep = np.delete(np.arange(grid.size), K.I055)

    @staticmethod
    def _thermal_designs(grid):
        at = lambda um: int(np.argmin(np.abs(grid - um)))  # noqa: E731
        fit = np.flatnonzero(grid >= grid[at(TH.FIT_LO_UM)])
        x = grid[fit]
        shapes = np.array([TH.planck_ratio(grid, t) / TH.planck_ratio(grid[-1], t) for t in TH.T_GRID_K])
        designs = [np.column_stack([np.ones_like(x), x, p[fit]]) for p in shapes]
        designs.append(np.column_stack([np.ones_like(x), x, x * x]))
        band = np.arange(at(TH.BAND_I_UM[0]), at(TH.BAND_I_UM[1]) + 1)
        return fit, shapes, designs, band, at(TH.BAND_I_CONT_UM[0]), at(TH.BAND_I_CONT_UM[1])

    def remove_thermal_tail(self, r):
        """firmware.kernels.thermal on a block of normalised 41-point spectra, whole-array."""
        grid = self.model.grid_um
        fit, shapes, designs, band, c0, c1 = self.thermal
        t = (grid[band] - grid[c0]) / (grid[c1] - grid[c0])
        cont = r[:, [c0]] + (r[:, [c1]] - r[:, [c0]]) * t
        deep = np.max(1 - r[:, band] / cont, axis=1) >= TH.MAX_BAND_I_DEPTH
        gate = ~(deep & (np.min(r[:, band], axis=1) < r[:, c1]))  # no Band I with a minimum
        y = r[:, fit]
        ss, amp, var_a = [], [], []
        for d in designs:
            coef = y @ np.linalg.pinv(d).T
            ss.append(((y - coef @ d.T) ** 2).sum(1))
            amp.append(coef[:, 2])
            var_a.append(np.linalg.inv(d.T @ d)[2, 2])
        ss, amp = np.array(ss), np.array(amp)
        k = np.argmin(ss[:-1], axis=0)
        i = np.arange(r.shape[0])
        a, best = amp[k, i], ss[k, i]
        sigma = np.sqrt(best / (fit.size - 3) * np.array(var_a)[k])
        det = gate & (a >= TH.MIN_EXCESS) & (a >= TH.N_SIGMA * sigma) & (best < ss[-1])
        return r - np.where(det, a, 0.0)[:, None] * shapes[k]

    def features(self, fine: np.ndarray) -> np.ndarray:
        """(N, 3) detections, the stated rule of firmware.kernels.features (k counted by the
        Bus-DeMeo tree from K_MIN_DEPTH)."""
        det = np.zeros((fine.shape[0], len(self.windows)))
        a = ANCHOR_POINTS
        for f, (idx, t, v, pinv, vd, xd, centre, tol) in enumerate(self.windows):
            y = fine[:, idx]
            y0, y1 = y[:, :a].mean(1, keepdims=True), y[:, -a:].mean(1, keepdims=True)
            t0, t1 = t[:a].mean(), t[-a:].mean()
            r = y / (y0 + (y1 - y0) / (t1 - t0) * (t - t0))
            coef = r @ pinv.T
            rms = np.sqrt(((r - coef @ v.T) ** 2).sum(1) / (len(t) - 5))
            fit = coef @ vd.T
            k = fit.argmin(1)
            depth = 1 - fit[np.arange(len(k)), k]
            sigma = rms * np.sqrt(5 / len(t))
            det[:, f] = ((k > 0) & (k < vd.shape[0] - 1) & (np.abs(xd[k] - centre) <= tol)
                         & (depth >= (K_MIN_DEPTH if f == 2 else MIN_DEPTH)) & (depth >= 3 * sigma))  # fmt: skip
        return det

    def classify(self, x: np.ndarray):
        out = [self._block(x[i : i + BLOCK]) for i in range(0, x.shape[0], BLOCK)]
        return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))

    def _block(self, x):
        m, grid = self.model, self.model.grid_um
        x = x.astype(np.float64)
        r = x @ self.m41.T
        det = self.features(x @ self.mfine.T)
        r = self.remove_thermal_tail(r / r[:, [K.I055]])
        slope = r @ self.slope_w
        rprime = r / (1 + slope[:, None] * (grid - 0.55))
        pc = (rprime[:, self.keep] - m.data_mean) @ m.eigenvectors.T
        chi2 = np.einsum("nck,ck->nc", (r[:, None, :] - m.template_mean) ** 2, self.inv_var) / grid.size
        cls = self._tree(pc, slope, r[:, 0], rprime, det, chi2)
        w = (slope >= K.W_SLOPE) & np.isin(cls, [K.R, K.V, K.Q, K.S, K.SQ, K.SR, K.SV])
        return cls, w, slope, pc

    def _corr_pick(self, rprime, a, b):
        def corr(t):
            rc = rprime - rprime.mean(1, keepdims=True)
            tc = t - t.mean()
            return (rc @ tc) / np.sqrt((rc**2).sum(1) * (tc @ tc))

        return np.where(corr(self.tmpl_sr[a]) >= corr(self.tmpl_sr[b]), a, b)

    def _tree(self, pc, slope, r045, rprime, det, chi2):
        """DeMeo 2009 Appendix B with masks: the first rule that matches a spectrum wins."""
        p1, p2, p3, p4, p5 = pc.T
        e, h, k = (det[:, 0] == 1), (det[:, 1] == 1), (det[:, 2] == 1)
        alpha, beta, gamma, delta, theta = (-3 * p2 + c for c in (-0.28, 0.35, 1.0, 1.5, 0.7))
        eps, zeta, eta = (p2 / 3 + c for c in (0.55, -0.10, -0.40))
        n = len(p1)
        cls = np.full(n, K.INDETERMINATE)
        todo = np.ones(n, bool)

        def rule(cond, value):
            hit = todo & cond
            cls[hit] = value[hit] if np.ndim(value) else value
            todo[hit] = False

        step1 = (p1 < -0.3) & (p3 >= 0.2) & (slope >= 0.4)
        rule(step1 & (slope >= 0.55) & (slope < 1.5), K.A)
        rule(step1 & (slope < 0.55), K.SA)
        above = p1 >= alpha
        rule(above & (p1 >= eta) & (gamma <= p1) & (p1 < delta), K.R)
        rule(above & (p1 >= gamma), K.V)
        rule(above & (p1 <= eta) & (theta <= p1) & (p1 < delta), K.O)
        rule(above & (p1 <= eta) & (alpha <= p1) & (p1 < theta), K.Q)
        rule(above & (zeta < p1) & (p1 < beta), K.S)
        rule(above & (p1 < beta) & (eta < p1) & (p1 <= zeta), K.SQ)
        rule(above & (beta <= p1) & (p1 < gamma), np.where(p1 > eps, K.SV, K.SR))
        rule(above, K.S)
        rule((slope >= 0.38) & (slope < 1.5) & (p1 > -0.44) & (p1 < 0.4), self._corr_pick(rprime, K.A, K.D))
        rule((slope > 0.25) & (slope < 0.38) & (p2 > -0.28) & (p2 < -0.2) & (p3 > -0.2) & (p3 < -0.12), K.T)
        rule((p1 > 0.07) & (p1 < 1.0) & (p2 > -0.5) & (p2 < -0.15), np.where(e, K.XE, K.L))
        rule((p3 > -0.075) & (p3 < 0.14) & (p2 >= -0.2) & (p2 < 0.1) & (p1 > -0.8) & (p1 < 0.1), np.where(e, K.XE, K.K))
        rule((slope > -0.2) & (slope < 0) & (p1 > -1.2) & (p1 < 0) & (p4 < 0), K.B)
        rule((slope > 0.2) & (slope < 0.38), np.where(k, K.XK, np.where(e, K.XE, self._corr_pick(rprime, K.C, K.X))))
        cgh = (p4 > 0.01) & (p4 < 0.14) & (p1 > -0.75) & (p1 < -0.27)
        rule(cgh & h, np.where(r045 < 0.92, K.CGH, K.CH))
        rule(cgh & k, K.XK)
        rule((p4 > -0.04) & (p4 < 0.02) & (p5 > -0.07) & (p5 < -0.04), K.CB)
        rule((p1 > -0.85) & (p1 < -0.45) & (p5 > -0.06) & (p5 < 0.02), np.where(h, K.CH, np.where(k, K.XK, K.C)))
        rule((p5 >= 0.02) & (p5 < 0.1) & (p1 > -0.6) & (p1 < -0.16), np.where(h, K.CGH, K.CG))
        rule((p1 >= -0.45) & (p1 < 0.1) & (p5 > -0.06) & (p5 < 0.05),
             np.where(h, K.CH, np.where(e, K.XE, np.where(k, K.XK, K.XC))))  # fmt: skip
        rule((p1 >= -0.1) & (p1 < 0.3) & (p2 > -0.5) & (p2 < -0.2), np.where(e, K.XE, K.L))
        cx = np.array([K.B, K.C, K.CB, K.CG, K.CGH, K.CH, K.X, K.XC, K.XE, K.XK])
        rule(np.ones(n, bool), cx[np.argmin(chi2[:, cx], axis=1)])
        return cls
