"""What a Bus-DeMeo classification returns, and the coverage rules its reasons quote.

`BusDeMeoResult` is one spectrum's answer (class or None with the reason, complex, slope,
PC′ scores, best templates, e/h/k features, flags, thermal tail); `BatchResult` holds the
arrays of N spectra and builds the typed result of any one. The coverage constants live here
because the refusal reasons name them; `firmware.busdemeo` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmware.kernels import demeo as K
from firmware.kernels.features import FEATURE_NAMES
from firmware.taxonomy import CLASS_NAMES, DEMEO_GRID_UM, complex_of

# Resampling onto the 41-point grid: mean within ±0.0125 µm (science notes §1.2: verified
# to reproduce the published PC′ scores), interpolation where a bin is empty.
GRID_HALF_WIDTH_UM = 0.0125
# Missing grid points at either end are held at the edge value over at most one step
# (0.05 µm): e.g. a spectrum ending at 2.42 µm. Beyond that the spectrum is refused.
MAX_EDGE_STEPS = 1
# The widest hole inside 0.45–2.45 µm bridged by interpolation (telluric gaps are ≤ 0.15 µm).
MAX_GAP_UM = 0.25
MIN_POINTS = 10

@dataclass(frozen=True)
class Feature:
    """A narrow absorption feature (e 0.49, h 0.7, k 0.9 µm); None = not measurable."""

    name: str
    depth: float | None
    centre_um: float | None
    depth_sigma: float | None
    detected: bool | None

    def to_dict(self) -> dict:
        return {
            "depth": self.depth, "centre_um": self.centre_um,
            "depth_sigma": self.depth_sigma, "detected": self.detected,
        }  # fmt: skip


@dataclass
class BusDeMeoResult:
    """One spectrum's Bus-DeMeo classification."""

    source: str
    cls: str | None
    complex: str | None
    slope: float | None
    pc: tuple[float, ...] | None
    templates: list[tuple[str, float]] = field(default_factory=list)
    features: dict[str, Feature] = field(default_factory=dict)
    agrees_with_templates: bool | None = None
    confidence: str | None = None
    flags: list[str] = field(default_factory=list)
    reason: str | None = None
    thermal_excess: float | None = None  # thermal excess removed at 2.45 µm (0 = none)
    thermal_temperature_k: float | None = None

    @property
    def classified(self) -> bool:
        return self.cls is not None

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "taxonomy": "bus-demeo",
            "class": self.cls,
            "complex": self.complex,
            "slope": self.slope,
            "pc": list(self.pc) if self.pc is not None else None,
            "templates": [{"class": c, "chi2": s} for c, s in self.templates],
            "agrees_with_templates": self.agrees_with_templates,
            "confidence": self.confidence,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "flags": list(self.flags),
            "reason": self.reason,
            "thermal_tail": {
                "removed": bool(self.thermal_excess),
                "excess_at_2p45um": self.thermal_excess,
                "temperature_k": self.thermal_temperature_k,
            },
        }


