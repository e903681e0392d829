"""`qemu:microbit` — a real MicroPython firmware on an emulated MCU (optional second layer).

Debian's `qemu-system-arm` (7.2, machine `microbit`: nRF51822, 16 KB RAM, one UART) runs
Debian's `firmware-microbit-micropython` (MicroPython 1.9.2 for the BBC micro:bit) with its
UART on a pty. Unlike the Unix port it has a real UART driver without flow control, a real
soft reset and a 2017 REPL without raw-paste — and about 9 KB of free heap, so it carries the
classifier core, not the whole harness (see tests/hil/test_qemu_microbit.py).

    apt-get install -y --no-install-recommends qemu-system-arm firmware-microbit-micropython
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

FIRMWARE_HEX = Path("/usr/share/firmware-microbit-micropython/firmware.hex")
INSTALL = "apt-get install -y --no-install-recommends qemu-system-arm firmware-microbit-micropython"


def missing() -> str | None:
    """None if qemu:microbit can run here, else what is missing and how to install it."""
    if shutil.which("qemu-system-arm") is None:
        return f"qemu:microbit needs qemu-system-arm: {INSTALL}"
    if not FIRMWARE_HEX.exists():
        return f"qemu:microbit needs {FIRMWARE_HEX}: {INSTALL}"
    return None


class QemuMicrobit:
    """Spawn QEMU's micro:bit with MicroPython; `port` is its UART's pty."""

    def __init__(self, firmware: Path = FIRMWARE_HEX):
        self.firmware = Path(firmware)
        self.port = ""
        self._proc: subprocess.Popen | None = None

    @property
    def platform_note(self) -> str:
        return "qemu microbit (nRF51822, 16 KB RAM, MicroPython 1.9.2, no flow control)"

    def start(self, timeout_s: float = 10.0) -> QemuMicrobit:
        why = missing()
        if why:
            raise RuntimeError(why)
        self._proc = subprocess.Popen(
            ["qemu-system-arm", "-M", "microbit", "-display", "none", "-monitor", "none",
             "-serial", "pty", "-device", f"loader,file={self.firmware}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        end = time.monotonic() + timeout_s
        line = ""
        while time.monotonic() < end:
            line = self._proc.stdout.readline()
            m = re.search(r"(/dev/pts/\d+)", line)
            if m:
                self.port = m.group(1)
                return self
            if self._proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"qemu-system-arm did not report its serial pty (last output {line!r})")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc is not None and proc.stdout:
            proc.stdout.close()
