"""Bus-DeMeo classification (DeMeo et al. 2009): the public API over the numba kernels.

`classify()` takes one spectrum on its own wavelength axis; `classify_batch()` takes an
(N, B) array sharing one axis. Both validate and prepare here, then call the kernels in
`firmware.kernels`, which only do arithmetic. A spectrum that cannot be classified comes
back with `cls=None` and a `reason` — never an exception, never a guess.

Two corrections precede the DeMeo 2009 tree, each reported: a thermal tail (a dark NEO's
own heat beyond 2 µm; `firmware.kernels.thermal`) is removed and flagged
`thermal_tail_removed`, and a 0.9 µm band counts for Xk only from K_MIN_DEPTH on.
`classify_grid()` is the host reference on the 41-point grid for ports that resample
elsewhere (the board's fixed-point classifier).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numba
import numpy as np

from firmware.batch_input import validate_batch
from firmware.busdemeo_result import (  # re-exported: the result types and coverage rules
    GRID_HALF_WIDTH_UM,
    MAX_EDGE_STEPS,
    MAX_GAP_UM,
    MIN_POINTS,
    BatchResult,
    BusDeMeoResult,
    Feature,
    reason_text,
)
from firmware.errors import InputError
from firmware.kernels import demeo as K
from firmware.kernels.features import (
    FEATURE_GRID_UM,
    FEATURE_NAMES,
    FEATURE_RESAMPLE_HALF_WIDTH_UM,
    feature_grams,
    feature_model,
)
from firmware.kernels.pipeline import (
    bus_demeo_pipeline,
    coverage_one,
    output_layout,
    pipeline_outputs,
)
from firmware.kernels.resample import resample_taps
from firmware.kernels.thermal import thermal_model
from firmware.taxonomy import CLASS_NAMES, DEMEO_GRID_UM, load_demeo_model

__all__ = [  # the public API, with the result types re-exported from firmware.busdemeo_result
    "GRID_HALF_WIDTH_UM", "K_MIN_DEPTH", "MAX_EDGE_STEPS", "MAX_GAP_UM", "MIN_POINTS",
    "BatchResult", "BusDeMeoResult", "ClassBatch", "Feature", "classify", "classify_batch",
    "classify_classes", "classify_grid", "classify_spectrum",
]  # fmt: skip

# The tree counts a 0.9 µm (k) band only from this depth on (the feature kernel flags bands
# from cana's 1 %): shallow k "bands" on noisy NEO spectra otherwise turn C/Ch into Xk.
# Tuned on the developer spectra by grouped cross-validation by asteroid key among the depths
# that keep the Xk class mean an Xk (firmware.validation_cv): 14 of 15 folds picked 0.015.
K_MIN_DEPTH = 0.015


@lru_cache(maxsize=1)
def _kernel_constants():
    """Model arrays for the kernels: the DeMeo model, 1/σ² of the templates and the
    slope-removed templates (for the tree's correlation tie-breaks A/D and C/X)."""
    m = load_demeo_model()
    grid = m.grid_um
    tmpl_sr = np.empty_like(m.template_mean)
    for c in range(tmpl_sr.shape[0]):
        t = m.template_mean[c] / m.template_mean[c, 2]
        s = np.polyfit(grid, t, 1)[0]
        tmpl_sr[c] = t / (1.0 + s * (grid - 0.55))
    inv_var = 1.0 / m.template_sigma**2
    return m, tmpl_sr, inv_var


def n_chunks_for(n: int) -> int:
    """Work split for the parallel kernels: several chunks per thread for load balance."""
    return max(1, min(n, numba.get_num_threads() * 8))


# Batches smaller than this run on the calling thread only: waking numba's thread pool after
# an idle gap costs ~5 ms with the omp layer, and longer when another process holds the other
# core (shared/notes/performance.md §6), while 2000 spectra take ~2 ms on one core.
SERIAL_BELOW = 2048


@contextmanager
def threads_for(n: int):
    """Run the enclosed kernel calls on the calling thread when the batch is small."""
    if n >= SERIAL_BELOW:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)  # thread-local in numba: affects this caller only
    try:
        yield
    finally:
        numba.set_num_threads(previous)



@dataclass(frozen=True)
class AxisPlan:
    """What a shared wavelength axis fixes for every row without a missing value: the sparse
    resampling maps to the 41-point grid (grid ends held at the edge value, MAX_EDGE_STEPS)
    and to the fine feature grid, whether such a row is classifiable at all (`block_ok`:
    coverage, gaps, sample count), whether its grid ends were held, and which feature
    windows it covers. Rows with missing values do not use it."""

    taps41: np.ndarray
    w41: np.ndarray
    taps_fine: np.ndarray
    w_fine: np.ndarray
    block_ok: bool
    edge_filled: bool
    windows_ok: np.ndarray