@dataclass
class BatchResult:
    """Arrays for N spectra; `result(i)` builds the typed result of one."""

    class_index: np.ndarray  # (N,) int64, −1 = not classified
    w: np.ndarray  # (N,) bool, slope ≥ 0.25 in the S/Q/V/R branch
    slope: np.ndarray  # (N,) µm⁻¹
    pc: np.ndarray  # (N, 5) PC1′..PC5′
    chi2: np.ndarray  # (N, 25) reduced χ² against the class templates
    features: np.ndarray  # (N, 3, 4) e/h/k: depth, centre µm, σ_depth, detected (NaN = n/a)
    status: np.ndarray  # (N,) int64: 0 ok, else a code of firmware.kernels.demeo (text: reason_text)
    tree_indeterminate: np.ndarray  # (N,) bool: class taken from the nearest C/X template
    edge_filled: np.ndarray  # (N,) bool: a grid end was held at the edge value
    first_um: np.ndarray  # (N,)
    last_um: np.ndarray  # (N,)
    # (N, 2) thermal tail removed: excess at 2.45 µm (units of R(0.55); 0 = none) and the
    # fitted temperature K (NaN = none); see firmware.kernels.thermal
    thermal: np.ndarray | None = None
    class_names: tuple[str, ...] = CLASS_NAMES
    # the fused kernel's output arrays these fields view, for `out=` (None: not reusable)
    _outputs: tuple | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.class_index.shape[0])

    def labels(self) -> list[str | None]:
        """Class labels with the w suffix, None where not classified."""
        return [self._label(i) for i in range(len(self))]

    def _label(self, i: int) -> str | None:
        c = int(self.class_index[i])
        if c < 0:
            return None
        return CLASS_NAMES[c] + ("w" if self.w[i] else "")

    def result(self, i: int, source: str = "") -> BusDeMeoResult:
        feats = {}
        for f, name in enumerate(FEATURE_NAMES):
            d, c, s, det = (float(v) for v in self.features[i, f])
            if np.isnan(det):
                feats[name] = Feature(name, None, None, None, None)
            elif np.isnan(d):  # classify_grid: the caller gave only the detection flag
                feats[name] = Feature(name, None, None, None, bool(det))
            else:
                feats[name] = Feature(name, d, c, s, bool(det))
        status = int(self.status[i])
        if status != K.OK:
            return BusDeMeoResult(
                source=source, cls=None, complex=None,
                slope=None, pc=None, features=feats,
                reason=reason_text(status, self.first_um[i], self.last_um[i]),
            )  # fmt: skip
        order = np.argsort(self.chi2[i], kind="stable")
        templates = [(CLASS_NAMES[j], float(self.chi2[i, j])) for j in order[:3]]
        cls = self._label(i)
        base = CLASS_NAMES[int(self.class_index[i])]
        rank = [CLASS_NAMES[j] for j in order].index(base)
        flags = []
        if self.tree_indeterminate[i]:
            flags.append("tree_indeterminate: PC scores outside every C/X region; class from the nearest C/X template")
        if self.edge_filled[i]:
            flags.append("edge_extrapolated: one grid point at an end held at the edge value")
        excess, temp_k = (0.0, None) if self.thermal is None else self.thermal[i]
        if excess > 0:
            flags.append(
                f"thermal_tail_removed: {excess:.3f} × R(0.55) at 2.45 µm fitted as ~{temp_k:.0f} K "
                "thermal emission and subtracted before classification (Rivkin et al. 2005)"
            )
        return BusDeMeoResult(
            source=source,
            cls=cls,
            complex=complex_of(cls),
            slope=float(self.slope[i]),
            pc=tuple(float(v) for v in self.pc[i]),
            templates=templates,
            features=feats,
            agrees_with_templates=rank == 0,
            confidence="high" if rank == 0 else ("medium" if rank < 3 else "low"),
            flags=flags,
            thermal_excess=float(excess),
            thermal_temperature_k=None if excess <= 0 else float(temp_k),
        )


def reason_text(status: int, first_um: float, last_um: float) -> str:
    lo, hi = DEMEO_GRID_UM[0], DEMEO_GRID_UM[-1]
    if status == K.NO_COVERAGE:
        return (
            f"Bus-DeMeo needs {lo:.2f}–{hi:.2f} µm; this spectrum covers "
            f"{first_um:.3f}–{last_um:.3f} µm (try --taxonomy mahlke for partial spectra)"
        )
    if status == K.BAD_NORMALISATION:
        return (
            "reflectance at 0.55 µm is not positive: cannot normalise (check the file's "
            "reflectance column and its missing-value marker)"
        )
    if status == K.GAP:
        return (
            f"a gap wider than {MAX_GAP_UM} µm between valid samples inside {lo:.2f}–{hi:.2f} µm "
            "(try --taxonomy mahlke, which marginalises missing bins)"
        )
    if status == K.TOO_FEW:
        return (
            f"fewer than {MIN_POINTS} valid samples in {lo:.2f}–{hi:.2f} µm "
            "(try --taxonomy mahlke for sparse spectra)"
        )
    return f"not classified (status {status})"
