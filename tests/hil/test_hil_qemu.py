"""The classifier core on a real MCU firmware: MicroPython 1.9.2 for the BBC micro:bit in
QEMU (16 KB RAM, no flow control, no hashlib, no os.rename, no raw-paste, no .mpy).

Skipped, with what to install, when qemu-system-arm or the firmware package is missing.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

from firmware.board import CORE_MODULES, assay_tree
from hil import protocol as P
from hil.dut import Dut
from hil.transport import open_transport
from tests.hil.hil_helpers import developer_inputs

pytestmark = [pytest.mark.hil, pytest.mark.qemu]


@pytest.fixture(scope="module")
def microbit():
    with open_transport("qemu:microbit") as t:
        d = Dut(t)
        d.report = d.flash()
        yield d


def test_it_is_a_micro_bit(microbit):
    assert microbit.repl.eval("__import__('sys').platform") == "'microbit'"
    assert microbit.repl.eval("__import__('sys').implementation.version") == "(1, 9, 2)"


def test_core_flashed_with_read_back_verification(microbit):
    """No hashlib: the flasher reads each file back; the core (stripped) only, 16 KB RAM."""
    assert [a.name for a in microbit.report.actions if a.action == "written"] == [f"{m}.py" for m in CORE_MODULES]
    again = microbit.flash()
    assert again.count("written") == 0 and again.count("skipped") == len(CORE_MODULES)


def test_core_on_the_micro_bit_is_bit_exact(microbit):
    """PCA + tree core on the emulated nRF51: same slope, PC′ and tree action as on CPython."""
    repl = microbit.repl
    repl.soft_reset()  # a clean heap: ~9 KB free
    # leaves first: a nested import chain parses a module while its importer's code is
    # already in RAM, and the last parse no longer finds a contiguous block
    # (one small command each: the command's own code is in RAM while it runs)
    start = int(repl.exec("import gc\ngc.collect()\nprint(gc.mem_free())").decode())
    for module in CORE_MODULES:
        repl.exec(f"import {module}\ngc.collect()", timeout_s=30)
    free = (start, int(repl.exec("print(gc.mem_free())").decode()))
    assert free[1] > 1024, f"the core leaves only {free[1]} B free of {free[0]}"
    r41, det, names = developer_inputs()
    for i in np.linspace(0, len(names) - 1, 12).astype(int):
        q = tuple(int(v) for v in P.quantise_int16(r41[i]))
        flags = P.flags_byte(det[i])
        got = ast.literal_eval(repl.exec(f"print(assay_tree.core({q!r}, {flags}))", timeout_s=30).decode())
        want = assay_tree.core(q, flags)
        assert got == (want[0], want[1], None if want[2] is None else list(want[2]), want[3]), names[i]
