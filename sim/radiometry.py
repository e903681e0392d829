"""Radiometry: sunlight in, reflected and thermal light out, photons on the detector.

Constants are the IAU/CODATA values named beside them. The Sun is a blackbody at the IAU
nominal effective temperature scaled to the measured total solar irradiance: adequate for
a 0.45–2.45 µm SNR model (Fraunhofer lines are narrower than the bands); reflectance is
calibrated by the same spectrum onboard, so its shape cancels in the measured I/F.
"""

from __future__ import annotations

import math

import numpy as np

H_J_S = 6.62607015e-34  # Planck constant (SI 2019, exact)
C_M_S = 299_792_458.0  # speed of light (exact)
K_B_J_K = 1.380649e-23  # Boltzmann constant (SI 2019, exact)
SIGMA_SB = 5.670374419e-8  # Stefan–Boltzmann, W m⁻² K⁻⁴ (CODATA 2018)
AU_M = 149_597_870_700.0  # IAU 2012 Resolution B2
SOLAR_CONSTANT_W_M2 = 1361.0  # total solar irradiance at 1 au (Kopp & Lean 2011, GRL 38, L01706)
T_SUN_K = 5772.0  # nominal solar effective temperature (IAU 2015 Resolution B3)
R_SUN_M = 6.957e8  # nominal solar radius (IAU 2015 Resolution B3)
PHASE_INTEGRAL_Q = 0.290 + 0.684 * 0.15  # Bond/geometric albedo ratio, H–G system with G = 0.15 (Bowell et al. 1989)


def planck_w_m2_sr_m(wavelength_um: np.ndarray, temperature_k) -> np.ndarray:
    """Blackbody spectral radiance B_λ(T), W m⁻² sr⁻¹ m⁻¹ (0 where T ≤ 0)."""
    lam = np.asarray(wavelength_um, dtype=np.float64) * 1e-6
    t = np.asarray(temperature_k, dtype=np.float64)
    x = H_J_S * C_M_S / (lam * K_B_J_K * np.where(t > 0, t, 1.0))
    with np.errstate(over="ignore"):
        b = 2 * H_J_S * C_M_S**2 / lam**5 / np.expm1(np.minimum(x, 700.0))
    return np.where(t > 0, b, 0.0)


def solar_irradiance_1au_w_m2_m(wavelength_um: np.ndarray) -> np.ndarray:
    """Solar spectral irradiance at 1 au, W m⁻² m⁻¹ (blackbody shape, TSI-scaled)."""
    dilution = (R_SUN_M / AU_M) ** 2
    total = SIGMA_SB * T_SUN_K**4 * dilution
    return math.pi * planck_w_m2_sr_m(wavelength_um, T_SUN_K) * dilution * (SOLAR_CONSTANT_W_M2 / total)


def subsolar_temperature_k(heliocentric_au: float, geometric_albedo: np.ndarray, emissivity: float,
                           eta: float) -> np.ndarray:  # fmt: skip
    """NEATM subsolar temperature, T_ss = [(1−A) S / (η ε σ r²)]^¼ (Harris 1998, Icarus 131, 291)."""
    bond = PHASE_INTEGRAL_Q * np.asarray(geometric_albedo, dtype=np.float64)
    flux = SOLAR_CONSTANT_W_M2 / heliocentric_au**2
    return ((1 - bond) * flux / (eta * emissivity * SIGMA_SB)) ** 0.25


def lommel_seeliger(cos_i: np.ndarray, cos_e: np.ndarray) -> np.ndarray:
    """Disk function 2μ₀/(μ₀+μ), normalised to 1 at normal incidence and emission."""
    mu0 = np.maximum(cos_i, 0.0)
    mu = np.maximum(cos_e, 1e-6)
    return 2 * mu0 / (mu0 + mu)


def phase_function(phase_deg: np.ndarray, slope_mag_per_deg: float) -> np.ndarray:
    """Linear-magnitude phase law, 10^(−0.4 β α) (1 at opposition)."""
    return 10.0 ** (-0.4 * slope_mag_per_deg * np.asarray(phase_deg))


def photon_energy_j(wavelength_um: np.ndarray) -> np.ndarray:
    return H_J_S * C_M_S / (np.asarray(wavelength_um) * 1e-6)


def light_time_s(distance_au: float) -> float:
    return distance_au * AU_M / C_M_S
