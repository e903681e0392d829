"""A raw-REPL client on a `Transport` (the protocol mpremote and pyboard.py speak).

Why not mpremote's `SerialTransport`: it opens its own pyserial port from a device name,
while here the raw REPL, the flasher and the framed link must share one port (a spawned
board, a fault-injecting wrapper, a paced board without flow control). The wire protocol is
MicroPython's (docs: "Raw mode and raw-paste mode", micropython.org/…/reference/repl.html):

* Ctrl-A enters the raw REPL (`raw REPL; CTRL-B to exit\r\n>`); code then Ctrl-D runs it;
  the board answers `OK`, stdout, 0x04, stderr (the traceback), 0x04, `>`.
* raw-paste (`\x05A\x01` → `R\x01` + window size u16): the board grants a byte window and
  sends 0x01 for each refill — flow control for UARTs with small buffers. Boards that do not
  know it (the 2017 micro:bit firmware) answer otherwise; we then fall back to raw mode.
* Ctrl-D on an empty raw REPL line soft-resets the board.

Entering also stops a running harness first: a QUIT frame (then Ctrl-C for anything else).
"""

from __future__ import annotations

import time

from firmware.board import assay_harness as H
from firmware.errors import AssayError
from hil.framing import encode_frame

RAW_MARKER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"soft reboot\r\n"


class RawReplError(AssayError):
    """The board did not answer as a MicroPython raw REPL should, or the code raised."""


def _quit_frame() -> bytes:
    """A QUIT frame without 0x04: sent to a REPL instead of a harness, it must not run the
    raw-REPL buffer or soft-reset (Ctrl-D). The other control bytes it may hold (Ctrl-E: paste
    mode, Ctrl-B: leave raw mode) are undone by the Ctrl-C and Ctrl-A that `enter` sends next."""
    for seq in range(1, 256):
        frame = encode_frame(H.QUIT, seq)
        if 4 not in frame:
            return frame
    raise AssertionError("no control-free QUIT frame")  # pragma: no cover


QUIT_FRAME = _quit_frame()


