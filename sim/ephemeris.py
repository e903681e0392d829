"""Orbit and geometry as pure functions of time, vectorised, cached on the step grid.

Two-body motion about the asteroid's centre (Keplerian, bound orbits; no perturbations —
solar radiation pressure and the irregular gravity field are not modelled), the asteroid
spinning about +z, the Sun and Earth in fixed directions. Eclipses and Earth occultations
use the body's cylindrical shadow (the Sun's 0.27° radius is ignored: at 35 km from Eros the
penumbral band is ~330 m wide against an 8.5 km body). Because nothing here has state,
any module may ask for any time: the orbit module publishes the state each step, the power
module integrates the solar input over a skipped stretch, the instrument looks ahead for
the next lit footprint — all from the same numbers, computed once per block of steps.
"""

from __future__ import annotations

import math

import numpy as np

from sim.timebase import NS_PER_S

KEPLER_ITERATIONS = 12  # Newton on Kepler's equation: converged to 1e-15 for e < 0.95


def rotation_matrix(raan_rad: float, inc_rad: float, argp_rad: float) -> np.ndarray:
    """Perifocal → inertial: Rz(Ω) · Rx(i) · Rz(ω) (Vallado 2013, Eq. 2-8 transposed)."""
    cO, sO = math.cos(raan_rad), math.sin(raan_rad)
    ci, si = math.cos(inc_rad), math.sin(inc_rad)
    cw, sw = math.cos(argp_rad), math.sin(argp_rad)
    return np.array([
        [cO * cw - sO * sw * ci, -cO * sw - sO * cw * ci, sO * si],
        [sO * cw + cO * sw * ci, -sO * sw + cO * cw * ci, -cO * si],
        [sw * si, cw * si, ci],
    ])  # fmt: skip


