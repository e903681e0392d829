"""Processor-in-the-loop seam: the simulator's classifier interface answered by a board."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.busdemeo import BatchResult, classify_batch
from hil.pil import LINK_FAILED, BoardInTheLoop
from hil.vboard import available
from tests.spectra_fixtures import shared_axis_batch

pytestmark = [pytest.mark.hil, pytest.mark.skipif(available() is not None, reason=str(available()))]


def test_board_answers_the_onboard_classifier_seam():
    axis, refl = shared_axis_batch(n=60, seed=3)  # real spectra on one axis + edge cases
    host = classify_batch(axis, refl)
    with BoardInTheLoop("vboard:") as pil:
        got = pil.classify(axis, refl)
        again = pil.classify(axis, refl[:10])
        report = pil.report()
    assert isinstance(got, BatchResult) and len(got) == len(host)
    agree = sum(h == b for h, b in zip(host.labels(), got.labels(), strict=True))
    assert agree >= 0.99 * len(host), list(zip(host.labels(), got.labels(), strict=True))
    assert np.array_equal(got.labels()[:10], again.labels())
    assert report["spectra"] == len(host) + 10 and report["answered"] == report["spectra"]
    assert report["agree"] + report["disagree"] == report["answered"]
    assert len(report["disagreements"]) == report["disagree"] and report["link_errors"] == []
    assert report["link"]["failed"] == 0 and report["info"]["platform"] == "linux"
    assert not np.any(got.status == LINK_FAILED)
