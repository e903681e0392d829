"""Asteroid surface temperature and the temperature correction of band parameters.

The mineralogical calibrations (Dunn et al. 2010, Cloutis et al. 1986, Gaffey et al. 2002)
were fitted on room-temperature lab spectra. A cold asteroid's pyroxene Band II moves to
shorter wavelengths and its BAR rises; before a calibration reads BAR or the Band II centre,
the measured values are brought to room temperature.

* Temperature: the mean surface temperature of a rotating sphere in radiative equilibrium,
  T = [(1 − A) L☉ / (16 π η ε σ r²)]^¼ (Burbine et al. 2009, MAPS 44, 1331, Eq. 1), with the
  Bond albedo A = q·pV and the phase integral q = 0.290 + 0.684·G (Bowell et al. 1989,
  G = 0.15 when unknown).
* Corrections for S-complex/Q (ordinary-chondrite-like) spectra, Sanchez et al. 2012
  (Icarus 220, 36), as implemented in SARA (Lindsay et al. 2015, `SARA_post2_mineralogy.pro`):
  ΔBAR = 0.00075·T − 0.23 and ΔBIIC = 0.06 − 0.0002·T µm, added to the measured values.
  Both vanish at room temperature (≈ 300 K: −0.005 and 0.000), the temperature of the
  calibrations, so no correction is made above 300 K. Band I centre: no correction (Sanchez
  et al. 2012 find it insensitive for OC assemblages).
"""

from __future__ import annotations

import math

# Physical constants: IAU 2015 nominal solar luminosity, IAU 2012 au, CODATA 2018 σ.
SOLAR_LUMINOSITY_W = 3.828e26
AU_M = 1.495978707e11
STEFAN_BOLTZMANN = 5.670374419e-8  # W m⁻² K⁻⁴
EMISSIVITY = 0.9  # Burbine et al. 2009
BEAMING = 1.0  # η, Burbine et al. 2009 (rotating body, mean temperature)
SLOPE_PARAMETER_G = 0.15  # Bowell et al. 1989 default

# Sanchez et al. 2012 corrections (via SARA, Lindsay et al. 2015)
BAR_PER_K, BAR_OFFSET = 0.00075, -0.23
BIIC_OFFSET_UM, BIIC_PER_K_UM = 0.06, -0.0002
ROOM_TEMPERATURE_K = 300.0
MIN_TEMPERATURE_K = 80.0  # colder than any main-belt surface; below it the linear law is untested
FOR_CLASSES = ("S", "Sa", "Sq", "Sr", "Sv", "Q")


def surface_temperature_k(heliocentric_distance_au: float, albedo_pv: float,
                          g: float = SLOPE_PARAMETER_G) -> float:  # fmt: skip
    """Mean surface temperature (K) at `heliocentric_distance_au` for geometric albedo pV."""
    if not heliocentric_distance_au > 0:
        raise ValueError(f"heliocentric distance must be > 0 au, got {heliocentric_distance_au}")
    if not 0 < albedo_pv <= 1.5:
        raise ValueError(f"albedo pV must be in (0, 1.5], got {albedo_pv}")
    bond = (0.290 + 0.684 * g) * albedo_pv
    r_m = heliocentric_distance_au * AU_M
    flux = (1.0 - bond) * SOLAR_LUMINOSITY_W / (16.0 * math.pi * BEAMING * EMISSIVITY
                                                * STEFAN_BOLTZMANN * r_m * r_m)  # fmt: skip
    return flux**0.25


def correction(band_dict: dict, bar: float | None, cls: str | None,
               temperature_k: float | None) -> dict:  # fmt: skip
    """The temperature-corrected BAR and Band II centre of one spectrum, or why not."""
    out: dict = {"temperature_k": temperature_k, "applied": False,
                 "source": "Sanchez et al. 2012, Icarus 220, 36 (as in SARA, Lindsay et al. 2015)"}  # fmt: skip
    if temperature_k is None:
        out["reason"] = "no temperature or heliocentric distance given: parameters as measured"
        return out
    base = None if cls is None else (cls[:-1] if cls.endswith("w") and len(cls) > 1 else cls)
    if base not in FOR_CLASSES:
        out["reason"] = f"the correction is for S-complex/Q (OC-like) spectra, not class {cls}"
        return out
    if temperature_k < MIN_TEMPERATURE_K:
        out["reason"] = f"below {MIN_TEMPERATURE_K:.0f} K the lab law is untested"
        return out
    if temperature_k >= ROOM_TEMPERATURE_K:
        out["reason"] = "at or above room temperature, the calibrations' own: no correction"
        return out
    out["applied"] = True
    if bar is not None:
        out["bar_corrected"] = bar + BAR_PER_K * temperature_k + BAR_OFFSET
    biic = band_dict.get("band2", {}).get("centre_um")
    if biic is not None:
        out["band2_centre_corrected_um"] = biic + BIIC_OFFSET_UM + BIIC_PER_K_UM * temperature_k
    out["reason"] = "BAR and Band II centre brought to room temperature before the calibrations"
    return out
