"""Read reflectance spectra from MIT/SMASS text files and CSV exports.

MIT/SMASS text (DeMeo 2009, Binzel 2019, Marsset 2022 files): whitespace-separated columns
wavelength [µm], reflectance, optional 1σ error, optional integer flag; CR, CRLF or LF line
ends (mixed in one file too); lines holding a lone `0.0000` are padding; a reflectance ≤ 0
(usually −1) means "no data here". Lines starting with `#` or `;` are comments.

CSV with a header row: one spectrum (wavelength, reflectance[, error]) or "wide" (wavelength
plus one column per spectrum; the column name becomes the spectrum's id, `path#id`).

Wavelengths are in µm; a file whose largest wavelength exceeds 100 is taken to be in nm
(override with `units="um"` or `units="nm"`). Every spectrum comes back cleaned: sorted by
wavelength, duplicate wavelengths averaged, non-finite values dropped and counted, missing
reflectances dropped and counted. Nothing is guessed silently: the counts travel with the
spectrum, and a file that cannot be read raises `SpectrumReadError` naming file and line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from firmware.batch_input import NM_THRESHOLD
from firmware.errors import SpectrumReadError

_NEWLINES = re.compile(r"\r\n|\r|\n")
_WAVE_NAMES = re.compile(r"^(wave(length)?|lambda|wl|wav)(_?(um|µm|micron|microns|nm))?$", re.I)
_ERR_NAMES = re.compile(r"^(err(or)?|sigma|unc(ertainty)?|e_?refl(ectance)?|refl(ectance)?_?err(or)?)$", re.I)


@dataclass
class Spectrum:
    """One cleaned spectrum: ascending unique finite wavelengths in µm, reflectance > 0."""

    source: str
    wavelength_um: np.ndarray
    reflectance: np.ndarray
    error: np.ndarray | None = None
    n_dropped: int = 0  # rows with NaN/inf wavelength, reflectance or error
    n_missing: int = 0  # rows whose reflectance was ≤ 0 (the MIT "no data" marker)
    n_duplicates: int = 0  # rows merged into another with the same wavelength
    was_unsorted: bool = False
    units: str = "um"  # units the file was read in (converted to µm here)
    notes: list[str] = field(default_factory=list)


def read_spectra(path: str | Path, units: str | None = None) -> list[Spectrum]:
    """Read every spectrum in `path` (MIT/SMASS text or CSV). See the module docstring."""
    if units not in (None, "um", "nm"):
        raise ValueError(f"units must be 'um', 'nm' or None (auto), not {units!r}")
    path_str = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpectrumReadError(path_str, f"cannot open file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "\x00" in text:
        raise SpectrumReadError(path_str, "binary data (NUL bytes): expected a text spectrum file")
    lines = _NEWLINES.split(text)
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", ";"))), "")
    if not first:
        raise SpectrumReadError(path_str, "no data lines: expected columns wavelength, reflectance")
    if path_str.lower().endswith(".csv") or "," in first:
        return _read_csv(path_str, lines, units)
    return [_read_mit(path_str, lines, units)]


def _read_mit(path: str, lines: list[str], units: str | None) -> Spectrum:
    rows: list[tuple[float, float, float]] = []
    has_error = False  # any line with an error column; 2-column lines get NaN (unknown)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        tokens = stripped.split()
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise SpectrumReadError(
                path,
                f"expected 2–4 numbers (wavelength, reflectance[, error[, flag]]), got {stripped[:60]!r}",
                number,
            ) from None
        if len(values) == 1:
            if values[0] == 0.0:
                continue  # padding line holding a lone 0.0000
            raise SpectrumReadError(
                path, f"a lone number {tokens[0]!r}: expected wavelength and reflectance", number
            )
        if len(values) > 4:
            raise SpectrumReadError(
                path, f"{len(values)} columns: expected 2–4 (wavelength, reflectance, error, flag)",
                number,
            )
        has_error = has_error or len(values) > 2
        rows.append((values[0], values[1], values[2] if len(values) > 2 else np.nan))
    if not rows:
        raise SpectrumReadError(path, "no data lines: expected columns wavelength, reflectance")
    arr = np.array(rows, dtype=np.float64)
    return _clean(path, arr[:, 0], arr[:, 1], arr[:, 2] if has_error else None, units)


def _read_csv(path: str, lines: list[str], units: str | None) -> list[Spectrum]:
    numbered = [(i, ln) for i, ln in enumerate(lines, start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]  # fmt: skip
    try:
        rows = [(i, next(csv.reader([ln]))) for i, ln in numbered]
    except csv.Error as exc:
        raise SpectrumReadError(path, f"malformed CSV ({exc}): expected comma-separated numbers") from None
    if not rows:
        raise SpectrumReadError(path, "empty CSV: expected a header row")
    header_line, header = rows[0][0], [h.strip() for h in rows[0][1]]
    if len(header) < 2:
        raise SpectrumReadError(path, "CSV header has fewer than 2 columns: expected wavelength and reflectance", header_line)
    if _is_number(header[0]):
        raise SpectrumReadError(
            path, "CSV has no header row: expected e.g. 'wavelength,reflectance[,error]'", header_line
        )
    if len(set(header)) != len(header):
        raise SpectrumReadError(path, f"duplicate column names in header {header}", header_line)
    wave_col = next((i for i, h in enumerate(header) if _WAVE_NAMES.match(h)), 0)
    others = [i for i in range(len(header)) if i != wave_col]
    parsed: list[list[float]] = []
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise SpectrumReadError(
                path, f"{len(row)} fields: expected {len(header)} as in the header", number
            )
        values = []
        for name, cell in zip(header, row, strict=True):
            cell = cell.strip()
            if cell == "" or cell.lower() in ("nan", "na", "null", "none"):
                values.append(np.nan)
                continue
            try:
                values.append(float(cell))
            except ValueError:
                raise SpectrumReadError(
                    path, f"column {name!r}: {cell[:40]!r} is not a number", number
                ) from None
        parsed.append(values)
    if not parsed:
        raise SpectrumReadError(path, "CSV has a header but no data rows")
    data = np.array(parsed, dtype=np.float64)
    wave = data[:, wave_col]
    err_cols = [i for i in others if _ERR_NAMES.match(header[i])]
    refl_cols = [i for i in others if i not in err_cols]
    if len(refl_cols) == 1:
        err = data[:, err_cols[0]] if len(err_cols) == 1 else None
        return [_clean(path, wave, data[:, refl_cols[0]], err, units)]
    if err_cols:
        raise SpectrumReadError(
            path, f"wide CSV with error columns {[header[i] for i in err_cols]}: give one "
            "spectrum per file with its error column, or drop the error columns", header_line,
        )
    return [_clean(f"{path}#{header[i]}", wave, data[:, i], None, units) for i in refl_cols]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _clean(source: str, wave, refl, err, units: str | None) -> Spectrum:
    """Drop non-finite and missing rows, convert units, sort, average duplicates."""
    finite = np.isfinite(wave) & np.isfinite(refl)
    if err is not None:
        finite &= np.isfinite(err) | np.isnan(err)
    n_dropped = int((~finite).sum())
    wave, refl = wave[finite], refl[finite]
    err = err[finite] if err is not None else None
    missing = refl <= 0.0
    n_missing = int(missing.sum())
    keep = ~missing
    wave, refl = wave[keep], refl[keep]
    err = err[keep] if err is not None else None
    if err is not None:
        err = np.where(err > 0, err, np.nan)  # −1 / 0 error = unknown
        if np.all(np.isnan(err)):
            err = None
    notes: list[str] = []
    if units is None:
        units = "nm" if wave.size and np.nanmax(wave) > NM_THRESHOLD else "um"
        if units == "nm":
            notes.append("wavelengths > 100 read as nm and converted to µm")
    if units == "nm":
        wave = wave / 1000.0
    was_unsorted = bool(np.any(np.diff(wave) < 0))
    order = np.argsort(wave, kind="stable")
    wave, refl = wave[order], refl[order]
    err = err[order] if err is not None else None
    uniq, inverse, counts = np.unique(wave, return_inverse=True, return_counts=True)
    n_duplicates = int(wave.size - uniq.size)
    if n_duplicates:
        refl = np.bincount(inverse, weights=refl) / counts
        if err is not None:
            # mean of independent errors: sqrt(Σσ²)/n, ignoring unknown (NaN) ones
            known = ~np.isnan(err)
            sq = np.bincount(inverse, weights=np.where(known, err**2, 0.0))
            n_known = np.bincount(inverse, weights=known.astype(float))
            with np.errstate(invalid="ignore", divide="ignore"):
                err = np.where(n_known > 0, np.sqrt(sq) / n_known, np.nan)
        notes.append(f"{n_duplicates} duplicate wavelength(s) averaged")
    if was_unsorted:
        notes.append("wavelengths were not in order and were sorted")
    if n_dropped:
        notes.append(f"{n_dropped} row(s) with NaN/inf dropped")
    return Spectrum(
        source=source,
        wavelength_um=np.ascontiguousarray(uniq, dtype=np.float64),
        reflectance=np.ascontiguousarray(refl, dtype=np.float64),
        error=None if err is None else np.ascontiguousarray(err, dtype=np.float64),
        n_dropped=n_dropped,
        n_missing=n_missing,
        n_duplicates=n_duplicates,
        was_unsorted=was_unsorted,
        units=units,
        notes=notes,
    )
