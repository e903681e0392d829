"""Band I / Band II analysis of reflectance spectra: the public API over kernels/bands.py.

    from firmware.bands import analyse
    b = analyse(wavelength_um, reflectance, error)      # one spectrum on its own axis
    b.band1.centre_um, b.band1.centre_sigma_um, b.bar, b.to_dict()

`analyse_batch(wavelength_um (B,), reflectance (N, B), error=None)` does the same for N spectra
on one axis and returns arrays (`BandBatch`), for the simulator and the benchmarks.
`survey_batch(wavelength_um, reflectance)` gives the Bus-DeMeo `BatchResult` and the
`BandBatch` of N spectra from one fused pass over the input (the survey pipeline).

Uncertainties are Monte-Carlo (fixed seed, `N_MC` draws): each draw perturbs every input
sample by its 1σ error (the error column; where it is missing, the DER_SNR noise estimate of
the spectrum, Stoehr et al. 2008) and repeats the whole analysis, tie points included. They
are statistical only; the mineralogy adds the calibration scatter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numba
import numpy as np

from firmware.batch_input import validate_batch
from firmware.errors import InputError
from firmware.kernels import bands as K
from firmware.kernels.band_pipeline import band_pipeline
from firmware.kernels.continuum import hull_continuum, tie_continuum
from firmware.kernels.resample import resample_binned, resample_plan, resample_taps

MASTER_SEED = 20260603  # the one seed of every Monte-Carlo draw here (deterministic σ)
N_MC = 64  # draws: σ to ~9 % (1/√(2·64)) — enough to rank evidence, cheap on one spectrum
STATUS_REASON = {
    K.NO_COVERAGE: "the spectrum does not cover this band and its continuum shoulders",
    K.NO_BAND: f"no absorption: the continuum-removed band is shallower than {K.MIN_DEPTH:.0%}",
    K.BAD_FIT: "band bottom not resolved: the fitted minimum stays on the edge of its window "
    "(flat or noisy bottom); depth and area are given, the centre is not",
}
# A blue tie point closer than this to where the data begin is probably not the true shoulder
# (e.g. NIR-only spectra starting at 0.8 µm, inside Band I's short-wavelength wing).
SHOULDER_EDGE_UM = 0.60


def n_chunks_for(n: int) -> int:
    """Work split for the parallel kernels: several chunks per thread for load balance."""
    return max(1, min(n, numba.get_num_threads() * 8))


@lru_cache(maxsize=16)
def _draws(n_mc: int, n_bands: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, n_bands]).standard_normal((n_mc, n_bands))


def _none(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


@dataclass(frozen=True)
class Band:
    """One absorption band; None = not measured (see `status` and `reason`)."""

    name: str
    centre_um: float | None
    centre_sigma_um: float | None
    depth: float | None
    depth_sigma: float | None
    area_um: float | None
    area_sigma_um: float | None
    status: str
    reason: str | None = None

    @property
    def measured(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return {
            "centre_um": self.centre_um, "centre_sigma_um": self.centre_sigma_um,
            "depth": self.depth, "depth_sigma": self.depth_sigma,
            "area_um": self.area_um, "area_sigma_um": self.area_sigma_um,
            "status": self.status, "reason": self.reason,
        }  # fmt: skip


@dataclass
class BandResult:
    """Band I / II parameters of one spectrum (continuum: linear between tie points)."""

    band1: Band
    band2: Band
    bar: float | None
    bar_sigma: float | None
    continuum_slope_per_um: float | None  # Band I continuum slope / R(tie 1)
    continuum_slope_sigma: float | None
    ties_um: tuple[float | None, float | None, float | None]
    uncertainty_source: str | None
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "continuum": "linear between reflectance maxima (tie points)",
            "band1": self.band1.to_dict(),
            "band2": self.band2.to_dict(),
            "bar": self.bar,
            "bar_sigma": self.bar_sigma,
            "continuum_slope_per_um": self.continuum_slope_per_um,
            "continuum_slope_sigma": self.continuum_slope_sigma,
            "tie_points_um": list(self.ties_um),
            "uncertainty_source": self.uncertainty_source,
            "flags": list(self.flags),
        }


@dataclass
class BandBatch:
    """Arrays for N spectra (NaN = not measured); `result(i)` builds one `BandResult`."""

    values: np.ndarray  # (N, K.N_OUT), columns K.COLUMN_NAMES; a centre is NaN unless its band is OK
    sigma: np.ndarray  # (N, K.N_OUT), Monte-Carlo 1σ (NaN without draws)
    status: np.ndarray  # (N, 2) int64 per band: K.OK / NO_COVERAGE / NO_BAND / BAD_FIT
    noise: np.ndarray  # (N,) DER_SNR σ used when there was no error column
    first_um: np.ndarray  # (N,) first valid wavelength
    has_error: bool
    n_mc: int

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        return self.values[:, K.COLUMN_NAMES.index(name)]

    band1_centre_um = property(lambda self: self.values[:, K.BIC])
    band1_depth = property(lambda self: self.values[:, K.BI_DEPTH])
    band1_area_um = property(lambda self: self.values[:, K.BI_AREA])
    band2_centre_um = property(lambda self: self.values[:, K.BIIC])
    band2_depth = property(lambda self: self.values[:, K.BII_DEPTH])
    band2_area_um = property(lambda self: self.values[:, K.BII_AREA])
    bar = property(lambda self: self.values[:, K.BAR])
    continuum_slope_per_um = property(lambda self: self.values[:, K.SLOPE])

    def result(self, i: int) -> BandResult:
        v, s, st = self.values[i], self.sigma[i], self.status[i]
        bands = []
        for b, (c, name) in enumerate(((K.BIC, "I"), (K.BIIC, "II"))):
            ok = st[b] == K.OK
            bands.append(Band(
                name=name,
                centre_um=_none(v[c]) if ok else None,
                centre_sigma_um=_none(s[c]) if ok else None,
                depth=_none(v[c + 1]),
                depth_sigma=_none(s[c + 1]),
                area_um=_none(v[c + 2]),
                area_sigma_um=_none(s[c + 2]),
                status=K.STATUS_NAMES[int(st[b])],
                reason=STATUS_REASON.get(int(st[b])),
            ))  # fmt: skip
        flags = []
        tie1 = v[K.TIE1]
        if np.isfinite(tie1) and self.first_um[i] > SHOULDER_EDGE_UM and tie1 - self.first_um[i] < 0.015:
            flags.append(
                f"band1_shoulder_at_data_edge: the spectrum starts at {self.first_um[i]:.3f} µm, "
                "so the blue tie point may sit inside Band I (area and BAR biased low)"
            )
        if self.n_mc:
            src = "error column" if self.has_error else (
                f"DER_SNR noise estimate σ={self.noise[i]:.2g} (no error column)")  # fmt: skip
            src += f"; Monte-Carlo, {self.n_mc} draws, seed {MASTER_SEED}"
        else:
            src = None
        return BandResult(
            band1=bands[0], band2=bands[1],
            bar=_none(v[K.BAR]), bar_sigma=_none(s[K.BAR]),
            continuum_slope_per_um=_none(v[K.SLOPE]), continuum_slope_sigma=_none(s[K.SLOPE]),
            ties_um=(_none(v[K.TIE1]), _none(v[K.TIE2]), _none(v[K.TIE3])),
            uncertainty_source=src, flags=flags,
        )  # fmt: skip



def kernel_args(wl: np.ndarray) -> tuple:
    """The band kernels' arguments for a shared float64 axis `wl` (µm), from the grid to the
    fits' pseudo-inverses (see `firmware.kernels.band_pipeline.band_pipeline`)."""
    grid, hw = K.BAND_GRID_UM, K.BAND_RESAMPLE_HALF_WIDTH_UM
    taps, w, _valid = resample_taps(wl, grid, hw)
    tie_j, search_j = K.band_indices()
    return (grid, hw, *resample_plan(wl, grid, hw), taps, w, tie_j, search_j, K.SEARCH_LO_UM,
            K.SEARCH_HI_UM, *K.band_fit_model())  # fmt: skip


