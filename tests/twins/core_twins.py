"""Slow, plainly written numpy twins of the spectral-core kernels (firmware/kernels/).

Written from the method descriptions, not from the kernels: loops over spectra, np.interp,
np.polyfit, np.linalg. Tests compare each kernel with its twin.
"""

from __future__ import annotations

import numpy as np

from firmware.kernels import demeo as K
from firmware.kernels import thermal as TH


def resample_linear(wavelength_um, reflectance, grid_um):
    out = np.full((reflectance.shape[0], grid_um.size), np.nan)
    for i, r in enumerate(np.asarray(reflectance, dtype=np.float64)):
        ok = ~np.isnan(r)
        if ok.sum() == 0:
            continue
        w, v = wavelength_um[ok], r[ok]
        inside = (grid_um >= w[0]) & (grid_um <= w[-1])
        out[i, inside] = np.interp(grid_um[inside], w, v)
    return out


def resample_binned(wavelength_um, reflectance, grid_um, half_width_um):
    out = np.full((reflectance.shape[0], grid_um.size), np.nan)
    for i, r in enumerate(np.asarray(reflectance, dtype=np.float64)):
        ok = ~np.isnan(r)
        if ok.sum() == 0:
            continue
        w, v = wavelength_um[ok], r[ok]
        for k, g in enumerate(grid_um):
            if g < w[0] - 1e-9 or g > w[-1] + 1e-9:
                continue
            sel = np.abs(w - g) <= half_width_um + 1e-9
            out[i, k] = v[sel].mean() if sel.any() else np.interp(g, w, v)
    return out


def coverage(wavelength_um, reflectance, lo_um, hi_um):
    out = np.zeros((reflectance.shape[0], 3))
    for i, r in enumerate(reflectance):
        w = wavelength_um[~np.isnan(r)]
        if w.size == 0:
            out[i] = [np.nan, np.nan, 0.0]
            continue
        a = np.clip(w, lo_um, hi_um)
        gaps = np.diff(a)
        out[i] = [w[0], w[-1], gaps.max() if gaps.size else 0.0]
    return out


def measure_features(fine, grid_um, windows, centres, tols, min_depth=0.01, n_sigma=3.0, n_dense=8193):
    """Linear continuum over the window, degree-4 polyfit, minimum, stated detection rule."""
    out = np.full((fine.shape[0], len(windows), 4), np.nan)
    for i, y_all in enumerate(fine):
        for f, (lo, hi) in enumerate(windows):
            sel = (grid_um >= lo - 1e-9) & (grid_um <= hi + 1e-9)
            x, y = grid_um[sel], y_all[sel]
            if np.isnan(y).any():
                continue
            mid, half = (x[0] + x[-1]) / 2, (x[-1] - x[0]) / 2
            t = (x - mid) / half
            t0, t1 = t[:3].mean(), t[-3:].mean()
            y0, y1 = y[:3].mean(), y[-3:].mean()
            if y0 <= 0 or y1 <= 0:
                continue
            cont = y0 + (y1 - y0) / (t1 - t0) * (t - t0)
            r = y / cont
            coef = np.polyfit(t, r, 4)
            rms = np.sqrt(np.sum((r - np.polyval(coef, t)) ** 2) / max(len(t) - 5, 1))
            td = np.linspace(-1, 1, n_dense)
            fd = np.polyval(coef, td)
            k = int(np.argmin(fd))
            depth = 1 - fd[k]
            sigma = rms * np.sqrt(5 / len(t))
            centre = mid + half * td[k]
            det = (0 < k < n_dense - 1) and abs(centre - centres[f]) <= tols[f] and depth >= min_depth and depth >= n_sigma * sigma
            out[i, f] = [depth, centre, sigma, float(det)]
    return out


