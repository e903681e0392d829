"""Mineralogy from band parameters: the published calibrations, each with its domain.

Every calibration says which classes it is for and which band-parameter box it was fitted
in; outside either it is *refused* with the reason, never extrapolated. The σ of an estimate
is √(σ_cal² + (∂f/∂x · σ_x)²): σ_x the Monte-Carlo σ of the band parameters, σ_cal the rms
scatter of the calibration *measured here* on the lab spectra of tests/data/lab (RELAB /
C-Tape; tests/test_mineralogy_lab.py re-measures it and fails if it drifts).

| key | relation (BIC, BIIC µm) | for | source |
|---|---|---|---|
| ol_fraction_dunn2010 | ol/(ol+px) = −0.242·BAR + 0.728 | S, Sq, Sr, Q (OC-like) | Dunn et al. 2010, Icarus 208, 789 |
| fa_dunn2010 | Fa = 242.5·BIC − 204.5 mol% | same | Dunn et al. 2010 |
| fs_dunn2010 | Fs = 205.9·BIC − 168.7 mol% | same | Dunn et al. 2010 |
| fs_reddy2015 | Fs = −879.1·BIC² + 1824.9·BIC − 921.7 | same | Reddy et al. 2015, Asteroids IV, Table 2 |
| opx_fraction_cloutis1986 | opx/(ol+opx) = 0.417·BAR + 0.052 | S-complex, Q, A, O, R | Cloutis et al. 1986, JGR 91, 11641 |
| ol_fraction_sanchez2014 | ol/(ol+opx) = −11.27·BAR² + 0.3012·BAR + 0.956 | A, Sa | Sanchez et al. 2014, Icarus 228, 288 |
| fs_burbine2009 | Fs = 1023.4·BIC − 913.82 mol% | V | Burbine et al. 2009, MAPS 44, 1331 |
| wo/fs_gaffey2002 | iterated pyroxene equations | V, pyroxene-rich S | Gaffey et al. 2002, Asteroids III |

The constants are those of science.md §4.1 (as implemented in Korda et al.'s
`BAR_BC_method.py`; the Dunn ol intercept is 0.728, not Korda's 0.782 — science.md §6.9).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange
from firmware.kernels import bands as KB
from firmware.taxonomy import CLASS_NAMES

# Quantity columns
(OL_DUNN, FA_DUNN, FS_DUNN, FS_REDDY, OPX_CLOUTIS, OL_SANCHEZ, FS_BURBINE, WO_GAFFEY,
 FS_GAFFEY) = range(9)  # fmt: skip
QUANTITIES = (
    # key, unit, citation
    ("ol_fraction_dunn2010", "ol/(ol+px)", "Dunn et al. 2010, Icarus 208, 789"),
    ("fa_dunn2010", "mol% Fa", "Dunn et al. 2010, Icarus 208, 789"),
    ("fs_dunn2010", "mol% Fs", "Dunn et al. 2010, Icarus 208, 789"),
    ("fs_reddy2015", "mol% Fs", "Reddy et al. 2015, Asteroids IV, 43 (Table 2)"),
    ("opx_fraction_cloutis1986", "opx/(ol+opx)", "Cloutis et al. 1986, JGR 91, 11641"),
    ("ol_fraction_sanchez2014", "ol/(ol+opx)", "Sanchez et al. 2014, Icarus 228, 288"),
    ("fs_burbine2009", "mol% Fs", "Burbine et al. 2009, MAPS 44, 1331"),
    ("wo_gaffey2002", "mol% Wo", "Gaffey et al. 2002, Asteroids III, 183"),
    ("fs_gaffey2002", "mol% Fs", "Gaffey et al. 2002, Asteroids III, 183"),
)
N_Q = len(QUANTITIES)

# Classes each calibration is for (Bus-DeMeo, w suffix stripped).
_OC_LIKE = ("S", "Sq", "Sr", "Q")
CLASSES_FOR = (
    _OC_LIKE, _OC_LIKE, _OC_LIKE, _OC_LIKE,
    ("S", "Sa", "Sq", "Sr", "Sv", "Q", "A", "O", "R"),
    ("A", "Sa"),
    ("V",),
    ("V", "S", "Sq", "Sr", "Sv", "R", "O"),
    ("V", "S", "Sq", "Sr", "Sv", "R", "O"),
)  # fmt: skip

# Domains (BIC µm lo/hi, BAR lo/hi). OC box: the range of the 73 H/L/LL lab spectra here
# (BIC 0.915–1.024 µm, BAR 0.20–1.35), rounded outward. Cloutis: BAR where the line stays in
# 0–1. Sanchez 2014: BAR ≤ 0.20 (beyond it the quadratic falls to ≤ 0.5 and below zero;
# on the lab ol–opx mixtures its bias jumps from −0.07 to −0.6 above BAR 0.2). Burbine: the
# lab eucrites/diogenites' BIC, rounded outward. Gaffey 2002: pyroxene-dominated, BAR ≥ 1.0
# (opx/(ol+opx) ≥ 0.47 on the Cloutis line).
DOMAIN = np.array([
    [0.91, 1.03, 0.20, 1.35], [0.91, 1.03, 0.20, 1.35], [0.91, 1.03, 0.20, 1.35],
    [0.91, 1.03, 0.20, 1.35],
    [0.80, 1.25, 0.00, 2.27],
    [0.80, 1.25, 0.00, 0.20],
    [0.91, 0.96, 0.00, 9.99],
    [0.80, 1.25, 1.00, 9.99], [0.80, 1.25, 1.00, 9.99],
])  # fmt: skip
# Calibration scatter σ_cal measured here (rms of estimate − label on tests/data/lab, band
# parameters from firmware.bands): Dunn ol 0.054, Fa 3.5 mol%, Fs 7.3 mol% (bias +6.3 on
# the OPX Fs labels), Reddy Fs 3.7 mol% (73 H/L/LL); Cloutis 0.19 (268 ol–opx mixtures with
# cpx < 5 %); Sanchez 0.05 (the ol–opx mixtures with ol > 0.6 and BAR ≤ 0.2); Burbine 10.8
# mol% (13 eucrites/diogenites); Gaffey: not measured here (NaN: band σ only).
SIGMA_CAL = np.array([0.054, 3.5, 7.3, 3.7, 0.19, 0.05, 10.8, np.nan, np.nan])

APPLIED, NOT_MEASURED, OUT_OF_DOMAIN, NOT_FOR_CLASS, NO_CONVERGENCE = 0, 1, 2, 3, 4
STATUS_NAMES = ("applied", "not_measured", "out_of_domain", "not_for_class", "no_convergence")
UNKNOWN_CLASS = len(CLASS_NAMES)  # row of the class table used when no class is given

# Phase angle (science.md §4.2 and measured here on the 190 Marsset 2022 S-complex/Q spectra
# with a measured Band I, 1°–91°): Band I depth rises by 0.00067 ± 0.00019 per degree
# (t = 3.5; Sanchez et al. 2012, Icarus 220, 36 find the same rise for 2° < g < 70°); BIC,
# BIIC, BAR, Band II depth and the Band I continuum slope show no trend (|t| ≤ 1.2), as
# Sanchez et al. 2012 found ("no significant impact on the mineralogical analysis"), so they
# are not corrected. The Bus-DeMeo slope rises by 0.0010 µm⁻¹ per degree (science.md §4.2).
BAND1_DEPTH_PER_DEG = 0.00067
BAND1_DEPTH_PER_DEG_SIGMA = 0.00019
DEMEO_SLOPE_PER_DEG = 0.0010
PHASE_MAX_DEG = 91.0  # the largest phase angle in the sample the trend was measured on
PHASE_CLASSES = ("S", "Sa", "Sq", "Sr", "Sv", "Q")


def class_table() -> np.ndarray:
    """(n_classes + 1, N_Q) bool: calibration q is for class c; the last row (unknown class)
    allows all, so that the band-parameter domain alone decides."""
    t = np.zeros((len(CLASS_NAMES) + 1, N_Q), np.bool_)
    for q, classes in enumerate(CLASSES_FOR):
        for c in classes:
            t[CLASS_NAMES.index(c), q] = True
    t[UNKNOWN_CLASS, :] = True
    return t


@njit_serial
def _gaffey(bic, biic):
    """Gaffey et al. 2002 pyroxene equations, iterated: (Wo, Fs, converged)."""
    fs = 268.2 * biic - 483.7  # start from the low-Ca (Wo < 11) Band II equation
    wo = np.nan
    for _ in range(12):
        if fs < 10.0:
            wo_new = 347.9 * bic - 313.6
        elif fs < 25.0:
            wo_new = 456.2 * bic - 416.9
        elif fs <= 50.0:
            wo_new = 418.9 * bic - 380.9
        else:
            return wo, fs, False
        if wo_new < 11.0:
            fs_new = 268.2 * biic - 483.7
        elif wo_new < 30.0:
            fs_new = 57.5 * biic - 72.7
        elif wo_new < 45.0:
            fs_new = -12.9 * biic + 45.9
        elif wo_new <= 50.0:
            fs_new = -118.0 * biic + 278.5
        else:
            return wo_new, fs, False
        if abs(fs_new - fs) < 1e-9 and wo_new == wo:
            return wo_new, fs_new, True
        wo = wo_new
        fs = fs_new
    return wo, fs, False


@njit_serial
def _value(q, bic, biic, bar):
    if q == OL_DUNN:
        return -0.242 * bar + 0.728  # Dunn et al. 2010, Eq. for ol/(ol+px)
    if q == FA_DUNN:
        return 242.5 * bic - 204.5  # Dunn et al. 2010
    if q == FS_DUNN:
        return 205.9 * bic - 168.7  # Dunn et al. 2010
    if q == FS_REDDY:
        return -879.1 * bic * bic + 1824.9 * bic - 921.7  # Reddy et al. 2015, Table 2
    if q == OPX_CLOUTIS:
        return 0.417 * bar + 0.052  # Cloutis et al. 1986
    if q == OL_SANCHEZ:
        return -11.27 * bar * bar + 0.3012 * bar + 0.956  # Sanchez et al. 2014
    if q == FS_BURBINE:
        return 1023.4 * bic - 913.82  # Burbine et al. 2009
    wo, fs, ok = _gaffey(bic, biic)
    if not ok:
        return np.nan
    return wo if q == WO_GAFFEY else fs


@njit_serial
def calibrate_one(bic, s_bic, biic, s_biic, bar, s_bar, allowed, domain, sigma_cal, v, s, code):
    """All calibrations for one spectrum: value v (N_Q,), σ s, status code (see STATUS_NAMES).

    Inputs NaN = not measured. σ_x NaN counts as 0 (statistical σ unknown: σ_cal only).
    ∂f/∂x by central differences of ±1e-4 (exact for these low-order relations)."""
    for q in range(v.shape[0]):
        v[q] = np.nan
        s[q] = np.nan
        if not allowed[q]:
            code[q] = NOT_FOR_CLASS
            continue
        uses_bic = q != OL_DUNN and q != OPX_CLOUTIS and q != OL_SANCHEZ
        uses_bar = q == OL_DUNN or q == OPX_CLOUTIS or q == OL_SANCHEZ
        uses_biic = q == WO_GAFFEY or q == FS_GAFFEY
        if (uses_bic and np.isnan(bic)) or (uses_bar and np.isnan(bar)) or (uses_biic and np.isnan(biic)):
            code[q] = NOT_MEASURED
            continue
        # the domain box applies to the parameters that are measured (BAR may be missing for
        # a BIC-only relation: then only BIC is checked)
        if not np.isnan(bic) and (bic < domain[q, 0] or bic > domain[q, 1]):
            code[q] = OUT_OF_DOMAIN
            continue
        if not np.isnan(bar) and (bar < domain[q, 2] or bar > domain[q, 3]):
            code[q] = OUT_OF_DOMAIN
            continue
        if np.isnan(bar) and domain[q, 2] > 0.0 and (q == WO_GAFFEY or q == FS_GAFFEY):
            code[q] = NOT_MEASURED  # pyroxene dominance is decided by BAR
            continue
        val = _value(q, bic, biic, bar)
        if np.isnan(val):
            code[q] = NO_CONVERGENCE
            continue
        var = 0.0 if np.isnan(sigma_cal[q]) else sigma_cal[q] ** 2
        h = 1e-4
        if uses_bic and not np.isnan(s_bic):
            d = (_value(q, bic + h, biic, bar) - _value(q, bic - h, biic, bar)) / (2 * h)
            if not np.isnan(d):
                var += (d * s_bic) ** 2
        if uses_biic and not np.isnan(s_biic):
            d = (_value(q, bic, biic + h, bar) - _value(q, bic, biic - h, bar)) / (2 * h)
            if not np.isnan(d):
                var += (d * s_biic) ** 2
        if uses_bar and not np.isnan(s_bar):
            d = (_value(q, bic, biic, bar + h) - _value(q, bic, biic, bar - h)) / (2 * h)
            var += (d * s_bar) ** 2
        v[q] = val
        s[q] = np.sqrt(var) if var > 0.0 else np.nan
        code[q] = APPLIED


@njit_parallel
def calibrate(values, sigma, class_index, table, domain, sigma_cal):
    """Batch: values/sigma (N, KB.N_OUT) from firmware.bands, class_index (N,) (−1 or
    UNKNOWN_CLASS = unknown) → estimates (N, N_Q), σ (N, N_Q), codes (N, N_Q)."""
    n = values.shape[0]
    nq = domain.shape[0]
    est = np.empty((n, nq))
    sig = np.empty((n, nq))
    code = np.empty((n, nq), np.int64)
    unknown = table.shape[0] - 1
    for i in prange(n):
        c = class_index[i]
        row = table[unknown] if c < 0 or c >= unknown else table[c]
        calibrate_one(values[i, KB.BIC], sigma[i, KB.BIC], values[i, KB.BIIC], sigma[i, KB.BIIC],
                      values[i, KB.BAR], sigma[i, KB.BAR], row, domain, sigma_cal,
                      est[i], sig[i], code[i])  # fmt: skip
    return est, sig, code


def _class_index(cls: str | None) -> int:
    if cls is None:
        return UNKNOWN_CLASS
    base = cls[:-1] if cls.endswith("w") and cls[:-1] in CLASS_NAMES else cls
    return CLASS_NAMES.index(base) if base in CLASS_NAMES else UNKNOWN_CLASS


def masked_band_values(values: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Band values with the centres of bands that were not measured (status ≠ OK) set NaN,
    so that no calibration reads a centre the band analysis did not stand behind."""
    v = np.array(values, dtype=np.float64, copy=True)
    v[status[:, 0] != KB.OK, KB.BIC] = np.nan
    v[status[:, 1] != KB.OK, KB.BIIC] = np.nan
    return v