def fused_band_args(wl: np.ndarray) -> tuple:
    """The band arguments of the fused Bus-DeMeo + bands kernel for the axis `wl` (µm)."""
    args = kernel_args(wl)
    return args[:2] + args[4:]  # no resampling plan: the fused kernel uses the taps


def survey_batch(wavelength_um, reflectance, error=None, *, out=None):
    """Bus-DeMeo classes and Band I/II parameters of (N, B) spectra on one axis, in one pass.

    The survey pipeline: `firmware.busdemeo.classify_batch` and `analyse_batch(n_mc=0)` fused
    into one kernel that reads each row once (the same values as the two calls). `error` (N, B)
    1σ is used by the Bus-DeMeo template χ² only (no Monte-Carlo σ here). Returns
    (`BatchResult`, `BandBatch`). `out`: the result of an earlier `survey_batch` on at least
    as many spectra, overwritten and returned (copy what you keep): a survey streamed in
    chunks reuses one set of output arrays (~400 B per spectrum) instead of fresh pages every
    chunk."""
    from firmware import busdemeo

    out = busdemeo.run_pipeline(wavelength_um, reflectance, error, band_args=fused_band_args,
                                out=out)  # fmt: skip
    bd = busdemeo.batch_result(out)
    values, status = out[11], out[12]
    n = values.shape[0]
    # no Monte-Carlo σ and no noise estimate here: read-only NaN views that take no memory
    # (filled arrays were 96 B per spectrum of fresh pages to fault in and write)
    nan = np.float64(np.nan)
    bb = BandBatch(values, np.broadcast_to(nan, values.shape), status, np.broadcast_to(nan, (n,)),
                   bd.first_um, error is not None, 0)  # fmt: skip
    return bd, bb