def thermal_tail(r, grid):
    """Thermal tail (firmware.kernels.thermal docstring): Band I gate (depth and shoulder); R = a + bλ + A·P_T(λ)
    over 1.50–2.45 µm by np.linalg.lstsq for each T; detection rule; subtraction.
    Returns (r, excess, T)."""
    def at(um):
        return int(np.argmin(np.abs(grid - um)))

    c0, c1 = at(TH.BAND_I_CONT_UM[0]), at(TH.BAND_I_CONT_UM[1])
    if np.isnan(r[c0:]).any():
        return r, 0.0, np.nan
    band = slice(at(TH.BAND_I_UM[0]), at(TH.BAND_I_UM[1]) + 1)
    cont = np.interp(grid[band], [grid[c0], grid[c1]], [r[c0], r[c1]])
    if np.max(1 - r[band] / cont) >= TH.MAX_BAND_I_DEPTH and np.min(r[band]) < r[c1]:
        return r, 0.0, np.nan  # a Band I: deep, and the reflectance recovers by 1.5 µm
    c2_um_k, t_sun = 14387.768775, 5772.0  # CODATA 2018 hc/k; IAU 2015 B3

    def shape(t):
        ratio = np.expm1(c2_um_k / (grid * t_sun)) / np.expm1(c2_um_k / (grid * t))
        return ratio / ratio[-1]

    fit = slice(at(TH.FIT_LO_UM), None)
    x, y = grid[fit], r[fit]

    def lstsq(design):
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        return coef, np.sum((y - design @ coef) ** 2), design

    fits = []
    for t in TH.T_GRID_K:
        coef, ss, design = lstsq(np.column_stack([np.ones_like(x), x, shape(t)[fit]]))
        fits.append((ss, coef[2], t, design))
    ss, amp, t, design = min(fits, key=lambda f: f[0])
    _, ss_parabola, _ = lstsq(np.column_stack([np.ones_like(x), x, x * x]))
    sigma_amp = np.sqrt(ss / (y.size - 3) * np.linalg.inv(design.T @ design)[2, 2])
    if amp >= TH.MIN_EXCESS and amp >= TH.N_SIGMA * sigma_amp and ss < ss_parabola:
        return r - amp * shape(t), amp, t
    return r, 0.0, np.nan


def slope_and_pcs(r41_normalised, grid, eig, mean):
    slope = np.polyfit(grid, r41_normalised, 1)[0]
    rprime = r41_normalised / (1 + slope * (grid - 0.55))
    pc = eig @ (np.delete(rprime, 2) - mean)
    return slope, rprime, pc


def tree(pc, slope, r045, rprime, tmpl_sr, e, h, k):
    """DeMeo 2009 Appendix B, written out as the science notes (§1.3) list it, R before V."""
    p1, p2, p3, p4, p5 = pc
    line = {
        "alpha": -3 * p2 - 0.28, "beta": -3 * p2 + 0.35, "gamma": -3 * p2 + 1.0,
        "delta": -3 * p2 + 1.5, "theta": -3 * p2 + 0.7, "eps": p2 / 3 + 0.55,
        "zeta": p2 / 3 - 0.10, "eta": p2 / 3 - 0.40,
    }  # fmt: skip
    w = slope >= 0.25

    def corr_pick(a, b):
        ca = np.corrcoef(rprime, tmpl_sr[a])[0, 1]
        cb = np.corrcoef(rprime, tmpl_sr[b])[0, 1]
        return a if ca >= cb else b

    if p1 < -0.3 and p3 >= 0.2 and slope >= 0.4:
        if 0.55 <= slope < 1.5:
            return K.A, False
        if slope < 0.55:
            return K.SA, False
    if p1 >= line["alpha"]:
        if p1 >= line["eta"] and line["gamma"] <= p1 < line["delta"]:
            return K.R, w
        if p1 >= line["gamma"]:
            return K.V, w
        if p1 <= line["eta"] and line["theta"] <= p1 < line["delta"]:
            return K.O, False
        if p1 <= line["eta"] and line["alpha"] <= p1 < line["theta"]:
            return K.Q, w
        if line["zeta"] < p1 < line["beta"]:
            return K.S, w
        if line["alpha"] <= p1 < line["beta"] and line["eta"] < p1 <= line["zeta"]:
            return K.SQ, w
        if line["beta"] <= p1 < line["gamma"]:
            return (K.SV if p1 > line["eps"] else K.SR), w
        return K.S, w
    if 0.38 <= slope < 1.5 and -0.44 < p1 < 0.4:
        return corr_pick(K.A, K.D), False
    if 0.25 < slope < 0.38 and -0.28 < p2 < -0.2 and -0.2 < p3 < -0.12:
        return K.T, False
    if 0.07 < p1 < 1.0 and -0.5 < p2 < -0.15:
        return (K.XE if e else K.L), False
    if -0.075 < p3 < 0.14 and -0.2 <= p2 < 0.1 and -0.8 < p1 < 0.1:
        return (K.XE if e else K.K), False
    if -0.2 < slope < 0 and -1.2 < p1 < 0 and p4 < 0:
        return K.B, False
    if 0.2 < slope < 0.38:
        if k:
            return K.XK, False
        if e:
            return K.XE, False
        return corr_pick(K.C, K.X), False
    if 0.01 < p4 < 0.14 and -0.75 < p1 < -0.27:
        if h:
            return (K.CGH if r045 < 0.92 else K.CH), False
        if k:
            return K.XK, False
    if -0.04 < p4 < 0.02 and -0.07 < p5 < -0.04:
        return K.CB, False
    if -0.85 < p1 < -0.45 and -0.06 < p5 < 0.02:
        return (K.CH if h else K.XK if k else K.C), False
    if 0.02 <= p5 < 0.1 and -0.6 < p1 < -0.16:
        return (K.CGH if h else K.CG), False
    if -0.45 <= p1 < 0.1 and -0.06 < p5 < 0.05:
        return (K.CH if h else K.XE if e else K.XK if k else K.XC), False
    if -0.1 <= p1 < 0.3 and -0.5 < p2 < -0.2:
        return (K.XE if e else K.L), False
    return K.INDETERMINATE, False


