"""Processor-in-the-loop: the simulator's classifier seam, answered by a board.

`firmware.onboard` takes any object with `name` and
`classify(wavelength_um, reflectance (N, B), error) -> BatchResult`. `BoardInTheLoop` is
one: the host runs its own classifier (`firmware.busdemeo.classify_batch`) — which also
measures the e/h/k features the board needs — resamples each spectrum to the 41-point grid,
sends the rows to the board, and returns the host's BatchResult with the *board's* class,
w flag and status in it. The host's answer is kept beside it, and every call adds to the
counts the mission report needs (`report()`): spectra, disagreements (with both answers),
link errors, and the link's retries/NAKs/resets.

    classifier = BoardInTheLoop("vboard:")          # or "/dev/ttyACM0"
    loop = OnboardLoop(config, classifier=classifier)  # assay run --board PORT (lead)
    ...; classifier.report(); classifier.close()
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from firmware.busdemeo import GRID_HALF_WIDTH_UM, BatchResult, classify_batch
from firmware.kernels.resample import resample_binned
from firmware.taxonomy import DEMEO_GRID_UM
from hil.dut import BoardClassifier

LINK_FAILED = 9  # status of a spectrum whose request failed (reason: "not classified (status 9)")
MAX_LISTED = 100  # disagreements kept with both answers in the report


@dataclass
class PilCounts:
    spectra: int = 0
    answered: int = 0
    agree: int = 0
    disagreements: list[dict] = field(default_factory=list)
    link_errors: list[str] = field(default_factory=list)
    link: dict = field(default_factory=dict)


class BoardInTheLoop:
    """A classifier for `firmware.onboard` whose classes come from a board over serial."""

    name = "board"

    def __init__(self, port: str = "vboard:", **board_options):
        self.board = BoardClassifier(port, **board_options)
        self.name = f"board {port}"
        self.counts = PilCounts()

    def classify(self, wavelength_um, reflectance, error=None) -> BatchResult:
        host = classify_batch(wavelength_um, reflectance, error)
        wl = np.asarray(wavelength_um, dtype=np.float64)
        refl = np.asarray(reflectance, dtype=np.float64)
        refl = np.where(refl > 0, refl, np.nan)
        r41 = resample_binned(wl, np.ascontiguousarray(refl), DEMEO_GRID_UM, GRID_HALF_WIDTH_UM)
        detected = np.nan_to_num(host.features[:, :, 3]) == 1.0
        out = self.board.classify(r41, detected)
        self._count(host, out)
        status = np.where(out.answered, out.status, LINK_FAILED)
        status = np.where((status == 0) & (host.status != 0), host.status, status)  # GAP, TOO_FEW
        cls = np.where(status == 0, out.class_index, -1)
        return dataclasses.replace(host, class_index=cls, w=out.w & (status == 0), status=status)

    def _count(self, host: BatchResult, out) -> None:
        c = self.counts
        hl, bl = host.labels(), out.labels()
        c.spectra += len(hl)
        c.answered += int(out.answered.sum())
        for i, (h, b) in enumerate(zip(hl, bl, strict=True)):
            if not out.answered[i]:
                continue
            if h == b:
                c.agree += 1
            elif len(c.disagreements) < MAX_LISTED:
                c.disagreements.append({"index": c.spectra - len(hl) + i, "host": h, "board": b})
        c.link_errors += [why for _a, _b, why in out.errors]
        for k, v in out.stats.items():
            if isinstance(v, int):
                c.link[k] = c.link.get(k, 0) + v

    def report(self) -> dict:
        """Counts for the mission report: agreement, disagreements (both answers), link."""
        c = self.counts
        return {"board": self.name, "info": self.board.info, "spectra": c.spectra,
                "answered": c.answered, "agree": c.agree, "disagree": c.answered - c.agree,
                "disagreements": c.disagreements, "link_errors": c.link_errors, "link": c.link}  # fmt: skip

    def close(self) -> None:
        self.board.close()

    def __enter__(self) -> BoardInTheLoop:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
