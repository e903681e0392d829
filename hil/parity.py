"""Parity: the board's fixed-point class against the host's float class, spectrum by spectrum.

Both sides get the same input: each raw spectrum resampled by the host to the 41-point
DeMeo grid (`firmware.kernels.resample.resample_binned`, the core's ±0.0125 µm bins), plus
the e/h/k narrow-feature detections measured by the host on the raw spectrum (a 0.05 µm grid
cannot resolve them; `firmware.busdemeo.classify_batch(...).features`). The host reference is
`firmware.busdemeo.classify_grid(r41, detected)`; the board gets the same rows over the link.
A spectrum agrees when both give the same label (class and w suffix) or both refuse it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from firmware.busdemeo import GRID_HALF_WIDTH_UM, BatchResult, classify_batch, classify_grid
from firmware.kernels.resample import resample_binned
from firmware.reader import read_spectra
from firmware.taxonomy import DEMEO_GRID_UM

REPO = Path(__file__).resolve().parents[1]
SPECTRA_DIRS = (REPO / "tests" / "data" / "spectra", REPO.parent / "shared" / "data" / "spectra")
VISNIR_SOURCES = ("DeMeo2009", "Binzel2019")
TARGET = 0.99  # issue 8: ≥ 99 % of spectra agree


def default_spectra_dir() -> Path:
    for d in SPECTRA_DIRS:
        if (d / "labels.csv").exists():
            return d
    return REPO / "seeds" / "examples"


def visnir_files(spectra_dir: Path | None = None, limit: int | None = None) -> list[Path]:
    """The developer VIS-NIR spectra (labels.csv rows from DeMeo 2009 and Binzel 2019), or
    every *.txt of a folder without labels.csv."""
    d = Path(spectra_dir or default_spectra_dir())
    labels = d / "labels.csv"
    if labels.exists():
        with labels.open(newline="") as fh:
            files = [d / r["file"] for r in csv.DictReader(fh) if r["source"] in VISNIR_SOURCES]
    else:
        files = sorted(d.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"{d}: no spectra (expected labels.csv or *.txt files)")
    return files[:limit] if limit else files


def board_inputs(wavelength_um, reflectance, host: BatchResult) -> tuple[np.ndarray, np.ndarray]:
    """What the board gets for spectra on one axis (N, B): r41 (N, 41) float64, NaN =
    missing (non-positive reflectance dropped, `resample_binned` to the DeMeo grid), and
    detected (N, 3) bool, the e/h/k detections of the host's `classify_batch` result `host`."""
    wl = np.asarray(wavelength_um, dtype=np.float64)
    refl = np.asarray(reflectance, dtype=np.float64)
    refl = np.ascontiguousarray(np.where(refl > 0, refl, np.nan))
    r41 = resample_binned(wl, refl, DEMEO_GRID_UM, GRID_HALF_WIDTH_UM)
    return r41, np.nan_to_num(host.features[:, :, 3]) == 1.0


def grid_inputs(files) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(r41 (N, 41) float64 NaN = missing, detected (N, 3) bool e/h/k, sources) from raw files."""
    r41, det, names = [], [], []
    for path in files:
        for s in read_spectra(path):
            refl = s.reflectance[None, :]
            r, d = board_inputs(s.wavelength_um, refl, classify_batch(s.wavelength_um, refl))
            r41.append(r[0])
            det.append(d[0])
            names.append(f"{Path(path).parent.name}/{Path(path).name}")
    return np.array(r41), np.array(det, dtype=bool), names


@dataclass(frozen=True)
class Disagreement:
    source: str
    host: str | None
    board: str | None
    host_pc: tuple[float, ...]
    board_pc: tuple[float, ...]
    host_slope: float
    board_slope: float
    board_status: int

    def line(self) -> str:
        hp = ", ".join(f"{v:+.4f}" for v in self.host_pc)
        bp = ", ".join(f"{v:+.4f}" for v in self.board_pc)
        return (f"{self.source}: host {self.host} (slope {self.host_slope:+.4f}, PC {hp}) | "
                f"board {self.board} (status {self.board_status}, slope {self.board_slope:+.4f}, PC {bp})")  # fmt: skip


@dataclass
class ParityReport:
    n: int
    agree: int
    unanswered: int
    disagreements: list[Disagreement] = field(default_factory=list)
    link: dict = field(default_factory=dict)
    link_errors: list = field(default_factory=list)
    max_pc_diff: float = float("nan")

    @property
    def fraction(self) -> float:
        return self.agree / self.n if self.n else float("nan")

    @property
    def passed(self) -> bool:
        return self.n > 0 and self.fraction >= TARGET and self.unanswered == 0

    def summary(self) -> str:
        return (f"parity {self.agree}/{self.n} = {100 * self.fraction:.2f} % (target ≥ {100 * TARGET:.0f} %), "
                f"{len(self.disagreements)} disagreements, {self.unanswered} unanswered, "
                f"max |ΔPC′| {self.max_pc_diff:.2e}")  # fmt: skip

    def to_dict(self) -> dict:
        return {
            "n": self.n, "agree": self.agree, "fraction": self.fraction, "passed": self.passed,
            "unanswered": self.unanswered, "max_pc_diff": self.max_pc_diff,
            "disagreements": [d.__dict__ for d in self.disagreements],
            "link": self.link, "link_errors": [list(e) for e in self.link_errors],
        }  # fmt: skip


def compare(r41, detected, sources, board) -> ParityReport:
    """Host reference vs a `BoardClassification` of the same rows."""
    host = classify_grid(r41, detected)
    hl, bl = host.labels(), board.labels()
    both = (host.status == 0) & (board.status == 0)
    diff = np.abs(host.pc[both] - board.pc[both])
    report = ParityReport(n=len(sources), agree=0, unanswered=int((~board.answered).sum()),
                          link=board.stats, link_errors=board.errors,
                          max_pc_diff=float(diff.max()) if diff.size else float("nan"))  # fmt: skip
    for i, src in enumerate(sources):
        if board.answered[i] and hl[i] == bl[i]:
            report.agree += 1
            continue
        report.disagreements.append(Disagreement(
            src, hl[i], bl[i] if board.answered[i] else "<no answer>",
            tuple(float(v) for v in host.pc[i]), tuple(float(v) for v in board.pc[i]),
            float(host.slope[i]), float(board.slope[i]), int(board.status[i]),
        ))  # fmt: skip
    return report
