"""One call from a spectrum to what a prospector wants: bands, mineralogy and the verdict.

    from firmware.assessment import assess
    a = assess(wavelength_um, reflectance, error, bus_demeo=classify(...), albedo=0.18)
    a.to_dict()  # {"bands": ..., "mineralogy": ..., "prospect": ...}, JSON-safe

`bus_demeo` is a `firmware.busdemeo.BusDeMeoResult`; `mahlke` any object with `.cls` and a
`.probabilities` dict (firmware.mahlke's result), or None. Nothing is invented: every number
is a measured band parameter, a published calibration inside its domain, or a rule stated in
firmware/prospect.py; missing evidence gives "unknown" and says why.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from firmware import mineralogy as M
from firmware import prospect as P
from firmware import temperature as T
from firmware.bands import N_MC, BandResult, analyse
from firmware.s_subtypes import subtype


@dataclass
class Assessment:
    bands: BandResult
    mineralogy: dict
    prospect: dict

    def to_dict(self) -> dict:
        return _json_safe({
            "bands": self.bands.to_dict(), "mineralogy": self.mineralogy, "prospect": self.prospect,
        })  # fmt: skip


def _json_safe(obj):
    """NaN/inf → None, numpy scalars → Python, recursively."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _h_feature(bus_demeo):
    f = None if bus_demeo is None else bus_demeo.features.get("h")
    if f is None or f.detected is None:
        return -1, None
    return (1 if f.detected else 0), f


def assess(wavelength_um, reflectance, error=None, *, bus_demeo=None, mahlke=None, albedo=None,
           phase_angle_deg=None, temperature_k=None, heliocentric_distance_au=None,
           n_mc: int = N_MC) -> Assessment:  # fmt: skip
    """Band analysis, mineralogy and the prospecting verdict of one spectrum (µm axis).

    `temperature_k`, or `heliocentric_distance_au` together with `albedo`, brings BAR and the
    Band II centre to room temperature before the calibrations read them
    (firmware/temperature.py)."""
    from firmware.errors import InputError

    if albedo is not None and not (0.0 < float(albedo) <= 1.5):
        raise InputError(f"albedo must be a geometric albedo pV in (0, 1.5], got {albedo}")
    if heliocentric_distance_au is not None and not float(heliocentric_distance_au) > 0:
        raise InputError(f"heliocentric_distance_au must be > 0, got {heliocentric_distance_au}")
    b = analyse(wavelength_um, reflectance, error, n_mc=n_mc)
    cls = None if bus_demeo is None else bus_demeo.cls
    mcls = None if mahlke is None else getattr(mahlke, "cls", None)
    temp = _temperature(b, cls, albedo, temperature_k, heliocentric_distance_au)
    calibrated = _corrected(b, temp)
    minera = M.mineralogy(calibrated, cls)
    minera["temperature"] = temp
    minera["s_subtype"] = subtype(
        calibrated.bar, calibrated.band1.centre_um if calibrated.band1.measured else None,
        calibrated.bar_sigma, calibrated.band1.centre_sigma_um, cls,
    )  # fmt: skip
    slope = None if bus_demeo is None else bus_demeo.slope
    minera["phase"] = M.phase_correction(b.to_dict(), cls, phase_angle_deg, slope)
    minera["space_weathering"] = _weathering(b, bus_demeo)
    verdict = _verdict(b, bus_demeo, mcls, mahlke, albedo, minera)
    return Assessment(b, minera, verdict)


def _temperature(b: BandResult, cls, albedo, temperature_k, distance_au) -> dict:
    if temperature_k is None and distance_au is not None:
        if albedo is None:
            out = T.correction(b.to_dict(), b.bar, cls, None)
            out["reason"] = "a heliocentric distance needs an albedo to give a temperature"
            return out
        temperature_k = T.surface_temperature_k(float(distance_au), float(albedo))
    out = T.correction(b.to_dict(), b.bar, cls, temperature_k)
    out["heliocentric_distance_au"] = distance_au
    return out


def _corrected(b: BandResult, temp: dict) -> BandResult:
    """The band result the calibrations read: temperature-corrected BAR and BIIC if applied."""
    if not temp["applied"]:
        return b
    band2 = b.band2
    if "band2_centre_corrected_um" in temp:
        band2 = dataclasses.replace(band2, centre_um=temp["band2_centre_corrected_um"])
    return dataclasses.replace(b, band2=band2, bar=temp.get("bar_corrected", b.bar))


