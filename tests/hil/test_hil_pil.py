"""Processor-in-the-loop seam: the flight software's classifier answered by a board.

Runs against the session's board (`--port`, default a virtual board): the answers the seam
returns must be the board's own (bit-exact with the board module run on CPython), the host's
answer kept beside them, and a request the board does not answer must never turn into a
guess — on a clean line, a noisy one (BER 10⁻³) and a silent one.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware.busdemeo import classify_batch
from hil import protocol as P
from hil.dut import BoardClassifier
from hil.faults import FaultPlan
from hil.parity import board_inputs
from hil.pil import LINK_FAILED, SILENT_CALLS_LOST, BoardBatch, BoardInTheLoop
from tests.hil.hil_helpers import expected_result
from tests.spectra_fixtures import shared_axis_batch

pytestmark = pytest.mark.hil


@pytest.fixture(scope="module")
def spectra():
    """Real spectra on one axis (interpolated from the developer set) plus edge cases."""
    return shared_axis_batch(n=60, seed=3)


def board_truth(axis, refl) -> list[P.BoardResult]:
    """What the board must answer for each row: its own modules on CPython, bit-exact."""
    r41, det = board_inputs(axis, refl, classify_batch(axis, refl))
    return [P.decode_result(expected_result(r41[i], det[i])) for i in range(len(r41))]


def test_the_board_answers_and_the_host_answer_is_kept(dut, spectra):
    axis, refl = spectra
    host = classify_batch(axis, refl)
    pil = BoardInTheLoop(board=BoardClassifier.on_dut(dut))
    got = pil.classify(axis, refl, obs_ids=range(100, 100 + len(refl)))
    again = pil.classify(axis, refl[:10])  # no ids: numbered in sending order
    truth = board_truth(axis, refl)
    assert isinstance(got, BoardBatch) and len(got) == len(host)
    for i, t in enumerate(truth):  # the board's own answer, not the host's
        raw_refusal = t.status == 0 and host.status[i] != 0  # the host's raw-axis checks
        assert got.status[i] == (host.status[i] if raw_refusal else t.status)
        if got.status[i] == 0:
            assert got.labels()[i] == t.label
            assert got.slope[i] == t.slope and tuple(got.pc[i]) == t.pc
        assert got.failed(i) == ""
    assert got.labels()[:10] == again.labels()
    rows = pil.rows()
    assert [r["obs_id"] for r in rows] == [*range(100, 100 + len(refl)), *range(len(refl), len(refl) + 10)]
    assert [r["host_class"] or None for r in rows[: len(refl)]] == host.labels()
    assert all(r["answered"] and r["used"] == "board" for r in rows)
    rep = pil.report()
    assert rep["spectra"] == len(refl) + 10 == rep["answered"] and rep["failed"] == 0
    assert rep["agree"] + rep["disagree"] == rep["answered"]
    assert rep["agree"] >= 0.99 * rep["answered"]  # issue 8's parity bar (all 66 agree today)
    assert len(rep["disagreements"]) == rep["disagree"]  # every disagreement, both answers
    for d in rep["disagreements"]:
        row = next(r for r in rows if r["obs_id"] == d["obs_id"])
        assert (d["host"] or "", d["board"] or "") == (row["host_class"], row["board_class"])
    assert rep["model_matches_host"] and rep["info"]["model_sha"] == dut.info["model_sha"]
    assert "mem_free" not in rep["info"] and rep["lost"] is None
    link = pil.link_report()
    assert link["link"]["answered"] >= 2 and link["link"]["failed"] == 0
    assert link["latency"]["calls"] == 2 and link["latency"]["per_spectrum_ms"]["median"] > 0
    pil.close()
    dut.ping()  # a lent board is left serving


def test_noisy_line_every_spectrum_answered_right_or_reported(dut, spectra):
    """BER 10⁻³ both ways: one BATCH of 40 spectra (~3.4 KB) cannot get through; the seam
    splits it until frames do. Every answer that arrives is the board's exact answer."""
    axis, refl = spectra[0], spectra[1][:40]
    truth = board_truth(axis, refl)
    host = classify_batch(axis, refl)
    pil = BoardInTheLoop(board=BoardClassifier.on_dut(dut), faults=FaultPlan(ber=1e-3, seed=8))
    try:
        got = pil.classify(axis, refl)
        link = pil.link_report()
    finally:
        pil.close()
    rows = pil.rows()
    assert link["injected"]["bits_flipped"] > 20 and link["link"]["splits"] >= 1
    assert link["link"]["batch_final"] < link["link"]["batch_max"]
    answered = [i for i, r in enumerate(rows) if r["answered"]]
    failed = [i for i, r in enumerate(rows) if not r["answered"]]
    assert len(answered) + len(failed) == len(refl) and len(answered) >= 0.8 * len(refl)
    for i in answered:  # 0 undetected corruption
        if host.status[i] == 0:
            assert (got.labels()[i], got.slope[i], tuple(got.pc[i])) == (truth[i].label, truth[i].slope, truth[i].pc)
    for i in failed:  # reported, never guessed
        assert rows[i]["why"] and got.status[i] == LINK_FAILED and got.class_index[i] == -1
        assert np.isnan(got.slope[i]) and got.result(i).reason.startswith("board link failed: ")
    rep = pil.report()
    assert rep["failed"] == len(failed) == len(rep["failures"]) and rep["injected_faults"]["ber"] == 1e-3
    dut.ping()  # the clean line works again


@pytest.mark.parametrize("fallback", ["unclassified", "host"])
def test_a_silent_board_is_declared_lost_and_nothing_is_guessed(dut, spectra, fallback):
    axis, refl = spectra[0], spectra[1][:6]
    host = classify_batch(axis, refl)
    saved = dut.link.retries, dut.link.base_timeout_s
    dut.link.retries, dut.link.base_timeout_s = 1, 0.05  # fail fast: a deadline, not a measurement
    pil = BoardInTheLoop(board=BoardClassifier.on_dut(dut), fallback=fallback,
                         faults=FaultPlan(drop_rate=1.0, seed=1))  # every byte lost both ways
    try:
        outs = [pil.classify(axis, refl[i : i + 1]) for i in range(len(refl))]
    finally:
        pil.close()
        dut.link.retries, dut.link.base_timeout_s = saved
    rep = pil.report()
    assert rep["lost"] and rep["lost"]["after_spectra"] == SILENT_CALLS_LOST
    assert rep["answered"] == 0 and rep["failed"] == len(refl) == len(rep["failures"])
    whys = [r["why"] for r in pil.rows()]
    assert all(w.startswith("no valid answer") for w in whys[:SILENT_CALLS_LOST])
    assert all(w.startswith("board lost: ") for w in whys[SILENT_CALLS_LOST:])
    assert pil.link_report()["link"]["requests"] == SILENT_CALLS_LOST  # nothing sent once lost
    for i, out in enumerate(outs):
        if fallback == "host":  # the host's answer, said to be the host's
            assert out.labels() == [host.labels()[i]] and out.failed(0) == ""
            assert pil.rows()[i]["used"] == "host"
        else:
            assert out.labels() == [None] and out.status[0] == LINK_FAILED and out.failed(0)
            assert out.result(0).cls is None and "board" in out.result(0).reason
    dut.ping()


def test_bad_fallback_is_refused_before_opening_anything():
    with pytest.raises(ValueError, match="fallback='guess'"):
        BoardInTheLoop("/dev/does-not-matter", fallback="guess")
