"""Mahlke, Carry & Mattei 2022 taxonomy (A&A 665, A26) in numba: the public API.

The published model of classy, run offline: bin the spectrum onto the 53-bin grid
(0.45–2.45 µm), normalise it against the 5 nearest published reference spectra (mixnorm),
score it with the Mixture of Common Factor Analysers over the *observed* bins only (plus
log10 pV when an albedo is given), and turn the 50 cluster probabilities into 17 class
probabilities with the published decision tree; the e/h/k feature flags (measured by
`firmware.kernels.features`, shared with Bus-DeMeo) add Ch, e and k. Unlike Bus-DeMeo it
classifies visible-only and near-infrared-only spectra, with or without an albedo; without
an albedo the X-complex stays X (E, M and P are albedo splits).

`classify()` takes one spectrum on its own axis; `classify_batch()` (N, B) spectra on a
shared axis, as arrays (float32 read as float32). A spectrum that cannot be classified comes
back with `cls=None` and a `reason` — never an exception, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from firmware.batch_input import validate_batch
from firmware.busdemeo_result import Feature
from firmware.errors import InputError
from firmware.kernels import mahlke_bins
from firmware.kernels import mixnorm as MX
from firmware.kernels.features import (
    FEATURE_GRID_UM,
    FEATURE_NAMES,
    FEATURE_RESAMPLE_HALF_WIDTH_UM,
    feature_model,
    measure_features,
)
from firmware.kernels.mahlke_tree import tree_batch
from firmware.kernels.mcfa import score as mcfa_score
from firmware.kernels.resample import resample_binned
from firmware.mahlke_model import (
    GRID_UM,
    N_BINS,
    N_FEATURES,
    N_NEIGHBOURS,
    PV_INDEX,
    load_mahlke_model,
)
from firmware.mahlke_tree import TREE_VARIANTS, complex_of, feature_candidates, label, load_tree

# An empty bin is interpolated only across holes up to this wide (µm); wider holes stay
# missing and are marginalised out (the telluric gaps of ground-based data are ≤ 0.15 µm).
MAX_GAP_UM = 0.25
# Fewer observed bins give no meaningful posterior: mixnorm uses one degree of freedom (the
# level) and the model has 4 latent factors, so below 5 bins the factors are not constrained
# by the spectrum at all (classy accepts 1). Measured on random windows of the developer
# spectra: 5–7 bins keep the full-spectrum complex ~60–70 % of the time, 12 bins ~80 %,
# 20 bins ~90 % — hence the `partial_spectrum` flag on every spectrum with missing bins.
MIN_BINS = 5
DIFFUSE_CLUSTERS = (13, 29, 41)  # Mahlke 2022: clusters without a single class (classy DIFFUSE)
MAX_ALBEDO = 1.0  # geometric albedo pV is a fraction; larger values are refused
# Batches smaller than this run the kernels on the calling thread only: waking the thread pool
# for every kernel costs more than it saves (measured: one spectrum 0.9 ms on one thread,
# 14–40 ms on two threads of a busy 2-core machine).
SERIAL_BELOW = 64


@dataclass
class MahlkeResult:
    """One spectrum's Mahlke 2022 classification."""

    source: str
    cls: str | None  # class with feature flags, e.g. "S", "Mk", "Ch", "Pe"
    complex: str | None  # the Bus-DeMeo complex of the class (for comparing taxonomies)
    probabilities: dict[str, float] = field(default_factory=dict)  # 17 classes, sum 1
    tree_class: str | None = None  # most probable class of the tree, before the e/h/k flags
    cluster_probabilities: np.ndarray | None = None  # (50,)
    z: tuple[float, ...] | None = None  # latent scores z0..z3
    albedo: float | None = None  # pV used (linear), None = classified without albedo
    features: dict[str, Feature] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    n_bins: int = 0  # observed bins of the 53
    alpha: float | None = None  # mixnorm log offset
    references: list[str] = field(default_factory=list)  # the 5 mixnorm neighbours
    log_likelihood: float | None = None  # log p(observed features) under the MCFA
    tree: str = "mahlke2022"
    reason: str | None = None

    @property
    def classified(self) -> bool:
        return self.cls is not None

    @property
    def class_sf(self) -> str | None:
        """The class without the e/k suffixes ("Mk" → "M"; Ch stays Ch): catalogue `class_sf`."""
        return "Ch" if self.cls == "Ch" else self.tree_class

    @property
    def probability(self) -> float | None:
        """Probability of the class (for Ch: P(B) + P(C) + P(P), moved to Ch by the h flag)."""
        return None if self.class_sf is None else self.probabilities.get(self.class_sf)

    @property
    def confidence(self) -> str | None:
        """'high' (p ≥ 0.75), 'medium' (p ≥ 0.5) or 'low' — the class probability, binned."""
        p = self.probability
        if p is None:
            return None
        return "high" if p >= 0.75 else ("medium" if p >= 0.5 else "low")

    def to_dict(self) -> dict:
        tau = self.cluster_probabilities
        top = [] if tau is None else [int(k) for k in np.argsort(-tau, kind="stable")[:3]]
        return {
            "source": self.source,
            "taxonomy": "mahlke",
            "class": self.cls,
            "complex": self.complex,
            "probability": self.probability,
            "probabilities": dict(self.probabilities),
            "class_without_features": self.class_sf,
            "tree_class": self.tree_class,
            "confidence": self.confidence,
            "clusters": [{"cluster": k, "probability": float(tau[k])} for k in top],
            "z": list(self.z) if self.z is not None else None,
            "albedo": self.albedo,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "flags": list(self.flags),
            "n_bins": self.n_bins,
            "references": list(self.references),
            "log_likelihood": self.log_likelihood,
            "tree": self.tree,
            "reason": self.reason,
        }