CX = [K.B, K.C, K.CB, K.CG, K.CGH, K.CH, K.X, K.XC, K.XE, K.XK]


def classify_grid(r41_in, err41, has_err, feat_detected, grid, eig, mean, tmpl_mean, tmpl_sigma, tmpl_sr, max_edge_steps):
    n = r41_in.shape[0]
    cls = np.full(n, -1)
    wflag = np.zeros(n, bool)
    slope = np.full(n, np.nan)
    pc = np.full((n, 5), np.nan)
    chi2 = np.full((n, tmpl_mean.shape[0]), np.nan)
    status = np.zeros(n, int)
    indet = np.zeros(n, bool)
    filled = np.zeros(n, int)
    thermal = np.zeros((n, 2))
    thermal[:, 1] = np.nan
    for i in range(n):
        r = np.array(r41_in[i], dtype=np.float64)
        valid = np.flatnonzero(~np.isnan(r))
        if valid.size == 0 or valid[0] > max_edge_steps or (r.size - 1 - valid[-1]) > max_edge_steps:
            status[i] = K.NO_COVERAGE
            continue
        filled[i] = valid[0] + (r.size - 1 - valid[-1])
        r[: valid[0]] = r[valid[0]]
        r[valid[-1] + 1 :] = r[valid[-1]]
        if np.isnan(r).any():
            status[i] = K.NO_COVERAGE
            continue
        if not r[2] > 0:
            status[i] = K.BAD_NORMALISATION
            continue
        e = np.nan_to_num(err41[i] / r[2], nan=0.0) if has_err else np.zeros_like(r)
        r = r / r[2]
        r, thermal[i, 0], thermal[i, 1] = thermal_tail(r, grid)
        s, rprime, p = slope_and_pcs(r, grid, eig, mean)
        slope[i], pc[i] = s, p
        chi2[i] = np.mean((r - tmpl_mean) ** 2 / (tmpl_sigma**2 + e**2), axis=1)
        det = feat_detected[i] == 1.0
        cls[i], wflag[i] = tree(p, s, r[0], rprime, tmpl_sr, det[0], det[1], det[2])
        if cls[i] == K.INDETERMINATE:
            indet[i] = True
            cls[i] = CX[int(np.argmin(chi2[i][CX]))]
    return cls, wflag, slope, pc, chi2, status, indet, filled, thermal


def bus_demeo_pipeline(wavelength_um, reflectance, error, grid, hw, fine_grid, fine_hw, feature_args, model_args, max_edge_steps, max_gap_um, min_points, k_min_depth=0.01):
    """The fused pipeline as a chain of the twins above; k bands shallower than k_min_depth
    are not counted."""
    refl = np.where(np.asarray(reflectance, dtype=np.float64) > 0, reflectance, np.nan)
    cov = coverage(wavelength_um, refl, grid[0], grid[-1])
    fine = resample_binned(wavelength_um, refl, fine_grid, fine_hw)
    feats = measure_features(fine, fine_grid, *feature_args)
    shallow_k = (feats[:, 2, 3] == 1) & (feats[:, 2, 0] < k_min_depth)
    feats[shallow_k, 2, 3] = 0.0
    r41 = resample_binned(wavelength_um, refl, grid, hw)
    has_err = error is not None
    if has_err:
        err = np.where((error > 0) & ~np.isnan(refl), error, np.nan)
        e41 = resample_binned(wavelength_um, err, grid, hw)
    else:
        e41 = np.full_like(r41, np.nan)
    cls, w, slope, pc, chi2, status, indet, filled, thermal = classify_grid(r41, e41, has_err, feats[:, :, 3], grid, *model_args, max_edge_steps)
    n_valid = np.sum(~np.isnan(refl), axis=1)
    status[(status == K.OK) & (cov[:, 2] > max_gap_um)] = K.GAP
    status[n_valid < min_points] = K.TOO_FEW
    bad = status != K.OK
    cls[bad] = -1
    slope[bad] = np.nan
    pc[bad] = np.nan
    chi2[bad] = np.nan
    w[bad] = False
    indet[bad] = False
    thermal[bad] = [0.0, np.nan]
    return cls, w, slope, pc, chi2, feats, status, (filled > 0) & ~bad, indet, cov[:, :2], thermal
