"""Host side of the serial framing: COBS(payload ‖ CRC-16/CCITT-FALSE) ‖ 0x00.

Same wire format as the board's hand-written `firmware/board/assay_frame.py`, built here on
the `cobs` and `crc` libraries (the tests check one against the other). payload =
type:u8 | seq:u8 | len:u16le | body; the CRC (CCSDS TM/TC FECF, `crc.Crc16.IBM_3740`, check
0x29B1) is appended big-endian. The length field closes a hole of COBS + a CRC without final
xor (a delimiter damaged into 0x01 appends a zero that the CRC accepts; see assay_frame).

`FrameDecoder` turns an arbitrary byte stream — frames, boot banners, REPL prompts, line
noise — into `Frame`s and `BadFrame`s: a 0x00 ends every block, so after any garbage it is in
step again at the next delimiter. Bytes that are not frames are kept (the tail only) so the
link can tell a board that dropped back to its REPL ("MicroPython v…", ">>> ").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cobs import cobs
from crc import Calculator, Crc16

CRC16 = Calculator(Crc16.IBM_3740, optimized=True)
DELIMITER = b"\x00"
MAX_BLOCK = 16384  # longer runs without a delimiter are garbage, not frames
TEXT_TAIL = 512  # bytes of non-frame text kept for REPL detection
HEADER = 4  # type, seq, body length
_STAT = {"cobs": "bad_cobs", "crc": "bad_crc", "short": "short", "length": "bad_length"}


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    return CRC16.checksum(bytes(data))


def encode_frame(ftype: int, seq: int, body: bytes = b"", *, lead: bool = True) -> bytes:
    """Wire bytes of one frame. `lead` prepends a 0x00 so that whatever partial garbage the
    receiver holds is closed off before this frame starts (it costs one byte)."""
    if not (0 <= ftype <= 0xFF and 0 <= seq <= 0xFF):
        raise ValueError(f"frame type {ftype} and seq {seq} must be 0–255")
    body = bytes(body)
    if len(body) > 0xFFFF:
        raise ValueError(f"frame body of {len(body)} bytes: at most 65535")
    payload = bytes((ftype, seq)) + len(body).to_bytes(2, "little") + body
    payload += crc16(payload).to_bytes(2, "big")
    return (DELIMITER if lead else b"") + cobs.encode(payload) + DELIMITER


def wire_size(body_len: int, *, lead: bool = True) -> int:
    """Bytes on the wire for a body of `body_len` bytes (COBS worst case)."""
    n = body_len + HEADER + 2
    return n + n // 254 + 1 + 1 + (1 if lead else 0)


@dataclass(frozen=True)
class Frame:
    """A frame that passed COBS and CRC."""

    ftype: int
    seq: int
    body: bytes


@dataclass(frozen=True)
class BadFrame:
    """A delimited block that is not a valid frame, and why (NAK reason names)."""

    reason: str  # "cobs", "crc", "short", "long", "length"
    size: int
    looks_like_text: bool


@dataclass
class DecoderStats:
    frames: int = 0
    bad_cobs: int = 0
    bad_crc: int = 0
    short: int = 0
    bad_length: int = 0
    too_long: int = 0
    garbage_bytes: int = 0


@dataclass
class FrameDecoder:
    """Incremental decoder: `feed(bytes)` → list of Frame | BadFrame, in stream order."""

    max_block: int = MAX_BLOCK
    stats: DecoderStats = field(default_factory=DecoderStats)
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False
    text: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        out: list[Frame | BadFrame] = []
        start = 0
        data = bytes(data)
        while True:
            end = data.find(0, start)
            if end < 0:
                self._append(data[start:])
                return out
            self._append(data[start:end])
            block, self._buf = bytes(self._buf), bytearray()
            overflow, self._overflow = self._overflow, False
            start = end + 1
            if overflow:
                self.stats.too_long += 1
                self.stats.garbage_bytes += len(block)
                out.append(BadFrame("long", len(block), True))
            elif block:
                out.append(self._decode(block))

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            self.stats.garbage_bytes += len(chunk)
            self._keep_text(chunk)
            return
        self._buf += chunk
        if len(self._buf) > self.max_block:
            self.stats.garbage_bytes += len(self._buf)
            self._keep_text(bytes(self._buf))
            self._buf = bytearray()
            self._overflow = True

    def _keep_text(self, chunk: bytes) -> None:
        self.text += chunk
        del self.text[:-TEXT_TAIL]

    def _decode(self, block: bytes) -> Frame | BadFrame:
        text = _printable(block)
        try:
            raw = cobs.decode(block)
        except cobs.DecodeError:
            return self._bad("cobs", block, text)
        if len(raw) < HEADER + 2:
            return self._bad("short", block, text)
        if crc16(raw[:-2]) != int.from_bytes(raw[-2:], "big"):
            return self._bad("crc", block, text)
        if int.from_bytes(raw[2:4], "little") != len(raw) - HEADER - 2:
            return self._bad("length", block, text)
        self.stats.frames += 1
        return Frame(raw[0], raw[1], bytes(raw[HEADER:-2]))

    def _bad(self, reason: str, block: bytes, text: bool) -> BadFrame:
        name = _STAT[reason]
        setattr(self.stats, name, getattr(self.stats, name) + 1)
        self.stats.garbage_bytes += len(block)
        if text:
            self._keep_text(block)
        return BadFrame(reason, len(block), text)

    def pending_text(self) -> bytes:
        """The unterminated block so far, if it reads as text (a REPL prompt has no 0x00)."""
        return bytes(self._buf) if _printable(self._buf) else b""

    def clear(self) -> None:
        """Forget everything buffered (after the other side restarted)."""
        self._buf = bytearray()
        self._overflow = False
        self.text = bytearray()

    def take_text(self) -> bytes:
        """Non-frame text seen since the last call (REPL banners, prompts, tracebacks)."""
        out, self.text = bytes(self.text), bytearray()
        return out


def _printable(block: bytes) -> bool:
    """Mostly printable ASCII: a REPL line, not a damaged binary frame."""
    if not block:
        return False
    ok = sum(1 for b in block if 32 <= b < 127 or b in (9, 10, 13))
    return ok >= 0.9 * len(block)