@dataclass
class MahlkeBatch:
    """Arrays for N spectra; `result(i)` builds the typed result of one."""

    class_index: np.ndarray  # (N,) int64 index into `classes` after the h flag (Ch); −1 = refused
    base_index: np.ndarray  # (N,) int64 most probable class of the tree (before flags)
    probabilities: np.ndarray  # (N, 17) class probabilities (Ch = B + C + P when h applies)
    cluster_probabilities: np.ndarray  # (N, 50)
    z: np.ndarray  # (N, 4) latent scores
    log_likelihood: np.ndarray  # (N,) log p(observed features)
    alpha: np.ndarray  # (N,) mixnorm log offset
    neighbours: np.ndarray  # (N, 5) reference rows used by mixnorm (−1 when refused)
    n_bins: np.ndarray  # (N,) observed bins
    first_um: np.ndarray  # (N,) first and last observed bin centre (NaN if none)
    last_um: np.ndarray
    features: np.ndarray  # (N, 3, 4) e/h/k: depth, centre µm, σ_depth, detected (NaN = n/a)
    flag_e: np.ndarray  # (N,) bool: e appended (class in the e candidates, feature detected)
    flag_k: np.ndarray  # (N,) bool
    flag_h: np.ndarray  # (N,) bool: class turned into Ch
    albedo: np.ndarray  # (N,) pV given (NaN = none)
    log_pv: np.ndarray  # (N,) its log10, the 54th MCFA feature
    status: np.ndarray  # (N,) int64: 0 ok, 1 too few bins, 2 no reference spectrum covers them
    tree: str
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.class_index.shape[0])

    def labels(self) -> list[str | None]:
        """Class labels with feature flags ("Mk", "Ch", "S"), None where not classified."""
        return [self._label(i) for i in range(len(self))]

    def _label(self, i: int) -> str | None:
        if self.class_index[i] < 0:
            return None
        base = self.classes[int(self.base_index[i])]
        return label(base, bool(self.flag_e[i]), bool(self.flag_h[i]), bool(self.flag_k[i]))

    def result(self, i: int, source: str = "") -> MahlkeResult:
        feats = {}
        for f, name in enumerate(FEATURE_NAMES):
            d, c, s, det = (float(v) for v in self.features[i, f])
            feats[name] = (
                Feature(name, None, None, None, None)
                if np.isnan(d)
                else Feature(name, d, c, s, bool(det))
            )
        albedo = None if np.isnan(self.albedo[i]) else float(self.albedo[i])
        n_bins = int(self.n_bins[i])
        if self.status[i] != MX.OK:
            return MahlkeResult(source=source, cls=None, complex=None, albedo=albedo,
                                features=feats, n_bins=n_bins, tree=self.tree,
                                reason=self._reason(i))  # fmt: skip
        cls = self._label(i)
        base = self.classes[int(self.base_index[i])]
        model = load_mahlke_model()
        refs = [_reference_name(model, int(j)) for j in self.neighbours[i]]
        tau = self.cluster_probabilities[i].copy()
        flags = []
        cluster = int(np.argmax(tau))
        if cluster in DIFFUSE_CLUSTERS:
            flags.append(f"diffuse_cluster: most probable cluster {cluster} is a diffuse cluster "
                         "(no single class; Mahlke et al. 2022)")  # fmt: skip
        if albedo is None and base == "X":
            flags.append("albedo_needed: X-complex; an albedo separates E, M and P (--albedo)")
        if n_bins < N_BINS:
            span = f"{self.first_um[i]:.3f}–{self.last_um[i]:.3f} µm"
            flags.append(f"partial_spectrum: {n_bins} of {N_BINS} bins observed ({span}); "
                         "the missing ones are marginalised out")  # fmt: skip
        return MahlkeResult(
            source=source, cls=cls, complex=complex_of(cls),
            probabilities=dict(zip(self.classes, map(float, self.probabilities[i]), strict=True)),
            tree_class=base, cluster_probabilities=tau, z=tuple(float(v) for v in self.z[i]),
            albedo=albedo, features=feats, flags=flags, n_bins=n_bins, alpha=float(self.alpha[i]),
            references=refs, log_likelihood=float(self.log_likelihood[i]), tree=self.tree,
        )  # fmt: skip

    def _reason(self, i: int) -> str:
        lo, hi = GRID_UM[0], GRID_UM[-1]
        if self.status[i] == MX.TOO_FEW_BINS:
            have = int(self.n_bins[i])
            return (f"Mahlke needs at least {MIN_BINS} of its {N_BINS} bins inside "
                    f"{lo:.2f}–{hi:.2f} µm (0.025 µm steps to 1.05 µm, 0.05 µm beyond); "
                    f"this spectrum fills {have}")  # fmt: skip
        return (
            "no published reference spectrum covers the observed bins: cannot normalise (mixnorm)"
        )