def assess_spectrum(spectrum, **kw) -> Assessment:
    """`assess` for a `firmware.reader.Spectrum`."""
    return assess(spectrum.wavelength_um, spectrum.reflectance, spectrum.error, **kw)


def _weathering(b: BandResult, bus_demeo) -> dict:
    """Slope report: space weathering and phase reddening both redden (science.md §4.2–4.3);
    band centres and BAR are essentially immune (Gaffey 2010), band depths weaken."""
    out = {"band1_continuum_slope_per_um": b.continuum_slope_per_um,
           "band1_continuum_slope_sigma": b.continuum_slope_sigma}  # fmt: skip
    if bus_demeo is not None and bus_demeo.slope is not None:
        out["demeo_slope_per_um"] = bus_demeo.slope
        out["w_flag"] = bool(bus_demeo.cls and bus_demeo.cls.endswith("w"))
        out["note"] = ("DeMeo 'w': slope ≥ 0.25 µm⁻¹ in the S/Q/V branch — space weathering "
                       "(Brunetto et al. 2006) or phase reddening; centres and BAR are unaffected "
                       "(Gaffey 2010)")  # fmt: skip
    return out


def _est(minera, key):
    e = minera["estimates"][key]
    return e if e["status"] == "applied" else None


def _verdict(b, bus_demeo, mcls, mahlke, albedo, minera) -> dict:
    cls = None if bus_demeo is None else bus_demeo.cls
    g = P.group_of(cls, mcls)
    h_code, hf = _h_feature(bus_demeo)
    b1 = int(P.band1_code(np.array([_status_code(b.band1.status)]))[0])
    slope = np.nan if bus_demeo is None or bus_demeo.slope is None else bus_demeo.slope
    lv, score = P.levels(np.array([g]), np.array([h_code]), np.array([b1]), np.array([slope]),
                         np.array([np.nan if albedo is None else float(albedo)]))  # fmt: skip
    w, m, s = (int(v) for v in lv[0])
    ev: list[dict] = []
    if hf is not None and hf.depth is not None:
        sig = hf.depth / hf.depth_sigma if hf.depth_sigma else None
        ev.append(_item("water", "0.7 µm band (Fe²⁺–Fe³⁺ in phyllosilicates)", hf.depth, hf.depth_sigma,
                        sig, HIGH_IF(hf.detected), "Vilas & Gaffey 1989; Rivkin 2012"))  # fmt: skip
    if cls is not None:
        ev.append(_item("class", f"Bus-DeMeo class {cls}", None, None, None,
                        LEVEL_OF_GROUP[g], "DeMeo et al. 2009"))  # fmt: skip
    if mcls is not None:
        p = getattr(mahlke, "probabilities", None) or {}
        ev.append(_item("class", f"Mahlke class {mcls}", p.get(mcls), None, None,
                        LEVEL_OF_GROUP[g], "Mahlke et al. 2022"))  # fmt: skip
    if albedo is not None:
        ev.append(_item("metal", "visual geometric albedo pV", float(albedo), None, None,
                        _albedo_range(float(albedo)), "Tholen 1984 E/M/P albedo ranges"))  # fmt: skip
    if not math.isnan(slope):
        ev.append(_item("metal", "Bus-DeMeo spectral slope (µm⁻¹)", slope, None, None,
                        "red" if slope > 0 else "flat/blue", "DeMeo et al. 2009"))  # fmt: skip
    if b.band1.depth is not None:
        sig = b.band1.depth / b.band1.depth_sigma if b.band1.depth_sigma else None
        ev.append(_item("silicates", "Band I depth (olivine/pyroxene Fe²⁺)", b.band1.depth,
                        b.band1.depth_sigma, sig, b.band1.status, "Cloutis et al. 1986"))  # fmt: skip
    for key in ("ol_fraction_dunn2010", "fa_dunn2010", "ol_fraction_sanchez2014", "fs_burbine2009"):
        e = _est(minera, key)
        if e:
            ev.append(_item("silicates", key, e["value"], e["sigma"], None, "applied", e["source"]))
    # ranked: measured features by their significance (|value| / σ) first, then the rest
    ev.sort(key=lambda e: (e["significance_sigma"] is None, -abs(e["significance_sigma"] or 0.0)))
    return {
        "water": _resource(w, _water_reason(w, h_code, hf, cls, mcls)),
        "metal": _resource(m, _metal_reason(m, g, albedo, slope, b1)),
        "silicates": _resource(s, _silicate_reason(s, b, minera)),
        "score": None if math.isnan(score[0]) else float(score[0]),
        "score_basis": "highest of the water and metal levels / 3 (high 1, moderate ⅔, "
                       "possible ⅓, unlikely 0): an ordinal rank, not a probability",
        "evidence": ev,
    }


