"""What an onboard result is worth, and the verdict stored with it.

The simple onboard loop (`firmware.onboard`) asks a valuer for every classified batch:
`value_batch(wavelength_um, reflectance, error, batch) -> [Valuation]`. Two valuers:
`SimpleValuer` (a rule on the Bus-DeMeo class and the 0.7 µm feature) and `ProspectValuer`
(the prospecting verdict of `firmware.prospect`, from the band analysis). The value orders
storage and downlink; the verdict is one of `VERDICTS` and travels in the result record.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.busdemeo import BatchResult
from firmware.taxonomy import CLASS_NAMES, complex_of

VERDICTS = ("unclassified", "water", "metal", "silicate", "other")


@dataclass(frozen=True)
class Valuation:
    value: float  # 0..1, what the result is worth to the mission
    verdict: str  # one of VERDICTS


# -- the value rule ---------------------------------------------------------------------------
HYDRATED = {"Ch", "Cgh"}  # 0.7 µm Fe²⁺→Fe³⁺ band of phyllosilicates (Vilas & Gaffey 1989, Science 246, 790)
METAL_CANDIDATES = {"Xk", "Xc", "X"}  # where Tholen M-types fall in Bus-DeMeo (DeMeo et al. 2009 §5)
RARE_SILICATES = {"V", "A", "R", "O", "Sa", "Sv"}
H_FEATURE = 1  # index of the h (0.7 µm) feature in BatchResult.features


def simple_value(batch: BatchResult, i: int) -> Valuation:
    """Water (Ch, Cgh or a detected 0.7 µm band) 1.0; metal candidates (Xk, Xc, X) 0.8;
    rare silicates (V, A, R, O, Sa, Sv) 0.4; carbonaceous and other 0.3; common silicates
    (S, Q, L, K, …) 0.2; unclassified 0.05."""
    c = int(batch.class_index[i])
    if c < 0:
        return Valuation(0.05, "unclassified")
    cls = CLASS_NAMES[c]
    h = batch.features[i, H_FEATURE, 3]
    if cls in HYDRATED or (h == h and h > 0.5 and complex_of(cls) == "C"):
        return Valuation(1.0, "water")
    if cls in METAL_CANDIDATES:
        return Valuation(0.8, "metal")
    if cls in RARE_SILICATES:
        return Valuation(0.4, "silicate")
    if complex_of(cls) in ("S", "Q", "L", "K"):
        return Valuation(0.2, "silicate")
    return Valuation(0.3, "other")


class SimpleValuer:
    name = "simple"

    def value_batch(self, wavelength_um, reflectance, error, batch: BatchResult) -> list[Valuation]:
        return [simple_value(batch, i) for i in range(len(batch))]


class ProspectValuer:
    """The verdict of `firmware.prospect` (Band I from `firmware.bands`, no Monte Carlo):
    value = its score (highest of the water and metal levels / 3); verdict = the resource
    rated MODERATE or better (water first), else silicate for a HIGH silicate level."""

    name = "prospect"

    def value_batch(self, wavelength_um, reflectance, error, batch: BatchResult) -> list[Valuation]:
        from firmware.bands import analyse_batch
        from firmware.prospect import MODERATE, prospect_batch

        levels, score = prospect_batch(batch, analyse_batch(wavelength_um, reflectance, error, n_mc=0))
        out = []
        for i, (lv, sc) in enumerate(zip(levels, score, strict=True)):
            water, metal, silicate = (int(v) for v in lv)
            if batch.class_index[i] < 0:
                out.append(Valuation(0.05, "unclassified"))
            elif max(water, metal) >= MODERATE:
                out.append(Valuation(float(sc), "water" if water >= metal else "metal"))
            else:
                out.append(Valuation(max(float(sc), 0.1), "silicate" if silicate > MODERATE else "other"))
        return out


VALUERS = {"simple": SimpleValuer, "prospect": ProspectValuer}