def _reference_name(model, j: int) -> str:
    number = int(model.reference_number[j])
    name = str(model.reference_name[j])
    return f"({number}) {name}" if number >= 0 else name



def _albedo(albedo, n: int) -> np.ndarray:
    """pV per spectrum from None, a number or an (N,) array (NaN = unknown), checked."""
    if albedo is None:
        return np.full(n, np.nan)
    pv = np.asarray(albedo, dtype=np.float64)
    if pv.ndim == 0:
        pv = np.full(n, float(pv))
    if pv.shape != (n,):
        raise InputError(
            f"albedo must be one number or one per spectrum ({n},), got shape {pv.shape}"
        )
    known = ~np.isnan(pv)
    bad = known & ~((pv > 0) & (pv <= MAX_ALBEDO))
    if bad.any():
        v = float(pv[bad][0])
        hint = f" (looks like a percentage: give {v / 100:g})" if 1 < v <= 100 else ""
        raise InputError(f"albedo {v:g} is not a geometric albedo pV in (0, {MAX_ALBEDO:g}]{hint}")
    return pv


def classify_batch(
    wavelength_um, reflectance, *, albedo=None, tree: str = "mahlke2022", references=None
) -> MahlkeBatch:
    """Classify (N, B) spectra sharing the axis `wavelength_um` (B,) in µm.

    NaN or ≤ 0 reflectance = missing. `albedo`: None, one pV for all, or (N,) with NaN for
    unknown. `tree`: "mahlke2022" (the published catalogue, default) or "classy" (its later
    rules; see `firmware.mahlke_tree`). `references`: optional bool mask over the published
    reference spectra that mixnorm may use (default all) — for leave-one-asteroid-out
    validation, since a published asteroid is otherwise its own nearest reference."""
    if tree not in TREE_VARIANTS:
        raise InputError(f"tree must be one of {TREE_VARIANTS}, not {tree!r}")
    wl, refl, _ = validate_batch(wavelength_um, reflectance)
    n = refl.shape[0]
    pv = _albedo(albedo, n)
    with np.errstate(invalid="ignore"):
        log_pv = np.log10(pv)  # NaN stays NaN
    previous = numba.get_num_threads()
    if n < SERIAL_BELOW:
        numba.set_num_threads(1)  # thread-local in numba: affects this caller only
    try:
        return _classify(wl, refl, pv, log_pv, tree, references)
    finally:
        numba.set_num_threads(previous)


def _classify(wl, refl, pv, log_pv, tree, references) -> MahlkeBatch:
    n = refl.shape[0]
    model = load_mahlke_model()
    consts = load_tree(tree)
    binned = mahlke_bins.bin_spectra(wl, refl, model.grid_um, model.half_width_um, MAX_GAP_UM)
    x, alpha, neighbours, status = MX.normalise(binned, model, N_NEIGHBOURS, MIN_BINS,
                                                 _masks_for(references))  # fmt: skip
    feats = np.empty((n, N_FEATURES))
    feats[:, :N_BINS] = x
    feats[:, PV_INDEX] = np.where(status == MX.OK, log_pv, np.nan)
    tau, z, loglik = mcfa_score(feats, model)
    probs = tree_batch(tau, z, feats[:, PV_INDEX], len(consts.classes), *consts.kernel_args())
    fine = resample_binned(wl, np.where(refl > 0, refl, np.nan) if np.any(refl <= 0) else refl,
                           FEATURE_GRID_UM, FEATURE_RESAMPLE_HALF_WIDTH_UM)  # fmt: skip
    features = measure_features(fine, *feature_model())
    return _assemble(binned, status, alpha, neighbours, tau, z, loglik, probs, features, pv,
                     log_pv, consts, tree)  # fmt: skip


