"""Open a board by port string: any pyserial URL, or a board this project spawns.

Port strings (`--port`, env HIL_PORT):

* a device or pyserial URL, opened with `serial.serial_for_url`: `/dev/ttyACM0`,
  `/dev/serial/by-id/usb-MicroPython_…`, `/dev/pts/N`, `loop://`, `socket://host:port`
  (ser2net raw), `rfc2217://host:port`, `spy://…?file=trace.txt`, `hwgrep://2e8a:0005`;
* `vboard:` — spawn a virtual board (`hil.vboard`); options as a query:
  `vboard:?heap=192K&baud=115200&lfs2=1M&fs=/path` (`vboard:lfs2` = a 1 MiB littlefs2 image);
* `qemu:microbit` — spawn QEMU's micro:bit with Debian's MicroPython firmware (`hil.qemu`).

A `Transport` is the byte pipe the raw-REPL client, the flasher and the link share: pyserial's
read/write, plus the spawned board (if any) for hard resets, and write pacing for boards
without flow control.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import serial

from firmware.errors import AssayError

DEFAULT_BAUD = 115200
READ_TIMEOUT_S = 0.02
UNTHROTTLED_BAUD = 2_000_000


class TransportError(AssayError):
    """The port string is wrong or the board cannot be opened."""


@dataclass(frozen=True)
class PortSpec:
    kind: str  # "serial", "vboard", "qemu"
    target: str  # URL/device, or the machine name for qemu
    options: dict


def _size(text: str, field: str) -> int:
    units = {"K": 1024, "M": 1024 * 1024}
    t = text.strip().upper()
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except ValueError:
        raise TransportError(f"vboard option {field}={text!r}: expected bytes, e.g. 262144, 256K or 1M") from None


def parse_port(port: str) -> PortSpec:
    """Split a port string into kind, target and options (errors name the bad part)."""
    port = (port or "").strip()
    if not port:
        raise TransportError("empty port: give a device (/dev/ttyACM0), a pyserial URL, vboard: or qemu:microbit")
    if port.startswith("vboard:"):
        rest = port[len("vboard:"):].lstrip("/")
        head, _, query = rest.partition("?")
        opts: dict = {}
        if head == "lfs2":
            opts["lfs2"] = 1024 * 1024
        elif head:
            raise TransportError(f"port {port!r}: after 'vboard:' expected nothing, 'lfs2' or '?options'")
        for key, values in parse_qs(query, keep_blank_values=True).items():
            value = values[-1]
            if key == "heap":
                opts["heap"] = value.upper()
                _size(value, key)
            elif key == "baud":
                opts["baud"] = int(_size(value, key))
            elif key == "lfs2":
                opts["lfs2"] = _size(value or "1M", key)
            elif key == "fs":
                opts["fs"] = value
            else:
                raise TransportError(f"port {port!r}: unknown vboard option {key!r} (heap, baud, lfs2, fs)")
        return PortSpec("vboard", "vboard:", opts)
    if port.startswith("qemu:"):
        machine = port[len("qemu:"):]
        if machine != "microbit":
            raise TransportError(f"port {port!r}: the only QEMU board is qemu:microbit")
        return PortSpec("qemu", machine, {})
    return PortSpec("serial", port, {})


class Transport:
    """A byte pipe to one board. Owns the spawned board, if any; close() stops it."""

    def __init__(self, ser, spec: PortSpec, board=None, *, chunk_size: int = 0,
                 chunk_gap_s: float = 0.0, baud: int = DEFAULT_BAUD):  # fmt: skip
        self.serial = ser
        self.spec = spec
        self.board = board
        self.chunk_size = chunk_size
        self.chunk_gap_s = chunk_gap_s
        self.baud = baud
        self.bytes_tx = 0
        self.bytes_rx = 0
        # the baud rate bounds the byte rate (a UART, a throttled vboard); not a bare pty
        self.line_limited = spec.kind != "vboard" or bool(spec.options.get("baud"))

    @property
    def description(self) -> str:
        if self.board is not None:
            return f"{self.spec.kind} {self.board.port}: {self.board.platform_note}"
        return f"serial {self.spec.target} @ {self.baud} baud"

    @property
    def virtual(self) -> bool:
        return self.spec.kind in ("vboard", "qemu")

    @property
    def byte_time_s(self) -> float:
        """Seconds per byte on the wire (10 bit times at the configured baud)."""
        return 10.0 / self.baud

    def write(self, data: bytes) -> None:
        data = bytes(data)
        if not self.chunk_size:
            self.serial.write(data)
        else:  # no flow control on the board: pace the bytes
            for i in range(0, len(data), self.chunk_size):
                self.serial.write(data[i : i + self.chunk_size])
                self.serial.flush()
                time.sleep(self.chunk_gap_s)
        self.bytes_tx += len(data)

    def read(self, size: int = 1) -> bytes:
        data = self.serial.read(size)
        self.bytes_rx += len(data)
        return data

    def read_available(self, wait_s: float = READ_TIMEOUT_S) -> bytes:
        """Whatever has arrived, waiting at most `wait_s` for the first byte."""
        self.serial.timeout = wait_s
        first = self.read(1)
        if not first:
            return b""
        # then whatever is there, without waiting (in_waiting is only 0/1 on socket://)
        self.serial.timeout = 0
        return first + self.read(max(self.serial.in_waiting, 65536))

    def drain(self, quiet_s: float = 0.05, max_s: float = 2.0) -> bytes:
        """Read until the line has been quiet for `quiet_s` (bounded by `max_s`)."""
        out = bytearray()
        end = time.monotonic() + max_s
        while time.monotonic() < end:
            chunk = self.read_available(quiet_s)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def reset_input_buffer(self) -> None:
        self.serial.reset_input_buffer()

    def hard_reset(self) -> None:
        """Reset the board (spawned boards only; a real board needs its button or DTR/RTS)."""
        if self.board is None or not hasattr(self.board, "hard_reset"):
            raise TransportError(f"{self.description}: hard reset is only available on spawned boards")
        self.board.hard_reset()

    def close(self) -> None:
        try:
            self.serial.close()
        finally:
            if self.board is not None:
                self.board.stop()
                self.board = None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_serial(url: str, baud: int):
    try:
        ser = serial.serial_for_url(url, baudrate=baud, timeout=READ_TIMEOUT_S, exclusive=True)
    except (serial.SerialException, ValueError) as exc:
        raise TransportError(
            f"cannot open port {url!r}: {exc}. List ports with `assay hil ports`; "
            "or use vboard: for the virtual board"
        ) from exc
    sock = getattr(ser, "_socket", None)  # socket:// and rfc2217://: no Nagle delay (40 ms
    if sock is not None:  # per small request/answer with delayed ACKs)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ser


def open_transport(port: str, *, baud: int = DEFAULT_BAUD, **overrides) -> Transport:
    """Open (and for vboard:/qemu: spawn) the board named by `port`.

    `overrides` set vboard options directly (heap, baud_throttle, lfs2, fs)."""
    spec = parse_port(port)
    if spec.kind == "serial":
        return Transport(_open_serial(spec.target, baud), spec, baud=baud)
    if spec.kind == "vboard":
        from pathlib import Path

        from hil.vboard import VBoardConfig, VirtualBoard

        opts = {**spec.options, **{k: v for k, v in overrides.items() if v is not None}}
        cfg = VBoardConfig(
            fs_dir=Path(opts["fs"]) if opts.get("fs") else None, heap=opts.get("heap"),
            baud=opts.get("baud"), lfs2_bytes=opts.get("lfs2"),
        )  # fmt: skip
        board = VirtualBoard(cfg).start()
        try:
            ser = _open_serial(board.port, opts.get("baud") or baud)
        except TransportError:
            board.stop()
            raise
        # Unthrottled, a pty moves megabytes per second: deadlines follow a fast line.
        return Transport(ser, spec, board, baud=opts.get("baud") or UNTHROTTLED_BAUD)
    from hil.qemu import QemuMicrobit

    board = QemuMicrobit().start()
    try:
        ser = _open_serial(board.port, baud)
    except TransportError:
        board.stop()
        raise
    # The emulated nRF51 UART has no flow control: paced writes. hil.md §3.1 found 16 B per
    # 20 ms safe and 256 B at once corrupt; 64 B per 10 ms corrupted a 8 KB flash here once
    # (caught by the sha256 check); 32 B per 10 ms is ~3 KB/s.
    return Transport(ser, spec, board, chunk_size=32, chunk_gap_s=0.01, baud=baud)