def HIGH_IF(detected) -> str:  # noqa: N802 - reads as a rule
    return "detected (≥ 3σ, ≥ 1 %, centre 0.70 ± 0.05 µm)" if detected else "not detected"


LEVEL_OF_GROUP = {
    P.G_UNKNOWN: "no class", P.G_HYDRATED: "hydrated class (0.7 µm band defines it)",
    P.G_C: "C-complex (carbonaceous-like)", P.G_X: "X-complex (E/M/P degenerate without albedo)",
    P.G_MAFIC: "mafic silicate class", P.G_OTHER: "end-member class (not metal/water-diagnostic)",
    P.G_M: "M (metal-like albedo)", P.G_E: "E (enstatite-like, high albedo)",
    P.G_P: "P (primitive, low albedo)",
}  # fmt: skip


def _albedo_range(a: float) -> str:
    return "P range (< 0.10)" if a < P.ALBEDO_P_MAX else (
        "M range (0.10–0.30)" if a <= P.ALBEDO_M_MAX else "E range (> 0.30)")  # fmt: skip


def _status_code(name: str) -> int:
    from firmware.kernels import bands as KB

    return KB.STATUS_NAMES.index(name)


def _item(resource, evidence, value, sigma, significance, effect, source) -> dict:
    return {"resource": resource, "evidence": evidence, "value": value, "sigma": sigma,
            "significance_sigma": significance,
            "effect": effect, "source": source}  # fmt: skip


def _resource(level: int, reason: str) -> dict:
    return {"likelihood": P.LEVEL_NAMES[level], "level": level, "reason": reason}


def _water_reason(w, h_code, hf, cls, mcls) -> str:
    if w == P.HIGH:
        return (f"0.7 µm band detected: depth {hf.depth:.1%} ± {hf.depth_sigma:.1%} at "
                f"{hf.centre_um:.3f} µm — phyllosilicates; such asteroids show the 3 µm band")  # fmt: skip
    if w == P.MODERATE:
        return f"class {cls or mcls} is defined by the 0.7 µm band, but it is below our 3σ rule here"
    if w == P.POSSIBLE:
        return f"C-complex class {cls or mcls} without a 0.7 µm band: CM/CI-like possible, unconfirmed"
    if w == P.UNLIKELY:
        if h_code == 0:
            return "no 0.7 µm band at 3σ and not a C-complex class"
        return "mafic (anhydrous olivine/pyroxene) class"
    return "no visible coverage of the 0.7 µm band and no class: cannot tell"


def _metal_reason(m, g, albedo, slope, b1) -> str:
    if m == P.HIGH:
        return "X/M-type with a featureless red slope and an M-type albedo (0.10–0.30): Fe–Ni metal candidate"
    if m == P.MODERATE:
        if albedo is None and g == P.G_X:
            return "X-complex with a red slope; without an albedo E/M/P cannot be told apart"
        return "M-type albedo but a Band I is present (silicates mixed with metal)"
    if m == P.POSSIBLE:
        return "X-complex but not red-sloped"
    if m == P.UNLIKELY:
        if g in (P.G_E, P.G_P) or albedo is not None and g == P.G_X:
            return "X-complex albedo outside the M range (E: enstatite; P: primitive)"
        return "silicate- or carbon-dominated class / absorption bands: not a metal body"
    return "no class and no Band I coverage: cannot tell"


def _silicate_reason(s, b: BandResult, minera) -> str:
    if s == P.UNKNOWN:
        return "Band I (0.9–1.1 µm) not covered and no class"
    if s == P.UNLIKELY:
        return "no Band I absorption"
    parts = []
    for key, label in (("ol_fraction_dunn2010", "ol/(ol+px)"), ("ol_fraction_sanchez2014", "ol/(ol+opx)"),
                       ("fa_dunn2010", "Fa"), ("fs_burbine2009", "Fs")):  # fmt: skip
        e = _est(minera, key)
        if e:
            sig = f" ± {e['sigma']:.2g}" if e["sigma"] else ""
            parts.append(f"{label} {e['value']:.2f}{sig} ({e['source'].split(',')[0]})")
    st = minera.get("s_subtype", {}).get("subtype")
    head = "olivine/pyroxene Band I measured" if b.band1.measured else "Band I present, centre unresolved"
    return head + (f"; {st}" if st else "") + ("; " + "; ".join(parts) if parts else "")
