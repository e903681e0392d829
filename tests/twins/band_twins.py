"""Slow, plainly written numpy twins of the band-analysis kernels (firmware/kernels/bands.py,
continuum.py) and of the vectorised mineralogy / prospect kernels.

Written from the method descriptions, not from the kernels: Python loops, np.interp,
np.polyfit, np.trapezoid, a dense scan for polynomial minima, np.median.
"""

from __future__ import annotations

import numpy as np

from firmware.kernels import bands as K
from tests.twins.core_twins import resample_binned


def upper_hull(x, y):
    """Indices of the upper convex hull of the valid points, left to right (collinear
    middle points dropped): keep a point only while the chain turns clockwise."""
    hull: list[int] = []
    for j in np.flatnonzero(~np.isnan(y)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[j] - y[a]) - (y[b] - y[a]) * (x[j] - x[a])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(int(j))
    return hull


def hull_continuum(x, reflectance):
    out = np.full(reflectance.shape, np.nan)
    for i, row in enumerate(np.asarray(reflectance, dtype=np.float64)):
        row = np.where(row > 0, row, np.nan)
        h = upper_hull(x, row)
        if h:
            span = slice(h[0], h[-1] + 1)
            out[i, span] = np.interp(x[span], x[h], row[h])
    return out


def tie_points(x, row, lo_um, hi_um):
    ties = []
    for lo, hi in zip(lo_um, hi_um, strict=True):
        sel = np.flatnonzero((x >= lo - 1e-9) & (x <= hi + 1e-9) & ~np.isnan(row))
        ties.append(int(sel[np.argmax(row[sel])]) if sel.size else -1)
    return ties


def tie_continuum(x, reflectance, lo_um, hi_um):
    out = np.full(reflectance.shape, np.nan)
    all_ties = []
    for i, row in enumerate(np.asarray(reflectance, dtype=np.float64)):
        row = np.where(row > 0, row, np.nan)
        ties = tie_points(x, row, lo_um, hi_um)
        all_ties.append(ties)
        t = [j for j in ties if j >= 0]
        if t:
            span = slice(t[0], t[-1] + 1)
            out[i, span] = np.interp(x[span], x[t], row[t])
    return out, np.array(all_ties)


def _poly_min_dense(coef_increasing, n=20001):
    t = np.linspace(-1, 1, n)
    v = np.polyval(coef_increasing[::-1], t)
    k = int(np.argmin(v))
    return t[k], v[k]


def _band(x, r, a, b, first, last, search, degree, m, out, col):
    h = x[1] - x[0]
    line = r[a] + (r[b] - r[a]) / (x[b] - x[a]) * (x - x[a])
    lo, hi = max(first, a - m), min(last, b + m)
    cr = np.full(x.size, np.nan)
    cr[lo : hi + 1] = r[lo : hi + 1] / line[lo : hi + 1]
    out[col + 2] = np.trapezoid(1 - cr[a : b + 1], dx=h)
    cand = [j for j in range(a + 1, b) if search[0] - 1e-9 <= x[j] <= search[1] + 1e-9]
    if not cand:
        return K.NO_COVERAGE
    smooth = [np.mean(cr[max(lo, j - K.SMOOTH_POINTS) : min(hi, j + K.SMOOTH_POINTS) + 1]) for j in cand]
    jmin, vmin = cand[int(np.argmin(smooth))], float(np.min(smooth))
    if 1 - vmin < K.MIN_DEPTH:
        out[col + 1] = 1 - vmin
        return K.NO_BAND
    w = 2 * m + 1

    def fit(centre):
        if hi - lo + 1 < w:
            return None
        s = min(max(centre - m, lo), hi - w + 1)
        seg = cr[s : s + w]
        if np.isnan(seg).any():
            return None
        tloc = np.arange(-m, m + 1) / m
        return s + m, np.polyfit(tloc, seg, degree)[::-1]

    got = fit(jmin)
    if got is None:
        return K.NO_COVERAGE
    cj, c = got
    t, v = _poly_min_dense(c)
    for _ in range(K.RECENTRE_STEPS):
        j2 = cj + int(np.floor(t * m + 0.5))
        if j2 == cj:
            break
        got = fit(j2)
        if got is None or got[0] == cj:
            break
        cj, c = got
        t, v = _poly_min_dense(c)
    out[col + 1] = 1 - v
    centre = x[cj] + t * m * h
    if t <= -1 or t >= 1 or not search[0] - 1e-9 <= centre <= search[1] + 1e-9:
        out[col + 1] = 1 - vmin
        return K.BAD_FIT
    if 1 - v < K.MIN_DEPTH:
        return K.NO_BAND
    out[col] = centre
    return K.OK