def axis_plan(wavelength_um: np.ndarray) -> AxisPlan:
    """The `AxisPlan` of an ascending float64 axis (µm); cached for repeated calls."""
    return _axis_plan(wavelength_um.tobytes())


@lru_cache(maxsize=16)
def _axis_plan(key: bytes) -> AxisPlan:
    wl = np.frombuffer(key, dtype=np.float64)
    grid = DEMEO_GRID_UM
    taps, w, valid = resample_taps(wl, grid, GRID_HALF_WIDTH_UM)
    tf, wf, vf = resample_taps(wl, FEATURE_GRID_UM, FEATURE_RESAMPLE_HALF_WIDTH_UM)
    ok = bool(valid.any())
    filled = False
    if ok:
        first, last = np.flatnonzero(valid)[[0, -1]]
        ok = first <= MAX_EDGE_STEPS and grid.size - 1 - last <= MAX_EDGE_STEPS and valid[first : last + 1].all()
        taps[:first], w[:first] = taps[first], w[first]
        taps[last + 1 :], w[last + 1 :] = taps[last], w[last]
        filled = bool(first > 0 or last < grid.size - 1)
        _first, _last, gap, _count = coverage_one(wl, np.ones_like(wl), grid[0], grid[-1])
        ok = ok and gap <= MAX_GAP_UM and wl.size >= MIN_POINTS
    starts, lengths = feature_model()[:2]
    win_ok = np.array([bool(vf[s : s + n].all()) for s, n in zip(starts, lengths, strict=True)])
    return AxisPlan(taps, w, tf, wf, ok, filled, win_ok)


# band arguments of the fused kernel when no band analysis is asked for (same types, no rows)
_NO_BANDS = (np.empty(0), 0.0, np.empty((0, 2), np.int64), np.empty((0, 2)),
             np.empty((0, 2), np.int64), np.empty((0, 2), np.int64), np.empty(0), np.empty(0),
             np.empty((0, 0)), np.empty((0, 0)))  # fmt: skip


def run_pipeline(wavelength_um, reflectance, error=None, *, k_min_depth: float = K_MIN_DEPTH,
                 all_chi2: bool = True, band_args: tuple | None = None, report: bool = True,
                 out=None):  # fmt: skip
    """Validate, then run the fused kernel (`firmware.kernels.pipeline.bus_demeo_pipeline`);
    returns its output tuple. `band_args` (from `firmware.bands.fused_band_args`) adds the
    Band I/II analysis to the same pass; `all_chi2=False, report=False` is the classes-only
    mode (χ² only where the tree needs it, C/X classes only; no χ², features, flags,
    coverage or thermal rows).
    `out`: a result of an earlier call in the same mode on at least as many spectra, whose
    arrays (their first N rows) are overwritten instead of allocating new ones
    (`previous_outputs`, `_outputs_for`)."""
    previous = previous_outputs(out)
    wl, refl, error = validate_batch(wavelength_um, reflectance, error)
    model, tmpl_sr, inv_var = _kernel_constants()
    has_err = error is not None
    err = error if has_err else np.empty((0, 0))
    plan = axis_plan(wl)
    with_bands = band_args is not None
    with threads_for(refl.shape[0]):
        return _call_kernel(wl, refl, err, has_err, plan, model, tmpl_sr, inv_var, k_min_depth,
                            all_chi2, with_bands, band_args, report, previous)  # fmt: skip


_MODES = {(True, False): "classify_batch", (False, False): "classify_classes", (True, True): "survey_batch"}


def previous_outputs(out) -> tuple | None:
    """The kernel output arrays carried by `out`, the result of an earlier `classify_batch`,
    `classify_classes` or `bands.survey_batch` call (None: allocate new ones)."""
    if out is None:
        return None
    first = out[0] if isinstance(out, tuple) and out else out  # survey: (BatchResult, BandBatch)
    arrays = getattr(first, "_outputs", None)
    if arrays is None:
        raise InputError(
            f"out= must be the result of an earlier classify_batch, classify_classes or "
            f"survey_batch call, got {type(out).__name__}: pass out=None to allocate new arrays"
        )
    return arrays


