"""MicroPython board harness (flashed as flat modules `assay_*.py`), importable on CPython.

The modules here run unchanged on MicroPython (Unix port, RP2040, ESP32; the core on a
micro:bit) and on CPython, where the same integer arithmetic is unit-tested in-process and
used as the bit-exact reference for what the board must answer.

* `assay_frame`   — COBS + CRC-16/CCITT-FALSE framing (hand-written; the host uses libraries)
* `assay_bdm`     — fixed-point Bus-DeMeo: normalise, slope, PCA, tree, tie-breaks, fallback
* `assay_model`   — generated core constants (`python -m hil.build_model`)
* `assay_tpl`     — generated templates for tie-breaks and the C/X fallback
* `assay_harness` — the request/answer loop over the serial stream (PING, INFO, ECHO,
  CLASSIFY, BATCH, QUIT)
"""

# Flashed in this order (dependencies first); the flasher and `assay hil flash` use it.
BOARD_MODULES = ("assay_frame", "assay_model", "assay_tpl", "assay_bdm", "assay_harness")