def bands_one(x, r):
    """(out (N_OUT,), status (2,)) for one spectrum on the band grid."""
    out = np.full(K.N_OUT, np.nan)
    status = [K.NO_COVERAGE, K.NO_COVERAGE]
    valid = np.flatnonzero(~np.isnan(r))
    if valid.size == 0:
        return out, status
    first, last = int(valid[0]), int(valid[-1])
    t1, t2, t3 = tie_points(x, r, K.TIE_LO_UM, K.TIE_HI_UM)
    for w, t in enumerate((t1, t2, t3)):
        if t >= 0:
            out[K.TIE1 + w] = x[t]
    for band, (a, b) in enumerate(((t1, t2), (t2, t3))):
        if a >= 0 and b > a:
            if band == 0:
                out[K.SLOPE] = (r[b] - r[a]) / (x[b] - x[a]) / r[a]
            status[band] = _band(
                x, r, a, b, first, last, (K.SEARCH_LO_UM[band], K.SEARCH_HI_UM[band]),
                K.FIT_DEGREE[band], K.FIT_HALF_POINTS[band], out, (K.BIC, K.BIIC)[band],
            )  # fmt: skip
    if status[0] == K.OK and np.isfinite(out[K.BII_AREA]) and out[K.BI_AREA] > 0:
        out[K.BAR] = max(out[K.BII_AREA], 0.0) / out[K.BI_AREA]
    return out, status


def der_snr_noise(row):
    f = row[~np.isnan(row)]
    if f.size < 5:
        return np.nan
    return 1.482602 / np.sqrt(6) * np.median(np.abs(2 * f[2:-2] - f[:-4] - f[4:]))


def band_pipeline(wavelength_um, reflectance, error, z):
    """(values, sigma, status, noise) like kernels.bands.band_pipeline, one spectrum at a time."""
    x = K.BAND_GRID_UM
    refl = np.asarray(reflectance, dtype=np.float64)
    n = refl.shape[0]
    values = np.full((n, K.N_OUT), np.nan)
    sigma = np.full((n, K.N_OUT), np.nan)
    status = np.zeros((n, 2), np.int64)
    noise = np.full(n, np.nan)
    for i in range(n):
        row = np.where(refl[i] > 0, refl[i], np.nan)
        r = resample_binned(wavelength_um, row[None], x, K.BAND_RESAMPLE_HALF_WIDTH_UM)[0]
        values[i], status[i] = bands_one(x, r)
        if z.shape[0] == 0 or np.sum(~np.isnan(row)) < 5:
            continue
        if error is None:
            noise[i] = der_snr_noise(row)
            sj = np.full(row.size, noise[i])
        else:
            sj = np.where(error[i] > 0, error[i], np.nan)
        sj = np.nan_to_num(sj, nan=0.0)
        draws = []
        for k in range(z.shape[0]):
            rk = resample_binned(wavelength_um, (row + sj * z[k])[None], x, K.BAND_RESAMPLE_HALF_WIDTH_UM)[0]
            draws.append(bands_one(x, rk)[0])
        d = np.array(draws)
        for c in range(K.N_OUT):
            ok = d[:, c][~np.isnan(d[:, c])]
            if ok.size >= (z.shape[0] + 1) // 2 and ok.size >= 2 and np.isfinite(values[i, c]):
                sigma[i, c] = np.std(ok, ddof=1)
    return values, sigma, status, noise


# --- mineralogy (firmware.mineralogy.calibrate) ----------------------------------------------

def gaffey2002(bic, biic):
    """Gaffey et al. 2002 equations, iterated from the low-Ca Band II equation."""
    fs, wo = 268.2 * biic - 483.7, None
    for _ in range(12):
        if fs > 50:
            return None
        wo_new = 347.9 * bic - 313.6 if fs < 10 else (456.2 * bic - 416.9 if fs < 25 else 418.9 * bic - 380.9)
        if wo_new > 50:
            return None
        if wo_new < 11:
            fs_new = 268.2 * biic - 483.7
        elif wo_new < 30:
            fs_new = 57.5 * biic - 72.7
        elif wo_new < 45:
            fs_new = -12.9 * biic + 45.9
        else:
            fs_new = -118.0 * biic + 278.5
        if abs(fs_new - fs) < 1e-9 and wo_new == wo:
            return wo_new, fs_new
        wo, fs = wo_new, fs_new
    return None