def _outputs_for(n, n_pc, n_templates, n_features, report, with_bands, previous) -> tuple:
    """New output arrays, or views of the first n rows of `previous` ones: those of a call in
    the same mode on at least n spectra (a survey's shorter last chunk reuses them too)."""
    if previous is None:
        return pipeline_outputs(n, n_pc, n_templates, n_features, report, with_bands)
    layout = output_layout(n, n_pc, n_templates, n_features, report, with_bands)
    n_prev = previous[0].shape[0]
    mode = (previous[4].shape[0] == n_prev, previous[11].shape[0] == n_prev) if n_prev else None
    fits = mode == (report, with_bands) and n_prev >= n and all(
        a.dtype == dtype and a.shape[1:] == shape[1:] and a.flags.writeable and a.flags.c_contiguous
        for a, (shape, dtype) in zip(previous, layout, strict=True)
    )  # fmt: skip
    if not fits:
        raise InputError(
            f"out= holds the outputs of {_MODES.get(mode, 'another call')} on {n_prev} spectra; "
            f"this call is {_MODES[(report, with_bands)]} on {n}: pass the result of the same "
            f"function on at least as many spectra, or out=None"
        )
    return tuple(a[: shape[0]] for a, (shape, _dtype) in zip(previous, layout, strict=True))


def _call_kernel(wl, refl, err, has_err, plan, model, tmpl_sr, inv_var, k_min_depth, all_chi2,
                 with_bands, band_args, report=True, previous=None):  # fmt: skip
    starts, lengths, pinv, vander, mid, half, centre, tol = feature_model()
    out = _outputs_for(refl.shape[0], model.eigenvectors.shape[0], model.template_mean.shape[0],
                       starts.shape[0], report, with_bands, previous)  # fmt: skip
    bus_demeo_pipeline(
        wl, refl, err, has_err,
        model.grid_um, GRID_HALF_WIDTH_UM, FEATURE_GRID_UM, FEATURE_RESAMPLE_HALF_WIDTH_UM,
        plan.taps41, plan.w41, plan.taps_fine, plan.w_fine, plan.block_ok, plan.edge_filled,
        plan.windows_ok, starts, lengths, pinv, vander, feature_grams(), mid, half, centre, tol,
        model.eigenvectors, model.data_mean, model.template_mean, model.template_sigma,
        inv_var, tmpl_sr, *thermal_model(model.grid_um),
        float(k_min_depth), MAX_EDGE_STEPS, MAX_GAP_UM, MIN_POINTS, all_chi2,
        *(band_args(wl) if with_bands else _NO_BANDS), n_chunks_for(refl.shape[0]),
        *out,
    )  # fmt: skip
    return out


def batch_result(out) -> BatchResult:
    """The `BatchResult` of the fused kernel's output tuple."""
    cls, w, slope, pc, chi2, feats, status, edge, indet, cov, thermal = out[:11]
    return BatchResult(
        class_index=cls, w=w, slope=slope, pc=pc, chi2=chi2, features=feats, status=status,
        tree_indeterminate=indet, edge_filled=edge, first_um=cov[:, 0], last_um=cov[:, 1],
        thermal=thermal, _outputs=out,
    )  # fmt: skip


def classify_batch(wavelength_um, reflectance, error=None, *, k_min_depth: float = K_MIN_DEPTH,
                   out: BatchResult | None = None) -> BatchResult:  # fmt: skip
    """Classify (N, B) spectra sharing the wavelength axis `wavelength_um` (B,) in µm.

    NaN or ≤ 0 reflectance = missing. `error` (N, B) 1σ, optional. float32 input is read as
    it is (no whole-array upcast); one fused kernel does every step. `k_min_depth`: the depth
    from which the tree counts a 0.9 µm band (validation only; keep the default).
    `out`: the result of an earlier call on at least as many spectra, overwritten (its first N
    rows) and returned (its arrays change: copy what you keep). A survey streamed in chunks
    then reuses one set of output arrays instead of having fresh pages zeroed and mapped for
    every chunk.
    """
    return batch_result(run_pipeline(wavelength_um, reflectance, error, k_min_depth=k_min_depth,
                                     out=out))  # fmt: skip


@dataclass
class ClassBatch:
    """The classes-only result of `classify_classes`: what the class depends on."""

    class_index: np.ndarray  # (N,) int64, −1 = not classified (see status)
    w: np.ndarray  # (N,) bool
    status: np.ndarray  # (N,) int64, K.OK or a reason code
    slope: np.ndarray  # (N,) µm⁻¹
    pc: np.ndarray  # (N, 5)
    _outputs: tuple | None = field(default=None, repr=False, compare=False)  # for out=

    def labels(self) -> list[str | None]:
        return [None if c < 0 else CLASS_NAMES[c] + ("w" if w else "") for c, w in zip(self.class_index, self.w, strict=True)]


