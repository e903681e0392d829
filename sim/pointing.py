"""Where the spectrometer looks: nadir for the survey, a surface point for a PROSPECT look.

The boresight is nadir in SURVEY. A re-observation points it at the requested surface point
(latitude/longitude on the rotating body) by slewing off nadir: the point must face the
spacecraft within `max_emission_deg` (grazing views are useless and, on a real body,
shadowed by relief) and be lit within the instrument's incidence limit. On a sphere a point
with emission < 90° is never hidden by the body itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def body_to_inertial(vec_body: np.ndarray, theta_rad: float) -> np.ndarray:
    """Inverse of `Ephemeris.to_body`: rotate by +θ about the spin axis."""
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    x, y, z = vec_body
    return np.array([c * x - s * y, s * x + c * y, z])


def surface_normal_body(lat_deg: float, lon_deg: float) -> np.ndarray:
    la, lo = math.radians(lat_deg), math.radians(lon_deg)
    return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])


@dataclass(frozen=True)
class Look:
    boresight: np.ndarray  # unit vector, inertial
    emission_deg: float
    incidence_deg: float
    feasible: bool
    why: str  # '' when feasible


def target_look(eph, r_sc: np.ndarray, t_s: float, lat_deg: float, lon_deg: float,
                max_emission_deg: float, max_incidence_deg: float) -> Look:  # fmt: skip
    """Boresight from the spacecraft at `r_sc` (inertial, m) to a surface point at time t."""
    n = body_to_inertial(surface_normal_body(lat_deg, lon_deg), float(eph.rotation_angle(t_s)))
    p = n * eph.radius_m
    los = p - r_sc
    dist = float(np.linalg.norm(los))
    d0 = los / dist
    cos_e = float(-(d0 @ n))
    cos_i = float(n @ eph.sun_hat)
    e_deg = math.degrees(math.acos(max(-1.0, min(1.0, cos_e))))
    i_deg = math.degrees(math.acos(max(-1.0, min(1.0, cos_i))))
    why = ""
    if e_deg > max_emission_deg:
        why = f"target {e_deg:.0f}° from the spacecraft's zenith there (limit {max_emission_deg:g}°)"
    elif i_deg > max_incidence_deg:
        why = f"target lit at {i_deg:.0f}° incidence (limit {max_incidence_deg:g}°)"
    return Look(d0, e_deg, i_deg, not why, why)


def ray_directions(d0: np.ndarray, pattern: np.ndarray, half_fov_rad: float,
                   jitter: tuple[float, float]) -> np.ndarray:  # fmt: skip
    """Unit rays of the footprint pattern (offsets in field radii) about boresight `d0`,
    displaced by a pointing error `jitter` (rad, two axes)."""
    dx, dy, dz = (float(v) for v in d0)
    # u = d0 × ẑ (or × x̂ along the pole), w = d0 × u: an orthonormal frame about the boresight
    ux, uy, uz = (dy, -dx, 0.0) if dx * dx + dy * dy > 1e-18 else (0.0, dz, -dy)
    un = math.sqrt(ux * ux + uy * uy + uz * uz)
    ux, uy, uz = ux / un, uy / un, uz / un
    u = np.array([ux, uy, uz])
    w = np.array([dy * uz - dz * uy, dz * ux - dx * uz, dx * uy - dy * ux])
    off = pattern * math.tan(half_fov_rad)
    ju, jw = jitter
    d = d0[None, :] + (off[:, :1] + ju) * u[None, :] + (off[:, 1:] + jw) * w[None, :]
    return d / np.linalg.norm(d, axis=1, keepdims=True)