def analyse_batch(wavelength_um, reflectance, error=None, *, n_mc: int | None = None,
                  seed: int = MASTER_SEED) -> BandBatch:  # fmt: skip
    """Band parameters of (N, B) spectra on the shared axis `wavelength_um` (B,) in µm.

    NaN or ≤ 0 reflectance = missing; float32 is read without an upcast. `error` (N, B) 1σ.
    `n_mc` Monte-Carlo draws for σ: default N_MC when `error` is given, else 0 (no σ: the
    survey case, where speed matters); pass n_mc > 0 to get σ from the DER_SNR estimate.
    """
    wl, refl, error = validate_batch(wavelength_um, reflectance, error)
    has_err = error is not None
    if n_mc is None:
        n_mc = N_MC if has_err else 0
    if n_mc < 0:
        raise InputError(f"n_mc must be ≥ 0, got {n_mc}")
    z = _draws(int(n_mc), wl.size, int(seed)) if n_mc else np.empty((0, wl.size))
    from firmware.busdemeo import threads_for

    with threads_for(refl.shape[0] * max(1, 16 * int(n_mc))):  # a draw costs ~1/16 of a row
        values, sigma, status, noise = band_pipeline(
            wl, refl, error if has_err else np.empty((0, 0)), has_err, *kernel_args(wl), z,
            n_chunks_for(refl.shape[0]),
        )  # fmt: skip
    valid = np.isfinite(refl) & (refl > 0)
    first = np.where(valid.any(axis=1), wl[np.argmax(valid, axis=1)], np.nan)
    return BandBatch(values, sigma, status, noise, first, has_err, int(n_mc))


def analyse(wavelength_um, reflectance, error=None, *, n_mc: int = N_MC,
            seed: int = MASTER_SEED) -> BandResult:  # fmt: skip
    """Band parameters of one spectrum on its own wavelength axis (µm), with Monte-Carlo σ
    (from `error`, else from the DER_SNR noise estimate; n_mc=0 skips them)."""
    refl = np.asarray(reflectance, dtype=np.float64)
    wl = np.asarray(wavelength_um, dtype=np.float64)
    if refl.ndim != 1 or wl.shape != refl.shape:
        raise InputError(
            f"one spectrum: wavelength_um and reflectance must be 1-D of equal length, got "
            f"{wl.shape} and {refl.shape}"
        )
    err = None if error is None else np.asarray(error, dtype=np.float64)[None, :]
    return analyse_batch(wl, refl[None, :], err, n_mc=n_mc, seed=seed).result(0)


def analyse_spectrum(spectrum, **kw) -> BandResult:
    """Band parameters of a `firmware.reader.Spectrum`."""
    return analyse(spectrum.wavelength_um, spectrum.reflectance, spectrum.error, **kw)


def continuum_removed(wavelength_um, reflectance, method: str = "linear"):
    """(band grid µm, continuum, reflectance / continuum) of one spectrum on the band grid.

    method "linear": straight lines between the Band I/II tie points; "hull": the upper
    convex hull. For display and for users who want the continuum-removed curve itself."""
    wl, refl, _ = validate_batch(wavelength_um, np.asarray(reflectance)[None, :], None)
    grid = K.BAND_GRID_UM
    r = resample_binned(wl, np.where(refl > 0, refl, np.nan), grid, K.BAND_RESAMPLE_HALF_WIDTH_UM)
    if method == "hull":
        cont = hull_continuum(grid, r)
    elif method == "linear":
        cont, _ = tie_continuum(grid, r, K.TIE_LO_UM, K.TIE_HI_UM)
    else:
        raise InputError(f"continuum method must be 'linear' or 'hull', got {method!r}")
    return grid, cont[0], r[0] / cont[0]
