"""Flashing over the raw REPL: skip what matches, write atomically, verify, clean up twins and
leftovers; an interrupted flash leaves a board that re-flashes cleanly; autostart."""

from __future__ import annotations

import hashlib
import time

import pytest

from firmware.board import BOARD_MODULES
from hil.dut import Dut
from hil.flash import MAIN_MARKER, build_files, flash
from hil.framing import Frame, FrameDecoder
from hil.rawrepl import RawRepl
from hil.transport import open_transport
from hil.vboard import available

pytestmark = [pytest.mark.hil, pytest.mark.skipif(available() is not None, reason=str(available()))]


@pytest.fixture
def board(tmp_path):
    with open_transport(f"vboard:?fs={tmp_path}") as t:
        t.fs = tmp_path
        yield t


def on_board(fs) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in fs.iterdir() if p.is_file()}


def expected(mpy: bool) -> dict[str, str]:
    return {n: hashlib.sha256(b).hexdigest() for n, b in build_files(mpy).items()}


def test_flash_writes_then_skips_then_forces(board):
    repl = RawRepl(board)
    first = flash(repl)
    assert first.count("written") == len(BOARD_MODULES) and on_board(board.fs) == expected(False)
    second = flash(repl)
    assert second.count("written") == 0 and second.count("skipped") == len(BOARD_MODULES)
    assert second.bytes_written == 0
    assert flash(repl, force=True).count("written") == len(BOARD_MODULES)


def test_switching_to_mpy_removes_the_stale_twins(board):
    repl = RawRepl(board)
    flash(repl)
    report = flash(repl, mpy=True)
    assert on_board(board.fs) == expected(True), "X.py next to X.mpy would be imported first"
    assert report.count("removed") == len(BOARD_MODULES)
    flash(repl)
    assert on_board(board.fs) == expected(False)


def test_a_damaged_module_and_leftovers_are_repaired(board):
    repl = RawRepl(board)
    flash(repl)
    (board.fs / "assay_bdm.py").write_bytes(b"# damaged\n")
    (board.fs / "assay_tpl.py.part").write_bytes(b"half a file")
    report = flash(repl)
    assert [a.name for a in report.actions if a.action == "written"] == ["assay_bdm.py"]
    assert "assay_tpl.py.part" in [a.name for a in report.actions if a.action == "removed"]
    assert on_board(board.fs) == expected(False)


class Unplugged(OSError):
    pass


class CutAfter:
    """The real transport until `budget` bytes were written, then the cable is pulled."""

    def __init__(self, inner, budget: int):
        self.inner, self.budget = inner, budget

    def write(self, data: bytes) -> None:
        if self.budget < len(data):
            self.inner.write(data[: self.budget])
            self.budget = 0
            raise Unplugged("cable pulled")
        self.budget -= len(data)
        self.inner.write(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("budget", [3000, 40000])
def test_interrupted_flash_then_a_clean_reflash(board, budget):
    """Cut mid-file: never a half-written module (only .part files); the next flash repairs
    everything and the harness runs."""
    with pytest.raises(Unplugged):
        flash(RawRepl(CutAfter(board, budget)), force=True)
    time.sleep(0.2)
    names = set(on_board(board.fs))
    partial = {n for n in names if n.endswith(".part")}
    complete = names - partial
    want = expected(False)
    assert partial, "the cut should fall inside a file"
    assert all(on_board(board.fs)[n] == want[n] for n in complete), "a module was half-written"
    d = Dut(board)
    report = d.flash()
    assert on_board(board.fs) == want
    assert {a.name for a in report.actions if a.action == "removed"} >= partial
    d.start()
    d.ping()
    d.stop()


def test_autostart_serves_at_boot_and_quit_gets_the_repl_back(board):
    d = Dut(board)
    d.flash(autostart=True)
    assert (board.fs / "main.py").read_text().startswith(MAIN_MARKER)
    board.hard_reset()  # power cycle: main.py starts the harness, which says HELLO
    dec = FrameDecoder()
    got, end = [], time.monotonic() + 20  # a deadline for a slow machine, not a measurement
    while time.monotonic() < end and not any(isinstance(f, Frame) for f in got):
        got += dec.feed(board.read_available(0.05))
    assert any(isinstance(f, Frame) and f.ftype == 0x70 for f in got)
    report = d.flash()  # enters the raw REPL through the running harness (QUIT frame)
    assert "main.py" in [a.name for a in report.actions if a.action == "removed"]
    assert not (board.fs / "main.py").exists()
    d.start()
    d.ping()
    d.stop()
