"""The prospecting verdict: water, metal and silicates, each a likelihood *level* with reasons.

Levels are ordinal — UNKNOWN (−1: the evidence is missing), UNLIKELY 0, POSSIBLE 1,
MODERATE 2, HIGH 3 — set by stated rules from measured evidence only:

water (hydrated silicates; the 3 µm band is outside 0.45–2.45 µm, so only its proxies):
  * 0.7 µm band detected (the h feature of firmware.kernels.features: depth ≥ 1 %, ≥ 3σ,
    centre 0.70 ± 0.05 µm) → HIGH. Fe²⁺→Fe³⁺ charge transfer in phyllosilicates (Vilas &
    Gaffey 1989, Science 246, 790); every asteroid with it also shows the 3 µm hydration band
    (Rivkin 2012, Icarus 221, 744; Howell et al. 2011).
  * class Ch/Cgh (defined by that band; Bus & Binzel 2002, DeMeo et al. 2009) without our
    detection → MODERATE. Other C-complex (B, C, Cb, Cg; Mahlke B, C, P) → POSSIBLE: CM/CI-like
    but no 0.7 µm band. Mafic classes (S, Q, V, A, O, R) → UNLIKELY (anhydrous ol/px).
  * otherwise UNLIKELY if the 0.7 µm window was measured and shows no band, UNKNOWN if not.
metal (Fe–Ni):
  * X-complex (Bus-DeMeo X, Xc, Xe, Xk, Xn; Mahlke X or M) with a red slope: with an albedo,
    Tholen's (1984) ranges split it — M 0.10 ≤ pV ≤ 0.30 → HIGH if Band I is absent
    (featureless), MODERATE if present; E (pV > 0.30, enstatite) or P (pV < 0.10, primitive)
    → UNLIKELY. Without an albedo → MODERATE (E/M/P degenerate). Mahlke M → as M albedo.
  * C-complex, mafic classes, D, T → UNLIKELY; a measured Band I on an unclassified spectrum →
    UNLIKELY (silicate surface); otherwise UNKNOWN.
silicates (olivine/pyroxene): a measured Band I → HIGH for mafic classes, POSSIBLE otherwise;
  no band on a classified spectrum → UNLIKELY; nothing measured → UNKNOWN.

The overall score is the highest of the water and metal levels divided by 3 (1 = a high
likelihood of a resource, 0 = neither likely) — an ordinal rank for sorting targets, not a
probability. The kernel `levels` works on arrays (batch and single spectrum alike).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, prange

UNKNOWN, UNLIKELY, POSSIBLE, MODERATE, HIGH = -1, 0, 1, 2, 3
LEVEL_NAMES = {UNKNOWN: "unknown", UNLIKELY: "unlikely", POSSIBLE: "possible", MODERATE: "moderate", HIGH: "high"}

# Class groups (group codes for the kernel)
G_UNKNOWN, G_HYDRATED, G_C, G_X, G_MAFIC, G_OTHER, G_M, G_E, G_P = range(9)
BUS_DEMEO_GROUP = {
    **{c: G_HYDRATED for c in ("Ch", "Cgh")},
    **{c: G_C for c in ("B", "C", "Cb", "Cg")},
    **{c: G_X for c in ("X", "Xc", "Xe", "Xk", "Xn")},
    **{c: G_MAFIC for c in ("S", "Sa", "Sq", "Sr", "Sv", "Q", "V", "A", "O", "R")},
    **{c: G_OTHER for c in ("D", "T", "K", "L")},
}
# Mahlke et al. 2022 classes (E/M/P already use the albedo)
MAHLKE_GROUP = {
    "Ch": G_HYDRATED, "B": G_C, "C": G_C, "P": G_P, "X": G_X, "M": G_M, "E": G_E,
    **{c: G_MAFIC for c in ("S", "Q", "V", "A", "O", "R")},
    **{c: G_OTHER for c in ("D", "K", "L", "Z")},
}  # fmt: skip
# Tholen 1984 (PhD thesis; Tholen & Barucci 1989, Asteroids II) visual-albedo ranges.
ALBEDO_P_MAX = 0.10
ALBEDO_M_MAX = 0.30


def group_of(bus_demeo_cls: str | None, mahlke_cls: str | None = None) -> int:
    """Class group code; Mahlke's E/M/P (albedo-informed) win over a Bus-DeMeo X label."""
    base = None
    if bus_demeo_cls:
        base = bus_demeo_cls[:-1] if bus_demeo_cls.endswith("w") and len(bus_demeo_cls) > 1 else bus_demeo_cls
    g = BUS_DEMEO_GROUP.get(base, G_UNKNOWN)
    if mahlke_cls:
        mc = mahlke_cls  # drop trailing feature flags ("Mk", "Pe", "Eek") but keep class "Ch"
        while mc not in MAHLKE_GROUP and len(mc) > 1 and mc[-1] in "ehk":
            mc = mc[:-1]
        mg = MAHLKE_GROUP.get(mc, G_UNKNOWN)
        if g == G_UNKNOWN or (g == G_X and mg in (G_M, G_E, G_P)) or (mg == G_HYDRATED):
            g = mg
    return g


