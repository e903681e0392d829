"""The target's surface: a latitude/longitude map of composition units with known truth.

Each unit (scenario `[[target.surface.units]]`) is backed by a real spectrum
(`sim.spectra`), an albedo, a true Bus-DeMeo class and a prospecting truth (water, metal or
none). The map deals the units to Voronoi regions on the sphere (centres drawn uniformly
from the target's seed; every unit gets at least one region, the rest by weight) and
rasterises them on an equal-angle grid, so patches have irregular, realistic outlines and
the same seed always gives the same map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.taxonomy import complex_of
from sim.spectra import SpectrumSourceError, band_response, lab_analogue_class, load_source

# Phase reddening κ per complex (science notes §4.2: S-complex and Q from Marsset et al. 2022,
# slope = 0.0010·α + 0.129; C/X show no trend). Silicate-bearing end-members follow the S rule.
REDDENING_BY_COMPLEX = {"S": 1e-3, "Q": 1e-3, "V": 1e-3, "A": 1e-3, "O": 1e-3, "R": 1e-3,
                        "K": 1e-3, "L": 1e-3}  # fmt: skip


class SurfaceError(ValueError):
    def __init__(self, key: str, message: str):
        self.key, self.detail = key, message
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class Unit:
    index: int
    name: str
    source: str  # spectrum reference
    description: str
    truth_class: str
    albedo: float
    resource: str
    reddening_per_deg_per_um: float
    weathering_cs_um: float
    weight: float


class Surface:
    """Units, their spectra on the instrument bands, and the unit map."""

    def __init__(self, surface_cfg: dict, band_um: np.ndarray, fwhm_um: float,
                 rng: np.random.Generator):  # fmt: skip
        self.units: list[Unit] = []
        spectra = []
        for i, u in enumerate(surface_cfg["units"]):
            key = f"target.surface.units[{i}]"
            try:
                src = load_source(u["spectrum"])
                bands = band_response(src, band_um, fwhm_um)
            except SpectrumSourceError as exc:
                raise SurfaceError(f"{key}.spectrum", str(exc)) from None
            truth = u["class"] or src.truth_class
            if not truth and u["spectrum"].startswith("lab:"):
                truth = lab_analogue_class(u["spectrum"][4:])
            if not truth:
                raise SurfaceError(f"{key}.class", f"{u['spectrum']} has no published Bus-DeMeo class: state one")
            kappa = u["phase_reddening_per_deg_per_um"]
            if kappa == -1.0:
                kappa = REDDENING_BY_COMPLEX.get(complex_of(truth), 0.0)
            self.units.append(Unit(
                i, u["name"], u["spectrum"], src.description, truth, u["albedo"], u["resource"],
                kappa, u["weathering_cs_um"], u["weight"],
            ))  # fmt: skip
            spectra.append(bands)
        self.band_um = band_um
        self.unit_spectra = np.array(spectra)  # (U, B), relative, ≈1 at 0.55 µm
        self.n_lat, self.n_lon = surface_cfg["grid_lat"], surface_cfg["grid_lon"]
        self.unit_map = self._deal(surface_cfg["regions"], rng)  # (n_lat, n_lon) int
        self.albedo = np.array([u.albedo for u in self.units])
        self.kappa = np.array([u.reddening_per_deg_per_um for u in self.units])
        cs = np.array([u.weathering_cs_um for u in self.units])
        self.weathering = np.exp(cs[:, None] / band_um[None, :] - cs[:, None] / 0.55)

    def _deal(self, n_regions: int, rng: np.random.Generator) -> np.ndarray:
        n_units = len(self.units)
        n_regions = max(n_regions, n_units)
        centres = rng.normal(size=(n_regions, 3))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        weights = np.array([u.weight for u in self.units])
        owner = np.empty(n_regions, dtype=np.int64)
        owner[:n_units] = np.arange(n_units)  # every unit appears at least once
        owner[n_units:] = rng.choice(n_units, size=n_regions - n_units, p=weights / weights.sum())
        lat, lon = self.cell_centres()
        la, lo = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
        cells = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)
        nearest = np.argmax(cells @ centres.T, axis=-1)
        return owner[nearest]

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        lat = -90 + (np.arange(self.n_lat) + 0.5) * 180.0 / self.n_lat
        lon = -180 + (np.arange(self.n_lon) + 0.5) * 360.0 / self.n_lon
        return lat, lon

    def cell_of(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.clip(((np.asarray(lat_deg) + 90.0) * self.n_lat / 180.0).astype(np.int64), 0, self.n_lat - 1)
        j = np.mod(((np.asarray(lon_deg) + 180.0) * self.n_lon / 360.0).astype(np.int64), self.n_lon)
        return i, j

    def unit_at(self, lat_deg, lon_deg) -> np.ndarray:
        i, j = self.cell_of(lat_deg, lon_deg)
        return self.unit_map[i, j]

    def area_fractions(self) -> np.ndarray:
        """Share of the surface area held by each unit (cells weighted by cos latitude)."""
        lat, _ = self.cell_centres()
        w = np.cos(np.radians(lat))[:, None] * np.ones((1, self.n_lon))
        return np.array([w[self.unit_map == u].sum() for u in range(len(self.units))]) / w.sum()
