"""Gaffey et al. 1993 S-subtypes S(I)–S(VII) from (BAR, Band I centre).

The fields are read from `seeds/mineralogy/gaffey1993_s_subtypes.csv` — a schematic
reconstruction, not a digitisation (see that folder's README). A point is placed by an
even-odd ray test against each polygon (numba kernel `locate`; numpy twin uses
matplotlib.path). With 1σ errors, every field touched by the error box (BAR ± σ, BIC ± σ:
its corners and edge midpoints) is listed, so that a point on a boundary is not over-sold.
Only S-complex, Q, A (olivine) and unknown classes get a subtype: the diagram is for mafic
silicate assemblages, and Gaffey et al. defined it for S-asteroids.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange

SEED = Path(__file__).resolve().parents[1] / "seeds" / "mineralogy" / "gaffey1993_s_subtypes.csv"
BOUNDARIES = "schematic reconstruction of Gaffey et al. 1993 (seeds/mineralogy/README.md)"
FOR_CLASSES = ("S", "Sa", "Sq", "Sr", "Sv", "Q", "A")


@dataclass(frozen=True)
class SubtypeModel:
    names: tuple[str, ...]
    starts: np.ndarray  # (P,) first vertex of each polygon in `vertices`
    counts: np.ndarray  # (P,)
    vertices: np.ndarray  # (V, 2): BAR, BIC µm


@lru_cache(maxsize=2)
def load_model(path: str | Path = SEED) -> SubtypeModel:
    """Read the polygon CSV (lines starting with '#' are comments). Bad rows raise an
    InputError naming the file and line."""
    from firmware.errors import InputError

    names: list[str] = []
    verts: dict[str, list[tuple[float, float]]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [(n, ln) for n, ln in enumerate(fh, 1) if ln.strip() and not ln.startswith("#")]
    header = lines[0][1].strip().split(",")
    if header != ["subtype", "vertex", "bar", "bic_um"]:
        raise InputError(f"{path}, line {lines[0][0]}: header must be subtype,vertex,bar,bic_um")
    for n, ln in lines[1:]:
        row = next(csv.reader([ln]))
        try:
            name, bar, bic = row[0], float(row[2]), float(row[3])
        except (IndexError, ValueError) as exc:
            raise InputError(f"{path}, line {n}: expected subtype,vertex,bar,bic_um ({exc})") from None
        if name not in verts:
            names.append(name)
            verts[name] = []
        verts[name].append((bar, bic))
    starts, counts, allv = [], [], []
    for name in names:
        if len(verts[name]) < 3:
            raise InputError(f"{path}: polygon {name} has fewer than 3 vertices")
        starts.append(len(allv))
        counts.append(len(verts[name]))
        allv.extend(verts[name])
    return SubtypeModel(tuple(names), np.array(starts), np.array(counts), np.array(allv, float))


@njit_serial
def locate_one(bar, bic, starts, counts, vertices):
    """Index of the polygon containing (bar, bic) by the even-odd rule, −1 if none or NaN."""
    if np.isnan(bar) or np.isnan(bic):
        return -1
    for p in range(starts.shape[0]):
        s = starts[p]
        n = counts[p]
        inside = False
        j = s + n - 1
        for k in range(s, s + n):
            xk, yk = vertices[k, 0], vertices[k, 1]
            xj, yj = vertices[j, 0], vertices[j, 1]
            if (yk > bic) != (yj > bic):
                x_cross = xk + (bic - yk) * (xj - xk) / (yj - yk)
                if bar < x_cross:
                    inside = not inside
            j = k
        if inside:
            return p
    return -1


@njit_parallel
def locate(bar, bic, starts, counts, vertices):
    """Batch: (N,) BAR and BIC → (N,) polygon index (−1 = outside every field)."""
    out = np.empty(bar.shape[0], np.int64)
    for i in prange(bar.shape[0]):
        out[i] = locate_one(bar[i], bic[i], starts, counts, vertices)
    return out


def subtype(bar, bic_um, bar_sigma=None, bic_sigma_um=None, cls: str | None = None) -> dict:
    """The S-subtype of one (BAR, BIC) point as a JSON-ready dict (subtype None + reason
    when it cannot be given)."""
    m = load_model()
    out = {"subtype": None, "candidates": [], "boundaries": BOUNDARIES, "reason": None}
    base = None if cls is None else (cls[:-1] if cls.endswith("w") and len(cls) > 1 else cls)
    if base is not None and base not in FOR_CLASSES:
        out["reason"] = f"S-subtypes describe mafic-silicate (S/Q/A-like) spectra, not class {cls}"
        return out
    if bar is None or bic_um is None:
        out["reason"] = "needs both BAR and the Band I centre"
        return out
    sb = 0.0 if bar_sigma is None else float(bar_sigma)
    sc = 0.0 if bic_sigma_um is None else float(bic_sigma_um)
    pts = [(bar + a * sb, bic_um + b * sc) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    idx = locate(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]),
                 m.starts, m.counts, m.vertices)  # fmt: skip
    centre = int(idx[4])
    if centre < 0:
        out["reason"] = f"(BAR {bar:.2f}, BIC {bic_um:.3f} µm) lies outside the subtype diagram"
        return out
    out["subtype"] = m.names[centre]
    out["candidates"] = sorted({m.names[i] for i in idx if i >= 0}, key=m.names.index)
    if len(out["candidates"]) > 1:
        out["reason"] = "within 1σ of a field boundary: every field the error box touches is listed"
    return out
