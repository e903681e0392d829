"""Noise of a spectrum that came without an error column, for the band uncertainties.

The band analysis reports 1σ from a Monte-Carlo over the error column; when a file has none,
the noise is estimated from the spectrum itself (`firmware.kernels.band_pipeline`).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_serial


@njit_serial
def der_snr_noise(row, scratch):
    """Noise σ of a spectrum without an error column: DER_SNR (Stoehr et al. 2008, ASP Conf.
    Ser. 394, 505), σ = 1.482602/√6 · median|2fᵢ − fᵢ₋₂ − fᵢ₊₂| over the valid samples in
    order. NaN when fewer than 5 valid samples. `scratch` (≥ 2·len(row)) avoids allocation."""
    m = 0
    for j in range(row.shape[0]):
        if not np.isnan(row[j]):
            scratch[m] = row[j]
            m += 1
    if m < 5:
        return np.nan
    d = scratch[m : 2 * m - 4]
    for j in range(2, m - 2):
        d[j - 2] = abs(2.0 * scratch[j] - scratch[j - 2] - scratch[j + 2])
    return 1.482602 / np.sqrt(6.0) * np.median(d)