def mineralogy_batch(band_batch, class_index=None, class_labels=None):
    """Calibrations for a `firmware.bands.BandBatch`. The class per row is either
    `class_index` (N,) into firmware.taxonomy.CLASS_NAMES (−1 = unknown; e.g. the Bus-DeMeo
    `BatchResult.class_index`, no Python per spectrum) or `class_labels` (N labels or None).
    Returns (estimates, σ, codes), each (N, N_Q)."""
    n = len(band_batch)
    if class_index is not None:
        idx = np.asarray(class_index, dtype=np.int64)
        idx = np.where((idx < 0) | (idx >= UNKNOWN_CLASS), UNKNOWN_CLASS, idx)
    elif class_labels is not None:
        idx = np.array([_class_index(c) for c in class_labels], np.int64)
    else:
        idx = np.full(n, UNKNOWN_CLASS, np.int64)
    vals = masked_band_values(band_batch.values, band_batch.status)
    return calibrate(vals, band_batch.sigma, idx, class_table(), DOMAIN, SIGMA_CAL)


def _reason(q: int, code: int, cls: str | None, bic, bar) -> str | None:
    key = QUANTITIES[q][0]
    if code == NOT_FOR_CLASS:
        return f"{key} is calibrated for classes {', '.join(CLASSES_FOR[q])}, not {cls}"
    if code == NOT_MEASURED:
        return "a band parameter this relation needs was not measured"
    if code == OUT_OF_DOMAIN:
        lo_c, hi_c, lo_b, hi_b = DOMAIN[q]
        return (
            f"outside the calibration's domain (BIC {lo_c:.2f}–{hi_c:.2f} µm, BAR "
            f"{lo_b:.2f}–{hi_b:.2f}); measured BIC {_fmt(bic)}, BAR {_fmt(bar)}"
        )
    if code == NO_CONVERGENCE:
        return "the Gaffey 2002 iteration left the equations' Wo/Fs ranges (not a pyroxene?)"
    return None


