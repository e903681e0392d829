"""Shared inputs of the HIL tests: the developer VIS-NIR spectra on the DeMeo grid, and what
the board must answer for them (the board's own modules, run on CPython: bit-exact)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from firmware.board import assay_bdm, assay_harness
from hil import parity
from hil import protocol as P
from tests.spectra_fixtures import SPECTRA_DIR


@lru_cache(maxsize=1)
def developer_inputs() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(r41 (N, 41), detected (N, 3) bool, sources) of all developer VIS-NIR spectra."""
    return parity.grid_inputs(parity.visnir_files(SPECTRA_DIR))


def expected_result(r41, detected, fmt: int = assay_harness.FMT_INT16) -> bytes:
    """The 28 result bytes the board must send for one spectrum (request encoding included)."""
    flags = P.flags_byte(detected)
    if fmt == assay_harness.FMT_INT16:
        res = assay_bdm.classify_int([int(v) for v in P.quantise_int16(r41)], flags)
    else:
        res = assay_bdm.classify_float([float(v) for v in np.asarray(r41, np.float32)], flags)
    return assay_harness.result_bytes(res)
