"""Gaffey et al. 1993 S-subtypes S(I)–S(VII) (and the basaltic-achondrite zone) from the band
area ratio (BAR) and the Band I centre (BIC).

The zones are those of the SARA band-analysis code (Lindsay et al. 2015, Icarus 247, 53),
which re-creates Gaffey et al. 1993 Fig. 8: a box for S(I) and BA, the ordinary-chondrite
"boot" polygon for S(IV), ellipses for S(II), S(III) (two lobes), S(V), S(VI), S(VII). They
are read from `seeds/mineralogy/gaffey1993_s_subtypes.toml`; every shape becomes a polygon
(an ellipse a 96-gon, drawn as SARA draws it: in a plane where BIC is stretched 8.5×).

The zones do not tile the plane: a point may lie in none (then the nearest zone is named,
with its distance) or, where two drawn zones overlap, in two (then both are candidates and
the subtype is the one whose centre is nearer). With 1σ errors, every zone the error box
touches is listed, so a point near a boundary is not over-sold. Only S-complex, Q and A
classes (and spectra without a class) get a subtype: the diagram is for mafic-silicate
assemblages, and Gaffey et al. defined it for S-asteroids.

Kernels: `zones_mask` (which polygons hold a point, as a bit mask; even-odd rule) and
`zone_distance` (distance to a polygon's boundary in the stretched plane); the numpy twin
(tests) uses matplotlib.path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange

SEED = Path(__file__).resolve().parents[1] / "seeds" / "mineralogy" / "gaffey1993_s_subtypes.toml"
BOUNDARIES = "Gaffey et al. 1993 zones as re-created by SARA (Lindsay et al. 2015)"
FOR_CLASSES = ("S", "Sa", "Sq", "Sr", "Sv", "Q", "A")
ELLIPSE_VERTICES = 96


@dataclass(frozen=True)
class SubtypeModel:
    """Zones as polygons; several polygons may share a name (the two S(III) lobes)."""

    names: tuple[str, ...]  # (P,) zone name of each polygon
    zone_names: tuple[str, ...]  # unique names, in file order
    starts: np.ndarray  # (P,) first vertex of each polygon in `vertices`
    counts: np.ndarray  # (P,)
    vertices: np.ndarray  # (V, 2): BAR, BIC µm
    centres: np.ndarray  # (P, 2): vertex mean, BAR and BIC µm
    stretch: float  # BIC scale of the plane distances are measured in


def _ellipse(spec: dict, stretch: float) -> list[tuple[float, float]]:
    phi = np.linspace(0.0, 2.0 * np.pi, ELLIPSE_VERTICES, endpoint=False)
    th = np.deg2rad(float(spec["theta_deg"]))
    a, b = float(spec["a"]), float(spec["b"])
    x = a * np.cos(phi) * np.cos(th) - b * np.sin(phi) * np.sin(th)
    y = (a * np.cos(phi) * np.sin(th) + b * np.sin(phi) * np.cos(th)) / stretch
    return list(zip(float(spec["bar"]) + x, float(spec["bic_um"]) + y, strict=True))


def _shape(zone: dict, stretch: float) -> list[tuple[float, float]]:
    if "box" in zone:
        (x1, x2), (y1, y2) = zone["box"]["bar"], zone["box"]["bic_um"]
        return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    if "polygon" in zone:
        xs, ys = zone["polygon"]["bar"], zone["polygon"]["bic_um"]
        if len(xs) != len(ys) or len(xs) < 3:
            raise ValueError("polygon needs ≥ 3 vertices and as many bar as bic_um values")
        return list(zip(map(float, xs), map(float, ys), strict=True))
    if "ellipse" in zone:
        return _ellipse(zone["ellipse"], stretch)
    raise ValueError("a zone needs one of box, polygon, ellipse")


@lru_cache(maxsize=2)
def load_model(path: str | Path = SEED) -> SubtypeModel:
    """Read the zone file; a bad zone raises InputError naming the file and the zone."""
    from firmware.errors import InputError

    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read the S-subtype zones ({exc})") from None
    stretch = float(doc.get("bic_stretch", 1.0))
    names, starts, counts, verts, centres = [], [], [], [], []
    for k, zone in enumerate(doc.get("zone", [])):
        try:
            pts = _shape(zone, stretch)
            name = str(zone["name"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: zone #{k + 1} ({zone.get('name', '?')}): {exc}") from None
        names.append(name)
        starts.append(len(verts))
        counts.append(len(pts))
        verts.extend(pts)
        centres.append(np.mean(pts, axis=0))
    if not names:
        raise InputError(f"{path}: no [[zone]] tables")
    return SubtypeModel(
        names=tuple(names), zone_names=tuple(dict.fromkeys(names)),
        starts=np.array(starts, np.int64), counts=np.array(counts, np.int64),
        vertices=np.array(verts, np.float64), centres=np.array(centres), stretch=stretch,
    )  # fmt: skip


@njit_serial
def _inside(bar, bic, s, n, vertices):
    inside = False
    j = s + n - 1
    for k in range(s, s + n):
        xk, yk = vertices[k, 0], vertices[k, 1]
        xj, yj = vertices[j, 0], vertices[j, 1]
        if (yk > bic) != (yj > bic):
            if bar < xk + (bic - yk) * (xj - xk) / (yj - yk):
                inside = not inside
        j = k
    return inside


@njit_serial
def zones_mask_one(bar, bic, starts, counts, vertices):
    """Bit p set when polygon p holds (bar, bic) (even-odd rule); 0 for NaN or no zone."""
    mask = 0
    if np.isnan(bar) or np.isnan(bic):
        return mask
    for p in range(starts.shape[0]):
        if _inside(bar, bic, starts[p], counts[p], vertices):
            mask |= 1 << p
    return mask


@njit_parallel
def zones_mask(bar, bic, starts, counts, vertices):
    """Batch: (N,) BAR and BIC → (N,) int64 bit masks of the polygons holding each point."""
    out = np.empty(bar.shape[0], np.int64)
    for i in prange(bar.shape[0]):
        out[i] = zones_mask_one(bar[i], bic[i], starts, counts, vertices)
    return out


@njit_serial
def zone_distance(bar, bic, s, n, vertices, stretch):
    """Distance from (bar, bic) to the boundary of polygon (s, n), BIC scaled by `stretch`."""
    best = np.inf
    j = s + n - 1
    py = bic * stretch
    for k in range(s, s + n):
        ax, ay = vertices[j, 0], vertices[j, 1] * stretch
        bx, by = vertices[k, 0], vertices[k, 1] * stretch
        dx, dy = bx - ax, by - ay
        t = ((bar - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
        t = min(1.0, max(0.0, t))
        d = np.hypot(ax + t * dx - bar, ay + t * dy - py)
        best = min(best, d)
        j = k
    return best


def _names(m: SubtypeModel, mask: int) -> list[str]:
    return list(dict.fromkeys(m.names[p] for p in range(len(m.names)) if mask >> p & 1))


def subtype(bar, bic_um, bar_sigma=None, bic_sigma_um=None, cls: str | None = None) -> dict:
    """The S-subtype of one (BAR, BIC) point as a JSON-ready dict: `subtype` (None + `reason`
    when it cannot be given), `candidates`, and `nearest` when the point is in no zone."""
    m = load_model()
    out = {"subtype": None, "candidates": [], "nearest": None, "boundaries": BOUNDARIES,
           "reason": None}  # fmt: skip
    base = None if cls is None else (cls[:-1] if cls.endswith("w") and len(cls) > 1 else cls)
    if base is not None and base not in FOR_CLASSES:
        out["reason"] = f"S-subtypes describe mafic-silicate (S/Q/A-like) spectra, not class {cls}"
        return out
    if bar is None or bic_um is None or not (np.isfinite(bar) and np.isfinite(bic_um)):
        out["reason"] = "needs both BAR and the Band I centre"
        return out
    sb = 0.0 if bar_sigma is None or not np.isfinite(bar_sigma) else float(bar_sigma)
    sc = 0.0 if bic_sigma_um is None or not np.isfinite(bic_sigma_um) else float(bic_sigma_um)
    pts = np.array([(bar + a * sb, bic_um + b * sc) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    masks = zones_mask(pts[:, 0], pts[:, 1], m.starts, m.counts, m.vertices)
    here = _names(m, int(masks[4]))
    touched = set().union(*(_names(m, int(k)) for k in masks))
    out["candidates"] = [n for n in m.zone_names if n in touched]
    if not here:
        dist = [zone_distance(bar, bic_um, m.starts[p], m.counts[p], m.vertices, m.stretch)
                for p in range(len(m.names))]  # fmt: skip
        p = int(np.argmin(dist))
        out["nearest"] = {"zone": m.names[p], "distance": float(dist[p])}
        out["reason"] = (f"(BAR {bar:.2f}, BIC {bic_um:.3f} µm) lies in no Gaffey zone; the "
                         f"nearest is {m.names[p]}")  # fmt: skip
        return out
    if len(here) > 1:  # drawn zones overlap here: take the nearer centre (stretched plane)
        d = {}
        for p, name in enumerate(m.names):
            if name in here:
                cx, cy = m.centres[p]
                d[name] = min(d.get(name, np.inf), np.hypot(bar - cx, (bic_um - cy) * m.stretch))
        here = sorted(here, key=d.get)
    out["subtype"] = here[0]
    if len(out["candidates"]) > 1:
        out["reason"] = "within 1σ of a zone boundary: every zone the error box touches is listed"
    elif np.any(masks == 0):
        out["reason"] = "within 1σ of the zone's edge: the error box reaches outside every zone"
    return out
