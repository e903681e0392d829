"""Hardware in the loop: the host side of talking to MicroPython boards over serial.

One byte pipe per board (`transport`: any pyserial URL, `vboard:` — the MicroPython Unix port
behind a pty (`vboard`) — or `qemu:microbit` (`qemu`)), shared by the raw-REPL client
(`rawrepl`), the flasher (`flash`) and the framed link (`framing`, `protocol`, `link`).
`dut.Dut` ties them together; `dut.BoardClassifier` and `pil.BoardInTheLoop` classify
spectra on a board; `parity` compares with the host; `faults` injects line faults; `bench`
measures the link; `build_model` generates the board's constants from `seeds/`; `cli` is
`assay hil`; `pytest_plugin` gives `--port` and the fixtures transport → flashed → dut.
The board side is `firmware/board/`.
"""