class RawRepl:
    """Drive a board's raw REPL over a Transport."""

    def __init__(self, transport, *, use_paste: bool = True, timeout_s: float = 10.0):
        self.t = transport
        self.use_paste = use_paste
        self.timeout_s = timeout_s
        self.in_raw = False
        self._buf = bytearray()

    def _fill(self, wait_s: float) -> None:
        self._buf += self.t.read_available(wait_s)

    def read_until(self, marker: bytes, timeout_s: float | None = None) -> bytes:
        """Bytes up to and including `marker` (the rest stays buffered); RawReplError with
        what came if it does not come in time."""
        limit = timeout_s or self.timeout_s
        end = time.monotonic() + limit
        while True:
            at = self._buf.find(marker)
            if at >= 0:
                out = bytes(self._buf[: at + len(marker)])
                del self._buf[: at + len(marker)]
                return out
            if time.monotonic() > end:
                raise RawReplError(
                    f"{self.t.description}: waited {limit:.1f} s for {marker!r}, got "
                    f"{bytes(self._buf[-200:])!r}. Is a MicroPython board on this port, and not busy?"
                )
            self._fill(0.02)

    def enter(self, soft_reset: bool = False, attempts: int = 3) -> None:
        """Stop whatever runs (harness: QUIT frame; program: Ctrl-C) and enter the raw REPL."""
        last = None
        for _ in range(attempts):
            self.t.write(QUIT_FRAME)
            time.sleep(0.05)
            self.t.write(b"\r\x03\x03")
            self.t.drain(quiet_s=0.1, max_s=1.0)
            self._buf.clear()
            self.t.write(b"\r\x01")
            try:
                self.read_until(RAW_MARKER, 2.0)
                self.read_until(b">", 1.0)
                break
            except RawReplError as exc:
                last = exc
        else:
            raise RawReplError(f"could not enter the raw REPL: {last}")
        self.in_raw = True
        if soft_reset:
            self.soft_reset()
            return
        # Older firmware (the 2017 micro:bit) turns every 0x03 into a *pending*
        # KeyboardInterrupt, even at the prompt: our Ctrl-Cs would hit the next command.
        # A no-op absorbs it (mpremote gets the same effect from its soft reset).
        try:
            self.exec("pass")
        except RawReplError as exc:
            if "KeyboardInterrupt" not in str(exc):
                raise

    def soft_reset(self) -> None:
        """Ctrl-D on an empty raw-REPL line: the board restarts and comes back to the raw REPL."""
        self.t.write(b"\x04")
        self.read_until(SOFT_REBOOT, 5.0)
        self.read_until(RAW_MARKER, 5.0)
        self.read_until(b">", 1.0)

    def exit(self) -> None:
        """Back to the friendly REPL (Ctrl-B)."""
        self.t.write(b"\r\x02")
        self.in_raw = False

    def _send(self, code: bytes) -> None:
        if self.use_paste:
            self.t.write(b"\x05A\x01")
            head = self._read_exact(2)
            if head == b"R\x01":
                self._paste(code)
                return
            if head != b"R\x00":  # firmware without raw-paste echoes; resync on the prompt
                self.read_until(b"w REPL; CTRL-B to exit\r\n>", 2.0)
            self.use_paste = False
        self.t.write(code)
        self.t.write(b"\x04")
        ok = self._read_exact(2)
        if ok != b"OK":
            raise RawReplError(f"{self.t.description}: expected OK after the code, got {ok!r}")

    def _paste(self, code: bytes) -> None:
        window = int.from_bytes(self._read_exact(2), "little")
        budget = window
        i = 0
        while i < len(code):
            while budget == 0 or self._pending_flag():
                flag = self._read_exact(1)
                if flag == b"\x01":
                    budget += window
                elif flag == b"\x04":
                    self.t.write(b"\x04")
                    raise RawReplError("the board ended raw-paste early (out of memory?)")
                else:
                    raise RawReplError(f"unexpected {flag!r} during raw-paste")
            n = min(budget, len(code) - i)
            self.t.write(code[i : i + n])
            i += n
            budget -= n
        self.t.write(b"\x04")
        self.read_until(b"\x04", self.timeout_s)

    def _pending_flag(self) -> bool:
        if not self._buf:
            self._fill(0.0)
        return bool(self._buf)

    def _read_exact(self, n: int, timeout_s: float = 5.0) -> bytes:
        end = time.monotonic() + timeout_s
        while len(self._buf) < n and time.monotonic() < end:
            self._fill(0.02)
        if len(self._buf) < n:
            raise RawReplError(f"{self.t.description}: timed out reading {n} bytes, got {bytes(self._buf)!r}")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def exec(self, code: str | bytes, timeout_s: float | None = None) -> bytes:
        """Run code; return its stdout. RawReplError carries the board's traceback."""
        if not self.in_raw:
            self.enter()
        self._send(code.encode() if isinstance(code, str) else code)
        out = self.read_until(b"\x04", timeout_s)[:-1]
        err = self.read_until(b"\x04", timeout_s)[:-1]
        self.read_until(b">", 2.0)
        if err:
            raise RawReplError(f"board raised: {err.decode(errors='replace').strip()}")
        return out

    def eval(self, expr: str, timeout_s: float | None = None) -> str:
        return self.exec(f"print(repr({expr}))", timeout_s).decode().strip()

    def take_buffer(self) -> bytes:
        """Bytes read past the last marker (e.g. a harness's first frame): the caller's now."""
        out, self._buf = bytes(self._buf), bytearray()
        return out

    def start(self, code: str) -> None:
        """Run code without waiting for it to finish (e.g. the harness's serve loop)."""
        if not self.in_raw:
            self.enter()
        self._send(code.encode())
        self.in_raw = False  # the board is busy; enter() again to get back