@njit_parallel
def levels(group, h_detected, band1_ok, slope, albedo):
    """Per spectrum: (water, metal, silicate) levels (N, 3) int64 and score (N,) (NaN when
    both water and metal are UNKNOWN).

    group (N,) class-group codes; h_detected (N,) 1 / 0 / −1 (not measurable); band1_ok (N,)
    1 band measured / 0 no band / −1 no coverage; slope (N,) Bus-DeMeo slope µm⁻¹ (NaN =
    unknown); albedo (N,) pV (NaN = not given)."""
    n = group.shape[0]
    out = np.empty((n, 3), np.int64)
    score = np.empty(n)
    for i in prange(n):
        g = group[i]
        h = h_detected[i]
        b = band1_ok[i]
        a = albedo[i]
        # water
        if h == 1:
            w = HIGH
        elif g == G_HYDRATED:
            w = MODERATE
        elif g == G_C or g == G_P:
            w = POSSIBLE
        elif g == G_MAFIC:
            w = UNLIKELY
        elif h == 0:
            w = UNLIKELY
        else:
            w = UNKNOWN
        # metal
        xlike = g == G_X or g == G_M
        if g == G_M:
            a_class = G_M
        elif g == G_E or g == G_P:
            a_class = g
        elif np.isnan(a):
            a_class = G_UNKNOWN
        elif a < ALBEDO_P_MAX:
            a_class = G_P
        elif a <= ALBEDO_M_MAX:
            a_class = G_M
        else:
            a_class = G_E
        if g == G_E or g == G_P:
            m = UNLIKELY
        elif xlike:
            if not np.isnan(slope[i]) and slope[i] <= 0.0:
                m = POSSIBLE  # not the red slope of metal
            elif a_class == G_M:
                m = HIGH if b != 1 else MODERATE
            elif a_class == G_UNKNOWN:
                m = MODERATE
            else:
                m = UNLIKELY
        elif g == G_C or g == G_HYDRATED or g == G_MAFIC or g == G_OTHER:
            m = UNLIKELY
        elif b == 1:
            m = UNLIKELY
        else:
            m = UNKNOWN
        # silicates
        if b == 1:
            s = HIGH if g == G_MAFIC else POSSIBLE
        elif g != G_UNKNOWN and b == 0:
            s = UNLIKELY
        elif g == G_MAFIC:
            s = POSSIBLE  # a mafic class whose Band I was not covered
        else:
            s = UNKNOWN
        out[i, 0] = w
        out[i, 1] = m
        out[i, 2] = s
        best = max(w, m)
        score[i] = np.nan if best < 0 else best / 3.0
    return out, score


def band1_code(band_status: np.ndarray) -> np.ndarray:
    """Band I status (firmware.kernels.bands codes) → 1 band present (OK, or BAD_FIT: deeper
    than the threshold but its centre unresolved), 0 no band, −1 not covered."""
    from firmware.kernels import bands as KB

    s = np.asarray(band_status)
    return np.where((s == KB.OK) | (s == KB.BAD_FIT), 1, np.where(s == KB.NO_BAND, 0, -1)).astype(np.int64)


def group_table() -> np.ndarray:
    """Group code per firmware.taxonomy.CLASS_NAMES index, plus G_UNKNOWN last (so that
    class index −1 maps to it with plain numpy indexing)."""
    from firmware.taxonomy import CLASS_NAMES

    return np.array([BUS_DEMEO_GROUP.get(c, G_UNKNOWN) for c in CLASS_NAMES] + [G_UNKNOWN], np.int64)


def prospect_batch(bus_demeo_batch, band_batch, albedo=None, mahlke_labels=None):
    """Verdict arrays for N spectra: (levels (N, 3) water/metal/silicates, score (N,)).

    bus_demeo_batch: `firmware.busdemeo.BatchResult`; band_batch: `firmware.bands.BandBatch`
    (same rows); albedo: (N,) pV or None; mahlke_labels: N Mahlke classes or None (only then
    is there a Python step per spectrum)."""
    cls = np.asarray(bus_demeo_batch.class_index, dtype=np.int64)
    group = group_table()[cls]
    if mahlke_labels is not None:
        labels = bus_demeo_batch.labels()
        group = np.array([group_of(c, m) for c, m in zip(labels, mahlke_labels, strict=True)], np.int64)
    n = group.shape[0]
    h = bus_demeo_batch.features[:, 1, 3]
    h_code = np.where(np.isnan(h), -1, h).astype(np.int64)
    alb = np.full(n, np.nan) if albedo is None else np.asarray(albedo, dtype=np.float64)
    if alb.shape != (n,):
        from firmware.errors import InputError

        raise InputError(f"albedo must have one value per spectrum ({n},), got {alb.shape}")
    return levels(group, h_code, band1_code(band_batch.status[:, 0]),
                  np.asarray(bus_demeo_batch.slope, dtype=np.float64), alb)  # fmt: skip
