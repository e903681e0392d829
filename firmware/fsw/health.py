"""Health checks FDIR runs on the instrument's data and on the classifier's memory.

Spectrometer checks work on what one observation carries:
- stuck: a detector or readout that repeats itself. Real readings never repeat bit for bit
  (shot and read noise), so an observation identical to the previous one, or with every band
  equal, counts toward a stuck run;
- saturated: the fraction of bands at or above the ADC full scale (needs raw counts);
- noisy: a robust SNR estimate from second differences (for a spectrum smooth on the band
  scale, the second difference of white noise has σ√6; MAD/0.6745 estimates σ robustly).

`ModelMemory` guards the Bus-DeMeo constants in RAM: their sha256, computed the way
`firmware.taxonomy.load_demeo_model()` computes `checksum`, must equal the checksum recorded
when they were loaded. A mismatch is corrupted classification memory (e.g. a single-event
upset); `reload()` copies fresh constants from the read-only seed files back into the live
arrays the classifier uses, then verifies again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

MAD_TO_SIGMA = 0.6745  # median absolute deviation of N(0, 1) (Hampel 1974)
SECOND_DIFF_GAIN = 6.0**0.5  # σ of x[i-1] − 2x[i] + x[i+1] for white noise of σ = 1


def identical(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is not None and b is not None and a.shape == b.shape and bool(np.array_equal(a, b))


def constant(a: np.ndarray) -> bool:
    finite = a[np.isfinite(a)]
    return finite.size > 1 and bool(np.all(finite == finite[0]))


def saturated_fraction(
    counts_dn: np.ndarray | None,
    full_scale_dn: int | None,
    n_saturated: int | None = None,
    n_bands: int = 0,
) -> float:
    """Fraction of bands at or above full scale (from the counts, or from a count of saturated
    bands out of `n_bands`); 0 when neither is given."""
    if counts_dn is None or full_scale_dn is None or counts_dn.size == 0:
        return n_saturated / n_bands if n_saturated is not None and n_bands else 0.0
    return float(np.count_nonzero(counts_dn >= full_scale_dn)) / counts_dn.size


def snr_estimate(reflectance: np.ndarray) -> float:
    """Median signal over a robust noise estimate from second differences (inf if noiseless)."""
    r = reflectance[np.isfinite(reflectance)]
    if r.size < 5:
        return float("nan")
    d2 = r[:-2] - 2 * r[1:-1] + r[2:]
    sigma = np.median(np.abs(d2 - np.median(d2))) / MAD_TO_SIGMA / SECOND_DIFF_GAIN
    signal = float(np.median(r))
    return float("inf") if sigma == 0 else signal / float(sigma)


def _model_arrays(model) -> tuple[np.ndarray, ...]:
    # the same arrays, in the same order, as firmware.taxonomy.load_demeo_model's digest
    return (model.eigenvectors, model.data_mean, model.template_mean, model.template_sigma)


def model_digest(model) -> str:
    digest = hashlib.sha256()
    for arr in _model_arrays(model):
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def _default_loader():
    from firmware.taxonomy import load_demeo_model

    return load_demeo_model


class ModelMemory:
    """The classifier's live constants and the checksum they must keep.

    `loader` is the cached loader whose result the classifier uses (default
    `firmware.taxonomy.load_demeo_model`); its uncached original (`__wrapped__`) reads the
    seed files again for a reload.
    """

    def __init__(self, loader: Callable | None = None):
        self._loader = loader or _default_loader()
        self.model = self._loader()
        self.golden = self.model.checksum
        self.checks = 0
        self.failures = 0
        self.reloads = 0

    @staticmethod
    def short(checksum: str) -> int:
        """First 32 bits of a hex checksum, for events."""
        return int(checksum[:8], 16)

    def current(self) -> str:
        return model_digest(self.model)

    def verify(self) -> bool:
        self.checks += 1
        ok = self.current() == self.golden
        self.failures += not ok
        return ok

    def reload(self) -> bool:
        """Copy pristine constants into the live arrays; True when the checksum matches again."""
        fresh_loader = getattr(self._loader, "__wrapped__", self._loader)
        fresh = fresh_loader()
        if fresh.checksum != self.golden:  # the seed store itself is damaged: cannot repair
            return False
        for live, good in zip(_model_arrays(self.model), _model_arrays(fresh), strict=True):
            np.copyto(live, good)
        self.reloads += 1
        return self.verify()
