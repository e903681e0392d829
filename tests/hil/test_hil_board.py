"""The harness on a board (`--port`, default a virtual board): requests, answers, parity.

These run unchanged against a real board: `pytest tests/hil --port /dev/ttyACM0`.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware.board import assay_harness as H
from hil import parity
from hil import protocol as P
from hil.dut import BoardClassifier
from hil.link import BoardError, LinkError
from tests.hil.hil_helpers import developer_inputs, expected_result

pytestmark = pytest.mark.hil


def test_board_identifies_itself(dut):
    info = dut.get_info()
    assert info["firmware"] == H.VERSION and info["protocol"] == H.PROTOCOL
    assert info["model_sha"] == H.model.MODEL_SHA, "the board runs other constants: re-flash"
    assert info["implementation"] == "micropython"
    assert info["mem_free"] > 0


def test_echo_every_byte_value(dut):
    """0x00 (the delimiter) and 0x03 (Ctrl-C) inside a frame are data, nothing else."""
    data = bytes(range(256)) * 4 + b"\x03\x03\x00\x00\x04\x01\x02"
    assert dut.echo(data) == data
    assert dut.echo(b"") == b""


@pytest.mark.parametrize("fmt", [H.FMT_INT16, H.FMT_FLOAT32], ids=["int16", "float32"])
def test_board_answers_are_bit_exact(dut, fmt):
    """The board computes exactly what its modules compute on CPython (integer pipeline)."""
    r41, det, names = developer_inputs()
    picks = np.linspace(0, len(names) - 1, 25).astype(int)
    for i in picks:
        got = dut.classify(r41[i], det[i], fmt)
        assert got.raw == expected_result(r41[i], det[i], fmt), names[i]
    picks = picks[: P.batch_capacity(dut.info["max_payload"], fmt)]
    results = dut.classify_batch(r41[picks], det[picks], fmt)
    assert [r.raw for r in results] == [expected_result(r41[i], det[i], fmt) for i in picks]


def test_too_big_a_batch_is_refused_with_the_limit(dut):
    r41, det, _ = developer_inputs()
    n = P.batch_capacity(dut.info["max_payload"], H.FMT_FLOAT32) + 1
    with pytest.raises(ValueError, match=f"send at most {n - 1} per batch"):
        dut.classify_batch(r41[:n], det[:n], H.FMT_FLOAT32)
    big = H.bdm.M.N_GRID * 4 * n  # sent anyway, bypassing the check: refused once, not retried
    with pytest.raises(LinkError, match="too long"):
        dut.link.request(H.ECHO, bytes(big))
    dut.ping()


def test_bad_request_is_reported_not_dropped(dut):
    with pytest.raises(BoardError, match="expected 84"):
        dut.link.request(H.CLASSIFY, b"\x00\x00" + bytes(10))
    dut.ping()  # and the board is still serving


def test_quit_returns_to_the_repl_with_ctrl_c_restored(dut):
    """After QUIT the harness has given Ctrl-C back: a busy loop can be interrupted."""
    dut.stop()
    dut.repl.start("while True:\n    pass")
    dut.repl.enter()  # sends Ctrl-C; raises if the loop cannot be interrupted
    assert dut.repl.eval("1 + 1") == "2"
    dut.start()
    dut.ping()


@pytest.mark.real_board
def test_a_real_board_is_what_it_says(dut, hil_port):
    """On hardware (pytest --port /dev/ttyACM0): a MicroPython port other than the Unix one,
    with a microcontroller's heap, and a clean link after the whole session."""
    info = dut.get_info()
    assert info["platform"] != "linux", f"{hil_port} is the Unix port, not a board"
    assert 0 < info["mem_free"] < 1 << 20
    assert dut.link.stats.failed == 0


@pytest.mark.parametrize("fmt", ["int16", "float32"])
def test_parity_over_the_link(dut, fmt):
    """Issue 8 must-show: ≥ 99 % of the developer VIS-NIR spectra get the host's class from
    the board; every disagreement is listed with both answers."""
    r41, det, names = developer_inputs()
    bc = BoardClassifier.on_dut(dut, fmt=fmt)
    report = parity.compare(r41, det, names, bc.classify(r41, det))
    listing = "\n".join(d.line() for d in report.disagreements)
    assert report.unanswered == 0, report.link_errors
    assert report.fraction >= 0.99, f"{report.summary()}\n{listing}"
    assert report.link["failed"] == 0