def _assemble(
    binned, status, alpha, neighbours, tau, z, loglik, probs, features, pv, log_pv, consts, tree
):
    """Feature flags and refusals on the kernels' arrays (vectorised, no per-spectrum objects)."""
    ok = status == MX.OK
    observed = np.isfinite(binned)
    n_bins = observed.sum(axis=1)
    first = np.where(n_bins > 0, GRID_UM[np.argmax(observed, axis=1)], np.nan)
    last = np.where(n_bins > 0, GRID_UM[N_BINS - 1 - np.argmax(observed[:, ::-1], axis=1)], np.nan)
    base = np.where(ok, np.argmax(np.where(ok[:, None], probs, 0.0), axis=1), -1)
    names = np.array(consts.classes)
    detected = features[:, :, 3] == 1.0
    cand = feature_candidates()
    in_cand = {f: ok & np.isin(names[np.maximum(base, 0)], cand[f]) for f in cand}
    flag_h = in_cand["h"] & detected[:, FEATURE_NAMES.index("h")]
    flag_e = in_cand["e"] & detected[:, FEATURE_NAMES.index("e")] & ~flag_h
    flag_k = in_cand["k"] & detected[:, FEATURE_NAMES.index("k")] & ~flag_h
    ci = consts.class_index
    probs = probs.copy()
    if flag_h.any():  # classy classify(): P(Ch) = P(B) + P(C) + P(P) when h is present
        bcp = [ci["B"], ci["C"], ci["P"]]
        probs[flag_h, ci["Ch"]] = probs[flag_h][:, bcp].sum(axis=1)
        probs[np.ix_(flag_h, bcp)] = 0.0
    class_index = np.where(flag_h, ci["Ch"], base)
    nan = ~ok
    for arr in (probs, tau, z):
        arr[nan] = np.nan
    return MahlkeBatch(
        class_index=class_index.astype(np.int64), base_index=base.astype(np.int64),
        probabilities=probs, cluster_probabilities=tau, z=z,
        log_likelihood=np.where(ok, loglik, np.nan), alpha=alpha, neighbours=neighbours,
        n_bins=n_bins.astype(np.int64), first_um=first, last_um=last, features=features,
        flag_e=flag_e, flag_k=flag_k, flag_h=flag_h, albedo=pv, log_pv=log_pv, status=status,
        tree=tree, classes=consts.classes,
    )  # fmt: skip


def _masks_for(references) -> np.ndarray:
    """Coverage masks with the excluded references emptied (an empty mask covers nothing)."""
    masks = load_mahlke_model().reference_masks
    if references is None:
        return masks
    keep = np.asarray(references)
    if keep.dtype != bool or keep.shape != masks.shape:
        raise InputError(
            f"references must be a bool mask of shape {masks.shape}, got {keep.dtype} {keep.shape}"
        )
    return np.where(keep, masks, np.uint64(0))


def classify(wavelength_um, reflectance, error=None, *, albedo=None, source: str = "",
             tree: str = "mahlke2022", references=None) -> MahlkeResult:  # fmt: skip
    """Classify one spectrum given on its own wavelength axis (µm); `albedo` = pV or None.

    `error` is accepted for symmetry with Bus-DeMeo and checked for shape; the MCFA carries
    its own noise model (D) and does not use per-sample errors."""
    refl = np.asarray(reflectance, dtype=np.float64)
    wl = np.asarray(wavelength_um, dtype=np.float64)
    if refl.ndim != 1 or wl.shape != refl.shape:
        raise InputError(
            f"one spectrum: wavelength_um and reflectance must be 1-D of equal length, "
            f"got {wl.shape} and {refl.shape}"
        )
    if error is not None and np.shape(error) != refl.shape:
        raise InputError(
            f"error must have the reflectance's shape {refl.shape}, got {np.shape(error)}"
        )
    if albedo is not None and np.ndim(albedo) != 0:
        raise InputError("albedo of one spectrum must be one number (pV) or None")
    batch = classify_batch(wl, refl[None, :], albedo=albedo, tree=tree, references=references)
    return batch.result(0, source)


def classify_spectrum(spectrum, *, albedo=None, tree: str = "mahlke2022") -> MahlkeResult:
    """Classify a `firmware.reader.Spectrum`."""
    return classify(spectrum.wavelength_um, spectrum.reflectance, spectrum.error, albedo=albedo,
                    source=spectrum.source, tree=tree)  # fmt: skip