RELATIONS = {
    0: ("bar", lambda bic, biic, bar: -0.242 * bar + 0.728),
    1: ("bic", lambda bic, biic, bar: 242.5 * bic - 204.5),
    2: ("bic", lambda bic, biic, bar: 205.9 * bic - 168.7),
    3: ("bic", lambda bic, biic, bar: -879.1 * bic**2 + 1824.9 * bic - 921.7),
    4: ("bar", lambda bic, biic, bar: 0.417 * bar + 0.052),
    5: ("bar", lambda bic, biic, bar: -11.27 * bar**2 + 0.3012 * bar + 0.956),
    6: ("bic", lambda bic, biic, bar: 1023.4 * bic - 913.82),
    7: ("both", lambda bic, biic, bar: (gaffey2002(bic, biic) or (np.nan,))[0]),
    8: ("both", lambda bic, biic, bar: (gaffey2002(bic, biic) or (np.nan, np.nan))[1]),
}


def calibrate(values, sigma, class_index, table, domain, sigma_cal):
    """Twin of firmware.mineralogy.calibrate: codes 0 applied, 1 not measured, 2 out of
    domain, 3 not for class, 4 no convergence; σ by analytic-free central differences."""
    n, nq = values.shape[0], domain.shape[0]
    est, sig, code = np.full((n, nq), np.nan), np.full((n, nq), np.nan), np.zeros((n, nq), int)
    for i in range(n):
        bic, biic, bar = values[i, K.BIC], values[i, K.BIIC], values[i, K.BAR]
        sb, sbb, sr = sigma[i, K.BIC], sigma[i, K.BIIC], sigma[i, K.BAR]
        c = class_index[i]
        allowed = table[-1] if c < 0 or c >= table.shape[0] - 1 else table[c]
        for q in range(nq):
            kind, f = RELATIONS[q]
            needs = {"bar": [bar], "bic": [bic], "both": [bic, biic]}[kind]
            if not allowed[q]:
                code[i, q] = 3
            elif any(np.isnan(v) for v in needs):
                code[i, q] = 1
            elif (not np.isnan(bic) and not domain[q, 0] <= bic <= domain[q, 1]) or (
                not np.isnan(bar) and not domain[q, 2] <= bar <= domain[q, 3]
            ):
                code[i, q] = 2
            elif kind == "both" and np.isnan(bar):
                code[i, q] = 1
            elif np.isnan(f(bic, biic, bar)):
                code[i, q] = 4
            else:
                v = f(bic, biic, bar)
                var = 0.0 if np.isnan(sigma_cal[q]) else sigma_cal[q] ** 2
                h = 1e-4
                parts = {"bar": [(2, sr)], "bic": [(0, sb)], "both": [(0, sb), (1, sbb)]}[kind]
                for which, s in parts:
                    if np.isnan(s):
                        continue
                    args_p, args_m = [bic, biic, bar], [bic, biic, bar]
                    args_p[which] += h
                    args_m[which] -= h
                    d = (f(*args_p) - f(*args_m)) / (2 * h)
                    if not np.isnan(d):
                        var += (d * s) ** 2
                est[i, q], sig[i, q] = v, (np.sqrt(var) if var > 0 else np.nan)
    return est, sig, code


# --- verdict levels (firmware.prospect.levels) -----------------------------------------------

def prospect_levels(group, h_detected, band1_ok, slope, albedo):
    from firmware import prospect as P

    out, score = [], []
    for g, h, b, s, a in zip(group, h_detected, band1_ok, slope, albedo, strict=True):
        water = (P.HIGH if h == 1 else P.MODERATE if g == P.G_HYDRATED else
                 P.POSSIBLE if g in (P.G_C, P.G_P) else P.UNLIKELY if g == P.G_MAFIC or h == 0
                 else P.UNKNOWN)  # fmt: skip
        if g in (P.G_E, P.G_P):
            metal = P.UNLIKELY
        elif g in (P.G_X, P.G_M):
            alb = "M" if g == P.G_M else (None if np.isnan(a) else "P" if a < 0.10 else "M" if a <= 0.30 else "E")
            if not np.isnan(s) and s <= 0:
                metal = P.POSSIBLE
            elif alb == "M":
                metal = P.HIGH if b != 1 else P.MODERATE
            else:
                metal = P.MODERATE if alb is None else P.UNLIKELY
        elif g in (P.G_C, P.G_HYDRATED, P.G_MAFIC, P.G_OTHER) or b == 1:
            metal = P.UNLIKELY
        else:
            metal = P.UNKNOWN
        if b == 1:
            sil = P.HIGH if g == P.G_MAFIC else P.POSSIBLE
        elif g != P.G_UNKNOWN and b == 0:
            sil = P.UNLIKELY
        else:
            sil = P.POSSIBLE if g == P.G_MAFIC else P.UNKNOWN
        out.append((water, metal, sil))
        best = max(water, metal)
        score.append(np.nan if best < 0 else best / 3)
    return np.array(out), np.array(score)