def _fmt(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def phase_correction(band_dict: dict, cls: str | None, phase_angle_deg: float | None,
                     demeo_slope: float | None = None) -> dict:  # fmt: skip
    """What phase reddening does to this spectrum's parameters, and the corrected values.

    Corrects to 0° phase the Band I depth (S-complex/Q only) and the Bus-DeMeo slope; BIC,
    BIIC and BAR are left as measured (no significant trend; see the constants above)."""
    out: dict = {"phase_angle_deg": phase_angle_deg, "applied": False}
    if phase_angle_deg is None:
        out["reason"] = "no phase angle given: parameters as measured"
        return out
    base = None if cls is None else cls.rstrip("w") or cls
    if base not in PHASE_CLASSES:
        out["reason"] = (
            f"phase trends are measured for S-complex/Q spectra only; class {cls}: no correction"
        )
        return out
    if not 0.0 <= phase_angle_deg <= PHASE_MAX_DEG:
        out["reason"] = f"phase angle outside the 0–{PHASE_MAX_DEG:.0f}° range the trend was measured on"
        return out
    out["applied"] = True
    d1 = band_dict["band1"].get("depth")
    if d1 is not None:
        out["band1_depth_corrected"] = d1 - BAND1_DEPTH_PER_DEG * phase_angle_deg
        s1 = band_dict["band1"].get("depth_sigma") or 0.0
        out["band1_depth_corrected_sigma"] = float(np.hypot(s1, BAND1_DEPTH_PER_DEG_SIGMA * phase_angle_deg))
    if demeo_slope is not None:
        out["demeo_slope_corrected_per_um"] = demeo_slope - DEMEO_SLOPE_PER_DEG * phase_angle_deg
    out["unchanged"] = ["band1_centre_um", "band2_centre_um", "bar"]
    out["reason"] = (
        "Band I depth and Bus-DeMeo slope corrected to 0° (trends measured on Marsset 2022 "
        "S/Q spectra; Sanchez et al. 2012); centres and BAR show no significant trend"
    )
    return out


def mineralogy(band_result, cls: str | None = None) -> dict:
    """JSON-ready calibrations for one `firmware.bands.BandResult` and its class."""
    b = band_result
    bic = b.band1.centre_um if b.band1.measured else None
    biic = b.band2.centre_um if b.band2.measured else None
    f = lambda v: np.nan if v is None else float(v)  # noqa: E731
    v = np.empty(N_Q)
    s = np.empty(N_Q)
    code = np.empty(N_Q, np.int64)
    calibrate_one(f(bic), f(b.band1.centre_sigma_um), f(biic), f(b.band2.centre_sigma_um),
                  f(b.bar), f(b.bar_sigma), class_table()[_class_index(cls)], DOMAIN,
                  SIGMA_CAL, v, s, code)  # fmt: skip
    estimates = {}
    for q, (key, unit, cite) in enumerate(QUANTITIES):
        c = int(code[q])
        estimates[key] = {
            "value": float(v[q]) if c == APPLIED else None,
            "sigma": float(s[q]) if c == APPLIED and np.isfinite(s[q]) else None,
            "unit": unit, "source": cite, "status": STATUS_NAMES[c],
            "reason": _reason(q, c, cls, f(bic), f(b.bar)),
        }  # fmt: skip
    return {
        "class": cls,
        "class_known": _class_index(cls) != UNKNOWN_CLASS,
        "estimates": estimates,
        "sigma_note": "σ = √(σ_cal² + propagated band σ); σ_cal measured on the lab spectra",
    }