def classify_classes(wavelength_um, reflectance, error=None, *,
                     out: ClassBatch | None = None) -> ClassBatch:  # fmt: skip
    """The Bus-DeMeo stage alone: (N, B) spectra → class, w, status, slope and PCs, the same
    values as `classify_batch`, without the template χ² of spectra whose tree branch does not
    need them (only an indeterminate tree falls back on them). For surveys that want classes.
    `out`: as in `classify_batch` (a `classify_classes` result on at least as many spectra)."""
    res = run_pipeline(wavelength_um, reflectance, error, all_chi2=False, report=False, out=out)
    cls, w, slope, pc, status = res[0], res[1], res[2], res[3], res[6]
    return ClassBatch(cls, w, status, slope, pc, _outputs=res)


def classify_grid(r41, detected, error41=None) -> BatchResult:
    """Bus-DeMeo on spectra already resampled to the 41-point DeMeo grid (0.45–2.45 µm).

    The host reference for classifiers that resample elsewhere (e.g. the board's fixed-point
    port): `r41` (N, 41) reflectance on `DEMEO_GRID_UM` (any scale; normalised here at
    0.55 µm; NaN = missing, at most MAX_EDGE_STEPS points at either end), `detected` (N, 3)
    bool — the e/h/k narrow features (0.49, 0.7, 0.9 µm) as measured by the caller, since a
    0.05 µm grid cannot resolve them — and `error41` (N, 41) 1σ, optional. The features of
    the result carry only the `detected` flags (depth/centre unknown).
    """
    r41 = np.asarray(r41, dtype=np.float64)
    det = np.asarray(detected)
    if r41.ndim != 2 or r41.shape[1] != DEMEO_GRID_UM.size:
        raise InputError(f"r41 must be (N, {DEMEO_GRID_UM.size}) on the DeMeo grid, got {r41.shape}")
    if det.shape != (r41.shape[0], len(FEATURE_NAMES)):
        raise InputError(f"detected must be (N, 3) e/h/k flags, got {det.shape}")
    has_err = error41 is not None
    if has_err:
        err = np.asarray(error41, dtype=np.float64)
        if err.shape != r41.shape:
            raise InputError(f"error41 must have r41's shape {r41.shape}, got {err.shape}")
    else:
        err = np.full_like(r41, np.nan)
    model, tmpl_sr, inv_var = _kernel_constants()
    det_f = det.astype(np.float64)
    n = r41.shape[0]
    cls, w, slope, pc, chi2, status, indet, thermal = K.classify_grid(
        np.ascontiguousarray(r41), np.ascontiguousarray(err), has_err, det_f, model.grid_um,
        model.eigenvectors, model.data_mean, model.template_mean, model.template_sigma,
        inv_var, tmpl_sr, MAX_EDGE_STEPS, *thermal_model(model.grid_um), n_chunks_for(n),
    )  # fmt: skip
    feats = np.full((n, len(FEATURE_NAMES), 4), np.nan)
    feats[:, :, 3] = det_f
    valid = ~np.isnan(r41)
    first = np.where(valid.any(axis=1), DEMEO_GRID_UM[np.argmax(valid, axis=1)], np.nan)
    last = np.where(
        valid.any(axis=1), DEMEO_GRID_UM[r41.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)], np.nan
    )
    edge = (status == K.OK) & ~(valid[:, 0] & valid[:, -1])
    return BatchResult(
        class_index=cls, w=w, slope=slope, pc=pc, chi2=chi2, features=feats, status=status,
        tree_indeterminate=indet, edge_filled=edge, first_um=first, last_um=last,
        thermal=thermal,
    )  # fmt: skip


def classify(wavelength_um, reflectance, error=None, source: str = "") -> BusDeMeoResult:
    """Classify one spectrum given on its own wavelength axis (µm)."""
    refl = np.asarray(reflectance, dtype=np.float64)
    wl = np.asarray(wavelength_um, dtype=np.float64)
    if refl.ndim != 1 or wl.shape != refl.shape:
        raise InputError(
            f"one spectrum: wavelength_um and reflectance must be 1-D of equal length, got "
            f"{wl.shape} and {refl.shape}"
        )
    err = None if error is None else np.asarray(error, dtype=np.float64)[None, :]
    if wl.size < 2:
        reason = reason_text(K.TOO_FEW, np.nan, np.nan)
        return BusDeMeoResult(source, None, None, None, None, reason=reason)
    return classify_batch(wl, refl[None, :], err).result(0, source)


def classify_spectrum(spectrum) -> BusDeMeoResult:
    """Classify a `firmware.reader.Spectrum`."""
    return classify(spectrum.wavelength_um, spectrum.reflectance, spectrum.error, spectrum.source)
