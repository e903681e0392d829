"""The real spectra behind the surface units, and their resampling onto instrument bands.

A unit's `spectrum` key names its source:

- `template:<class>` — the DeMeo et al. 2009 class mean (41 points, 0.45–2.45 µm) from
  `seeds/taxonomy/`, the same table the classifier's templates come from;
- `asteroid:<file>` — a raw MIT-format asteroid spectrum in `seeds/sim/asteroids/` (DeMeo
  2009, Binzel 2019), its published class in `seeds/sim/asteroids/labels.csv`;
- `lab:<SampleID>` — a RELAB laboratory spectrum (via Korda et al. 2023) in
  `seeds/sim/lab/`, with the asteroid class it is the accepted analogue of.

Every source is normalised to 1 at 0.55 µm (albedo is a separate unit property) and
resampled onto the instrument's bands with a Gaussian spectral response. Ground-based
telluric gaps (~1.35–1.45, 1.8–1.95 µm) are bridged linearly — a space instrument sees the
surface there; an end is held at its edge value for at most `MAX_EDGE_HOLD_UM`; anything
beyond is refused with a message naming the unit.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from firmware.reader import read_spectra
from firmware.taxonomy import CLASS_INDEX, load_demeo_model

SIM_SEEDS = Path(__file__).resolve().parents[1] / "seeds" / "sim"
ASTEROID_DIR = SIM_SEEDS / "asteroids"
LAB_DIR = SIM_SEEDS / "lab"
# An end of a source may be extended by holding its edge value over at most this much.
MAX_EDGE_HOLD_UM = 0.025
# The fine grid the sources are brought to before the band response is applied.
FINE_STEP_UM = 0.001
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


class SpectrumSourceError(ValueError):
    """A unit's spectrum reference cannot be resolved (message says what is allowed)."""


@dataclass(frozen=True)
class SourceSpectrum:
    ref: str
    wavelength_um: np.ndarray
    reflectance: np.ndarray  # relative, 1 at 0.55 µm
    truth_class: str  # published class ('' for lab spectra: the unit must state one)
    description: str


def load_source(ref: str) -> SourceSpectrum:
    """Resolve 'template:Ch', 'asteroid:a000013.sp41.txt' or 'lab:MT-HYM-030'."""
    kind, _, name = ref.partition(":")
    if kind == "template":
        return _template(name)
    if kind == "asteroid":
        return _asteroid(name)
    if kind == "lab":
        return _lab(name)
    raise SpectrumSourceError(
        f"spectrum {ref!r}: write 'template:<class>', 'asteroid:<file in {ASTEROID_DIR}>' "
        f"or 'lab:<SampleID in {LAB_DIR / 'lab_samples.csv'}>'"
    )


@cache
def _template(cls: str) -> SourceSpectrum:
    if cls not in CLASS_INDEX:
        raise SpectrumSourceError(f"template:{cls}: no such DeMeo class; classes: {', '.join(CLASS_INDEX)}")
    m = load_demeo_model()
    r = m.template_mean[CLASS_INDEX[cls]]
    return SourceSpectrum(
        f"template:{cls}", m.grid_um.copy(), r / np.interp(0.55, m.grid_um, r), cls,
        f"DeMeo et al. 2009 class mean {cls}",
    )


@lru_cache(maxsize=1)
def asteroid_labels() -> dict[str, dict]:
    with (ASTEROID_DIR / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return {row["file"]: row for row in csv.DictReader(fh)}


@cache
def _asteroid(file: str) -> SourceSpectrum:
    labels = asteroid_labels()
    if file not in labels:
        raise SpectrumSourceError(f"asteroid:{file}: not in {ASTEROID_DIR}; available: {', '.join(sorted(labels))}")
    s = read_spectra(ASTEROID_DIR / file)[0]
    row = labels[file]
    r = s.reflectance / np.interp(0.55, s.wavelength_um, s.reflectance)
    return SourceSpectrum(
        f"asteroid:{file}", s.wavelength_um, r, row["class_bdm"],
        f"{row['object']} ({row['source']}, published class {row['label']})",
    )


@lru_cache(maxsize=1)
def lab_table() -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict]]:
    with (LAB_DIR / "lab_spectra.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], np.array(rows[1:], dtype=np.float64)
    spectra = {sid: body[:, i] for i, sid in enumerate(header) if i > 0}
    with (LAB_DIR / "lab_samples.csv").open(newline="", encoding="utf-8") as fh:
        meta = {row["SampleID"]: row for row in csv.DictReader(fh)}
    return body[:, 0], spectra, meta


def _lab(sample_id: str) -> SourceSpectrum:
    wl, spectra, meta = lab_table()
    if sample_id not in spectra:
        raise SpectrumSourceError(f"lab:{sample_id}: not in {LAB_DIR}; available: {', '.join(sorted(spectra))}")
    r = spectra[sample_id]
    m = meta[sample_id]
    return SourceSpectrum(
        f"lab:{sample_id}", wl, r / np.interp(0.55, wl, r), "",
        f"{m['SampleName']} ({m['SubType']}, RELAB via Korda et al. 2023; analogue of "
        f"{m['analogue_class']}: {m['analogue_reference']})",
    )


def lab_analogue_class(sample_id: str) -> str:
    return lab_table()[2][sample_id]["analogue_class"]


def band_response(src: SourceSpectrum, centres_um: np.ndarray, fwhm_um: float) -> np.ndarray:
    """The source seen through Gaussian bands of `fwhm_um` centred at `centres_um`.

    Raises SpectrumSourceError when the bands reach beyond the source by more than
    MAX_EDGE_HOLD_UM. Weights are truncated at ±3σ and at the (extended) source range.
    """
    lo = src.wavelength_um[0] - MAX_EDGE_HOLD_UM
    hi = src.wavelength_um[-1] + MAX_EDGE_HOLD_UM
    if centres_um[0] < lo - 1e-9 or centres_um[-1] > hi + 1e-9:
        raise SpectrumSourceError(
            f"{src.ref} covers {src.wavelength_um[0]:.3f}–{src.wavelength_um[-1]:.3f} µm; the "
            f"instrument's bands span {centres_um[0]:.3f}–{centres_um[-1]:.3f} µm (at most "
            f"{MAX_EDGE_HOLD_UM} µm may be held at an edge): choose another source or narrow "
            "instrument.band_min_um/band_max_um"
        )
    n_fine = int(round((hi - lo) / FINE_STEP_UM)) + 1
    fine_wl = lo + FINE_STEP_UM * np.arange(n_fine)
    fine_r = np.interp(fine_wl, src.wavelength_um, src.reflectance)  # holds the edges
    sigma = max(fwhm_um * FWHM_TO_SIGMA, FINE_STEP_UM)
    out = np.empty(centres_um.size)
    for k, c in enumerate(centres_um):
        i0 = max(0, int(np.floor((c - 3 * sigma - lo) / FINE_STEP_UM)))
        i1 = min(n_fine, int(np.ceil((c + 3 * sigma - lo) / FINE_STEP_UM)) + 1)
        w = np.exp(-0.5 * ((fine_wl[i0:i1] - c) / sigma) ** 2)
        out[k] = float(np.dot(w, fine_r[i0:i1]) / w.sum())
    return out