class KeplerOrbit:
    """A bound two-body orbit; `state(t_s)` → positions and velocities (k, 3) in m, m/s."""

    def __init__(self, gm_m3_s2: float, a_m: float, e: float, inc_deg: float, raan_deg: float,
                 argp_deg: float, nu0_deg: float):  # fmt: skip
        if not 0.0 <= e < 1.0:
            raise ValueError(f"eccentricity {e} is not a bound orbit (0 ≤ e < 1)")
        self.gm, self.a, self.e = gm_m3_s2, a_m, e
        self.n_rad_s = math.sqrt(gm_m3_s2 / a_m**3)
        self.period_s = 2 * math.pi / self.n_rad_s
        nu0 = math.radians(nu0_deg)
        E0 = 2 * math.atan2(math.sqrt(1 - e) * math.sin(nu0 / 2), math.sqrt(1 + e) * math.cos(nu0 / 2))
        self.M0 = E0 - e * math.sin(E0)
        self.Q = rotation_matrix(math.radians(raan_deg), math.radians(inc_deg), math.radians(argp_deg))

    def state(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t_s = np.asarray(t_s, dtype=np.float64)
        e, a, n = self.e, self.a, self.n_rad_s
        M = np.mod(self.M0 + n * t_s, 2 * np.pi)
        E = M + e * np.sin(M)
        for _ in range(KEPLER_ITERATIONS):
            E = E - (E - e * np.sin(E) - M) / (1 - e * np.cos(E))
        cE, sE = np.cos(E), np.sin(E)
        b = a * math.sqrt(1 - e * e)
        denom = 1 - e * cE
        pf_r = np.stack([a * (cE - e), b * sE, np.zeros_like(E)], axis=-1)
        pf_v = np.stack([-a * n * sE / denom, b * n * cE / denom, np.zeros_like(E)], axis=-1)
        return pf_r @ self.Q.T, pf_v @ self.Q.T

    def specific_energy(self, r: np.ndarray, v: np.ndarray) -> np.ndarray:
        """ε = v²/2 − GM/r (J/kg): constant for an unperturbed orbit (= −GM/2a)."""
        return 0.5 * np.einsum("ij,ij->i", v, v) - self.gm / np.linalg.norm(r, axis=1)


class Ephemeris:
    """Everything geometric the modules need, on the grid t = k · step."""

    BLOCK = 512  # grid points computed together
    CACHE_BLOCKS = 16

    def __init__(self, config: dict):
        t, o, inst = config["target"], config["orbit"], config["instrument"]
        self.step_ns = config["mission"]["step"]
        self.radius_m = t["radius_m"]
        self.spin_rad_s = 2 * math.pi / (t["rotation_period_h"] * 3600.0)
        self.orbit = KeplerOrbit(t["gm_m3_s2"], o["semi_major_axis_m"], o["eccentricity"],
                                 o["inclination_deg"], o["raan_deg"], o["arg_periapsis_deg"],
                                 o["true_anomaly_deg"])  # fmt: skip
        d = math.radians(t["subsolar_latitude_deg"])
        self.sun_hat = np.array([math.cos(d), 0.0, math.sin(d)])
        # Earth: rotated from the Sun by the Sun–asteroid–Earth angle, towards +y (east).
        east = np.cross([0.0, 0.0, 1.0], self.sun_hat)
        east = east / np.linalg.norm(east) if np.linalg.norm(east) > 1e-12 else np.array([0.0, 1.0, 0.0])
        g = math.radians(t["sun_earth_angle_deg"])
        self.earth_hat = math.cos(g) * self.sun_hat + math.sin(g) * east
        self.cos_max_incidence = math.cos(math.radians(inst["max_incidence_deg"]))
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    def rotation_angle(self, t_s):
        """Body rotation since the epoch (rad): body-fixed = Rz(−θ) · inertial."""
        return self.spin_rad_s * np.asarray(t_s, dtype=np.float64)

    def to_body(self, vec: np.ndarray, t_s) -> np.ndarray:
        th = self.rotation_angle(t_s)
        c, s = np.cos(th), np.sin(th)
        x, y = vec[..., 0], vec[..., 1]
        return np.stack([c * x + s * y, -s * x + c * y, vec[..., 2]], axis=-1)

    def compute(self, t_ns: np.ndarray) -> dict[str, np.ndarray]:
        """Geometry columns for an array of times (ns)."""
        t_s = np.asarray(t_ns, dtype=np.float64) / NS_PER_S
        r, v = self.orbit.state(t_s)
        dist = np.linalg.norm(r, axis=1)
        r_hat = r / dist[:, None]
        rb = self.to_body(r_hat, t_s)
        cos_i = r_hat @ self.sun_hat  # at the sub-spacecraft point of a sphere: i = α, e = 0
        along_s = r @ self.sun_hat
        perp_s = np.linalg.norm(r - along_s[:, None] * self.sun_hat, axis=1)
        along_e = r @ self.earth_hat
        perp_e = np.linalg.norm(r - along_e[:, None] * self.earth_hat, axis=1)
        return {
            "x_m": r[:, 0], "y_m": r[:, 1], "z_m": r[:, 2],
            "vx_m_s": v[:, 0], "vy_m_s": v[:, 1], "vz_m_s": v[:, 2],
            "energy": self.orbit.specific_energy(r, v),
            "sub_lat_deg": np.degrees(np.arcsin(np.clip(rb[:, 2], -1, 1))),
            "sub_lon_deg": np.degrees(np.arctan2(rb[:, 1], rb[:, 0])),
            "altitude_m": dist - self.radius_m,
            "cos_i": cos_i,
            "incidence_deg": np.degrees(np.arccos(np.clip(cos_i, -1, 1))),
            "observable": cos_i >= self.cos_max_incidence,
            "eclipse": (along_s < 0) & (perp_s < self.radius_m),
            "earth_occulted": (along_e < 0) & (perp_e < self.radius_m),
        }  # fmt: skip

    def _block(self, b: int) -> dict[str, np.ndarray]:
        blk = self._cache.pop(b, None)
        if blk is None:
            if len(self._cache) >= self.CACHE_BLOCKS:
                del self._cache[next(iter(self._cache))]  # least recently used
            k = np.arange(b * self.BLOCK, (b + 1) * self.BLOCK, dtype=np.int64)
            blk = self.compute(k * self.step_ns)
        self._cache[b] = blk  # (re)insert as most recently used
        return blk

    def at(self, k: int) -> dict[str, float]:
        """Scalar geometry at grid index k (t = k · step)."""
        blk = self._block(k // self.BLOCK)
        j = k % self.BLOCK
        return {name: col[j] for name, col in blk.items()}

    def column(self, name: str, k0: int, k1: int) -> np.ndarray:
        """One column over grid indices [k0, k1)."""
        parts = []
        k = k0
        while k < k1:
            b = k // self.BLOCK
            j0 = k - b * self.BLOCK
            j1 = min(self.BLOCK, k1 - b * self.BLOCK)
            parts.append(self._block(b)[name][j0:j1])
            k = (b + 1) * self.BLOCK if j1 == self.BLOCK else k1
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def next_true(self, name: str, k0: int, k_max: int) -> int | None:
        """First grid index in [k0, k_max) where boolean column `name` is true, else None."""
        k = k0
        while k < k_max:
            k1 = min(k_max, (k // self.BLOCK + 1) * self.BLOCK)
            hits = np.flatnonzero(self.column(name, k, k1))
            if hits.size:
                return k + int(hits[0])
            k = k1
        return None
