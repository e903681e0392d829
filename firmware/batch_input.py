"""The one check every batch API (Bus-DeMeo, bands, Mahlke) makes of its arrays.

A public function validates and prepares, then calls kernels that only do arithmetic
(stumpy's layout). What "prepared" means is the same for every taxonomy and analysis, so it
lives here once: reflectance (N spectra, B bands) and a shared wavelength axis (B,) in µm,
float, the axis strictly increasing (an unsorted axis is sorted, with the columns of the
reflectance and error moved with it). Missing reflectances stay NaN: the kernels carry them
as masks. Anything that cannot be prepared without guessing raises `InputError` saying what
to do.
"""

from __future__ import annotations

import numpy as np

from firmware.errors import InputError

NM_THRESHOLD = 100.0  # a max wavelength above this is nm (no asteroid spectrum reaches 100 µm)


def validate_batch(wavelength_um, reflectance, error=None):
    """Return `(wavelength_um float64 (B,), reflectance float C-contiguous (N, B), error)`.

    `error` is None or float64 of the reflectance's shape. Integer reflectance becomes
    float64; float32 stays float32 (the kernels have both specialisations)."""
    wl = np.asarray(wavelength_um)
    refl = np.asarray(reflectance)
    if refl.ndim != 2 or wl.ndim != 1 or refl.shape[1] != wl.shape[0]:
        raise InputError(
            f"reflectance must be (N spectra, B bands) and wavelength_um (B,); "
            f"got {refl.shape} and {wl.shape} (one spectrum: reflectance[None, :])"
        )
    if not np.issubdtype(refl.dtype, np.floating):
        refl = refl.astype(np.float64)
    if not np.issubdtype(wl.dtype, np.number):
        raise InputError(f"wavelength_um must be numbers (µm), got dtype {wl.dtype}: convert it first")
    wl = wl.astype(np.float64)
    if not np.all(np.isfinite(wl)):
        raise InputError(
            "wavelength_um holds NaN or inf: every band needs a wavelength; drop those columns"
        )
    if wl.size and np.max(wl) > NM_THRESHOLD:
        raise InputError(
            f"wavelength_um max is {np.max(wl):g}: looks like nm; pass µm (divide by 1000)"
        )
    if error is not None:
        error = np.asarray(error, dtype=np.float64)
        if error.shape != refl.shape:
            raise InputError(
                f"error must have the reflectance's shape {refl.shape}, got {error.shape}: "
                "one 1σ per reflectance value, or error=None"
            )
    if np.any(np.diff(wl) <= 0):
        order = np.argsort(wl, kind="stable")
        if np.any(np.diff(wl[order]) == 0):
            raise InputError(
                "wavelength_um has duplicate bands: merge them first (read_spectra does)"
            )
        wl, refl = wl[order], refl[:, order]
        error = None if error is None else error[:, order]
    return wl, np.ascontiguousarray(refl), error
