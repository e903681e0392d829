"""The robust request/answer link over a Transport: acknowledge, time out, retry, resync, recover.

Stop-and-wait ARQ with 8-bit sequence numbers. Each request is sent (led by a 0x00 so any
partial garbage on the board is closed off) and the link waits for the answer with the same
sequence number and type | 0x80. What can happen instead, and what the link does:

* the board NAKs (our frame arrived damaged) or the host decodes a damaged frame (the answer
  arrived damaged) → resend at once; the board answers a repeated sequence number from its
  cache, so a command never runs twice;
* nothing valid arrives before the deadline (a delimiter was lost) → resend;
* an answer to an older request (a duplicate) → counted, ignored;
* a HELLO frame (the harness restarted: the board reset and main.py started it again), or
  REPL text — a banner, `>>> ` (the board reset into its REPL) → counted as a reset; the
  `on_reset` hook (e.g. `Dut.restart`, which starts the harness again) runs, then resend;
* the port vanished (USB re-enumeration after a reset) → reopen is up to `on_reset`.

Every request ends in exactly one of: an answer (returned), an ERR from the board
(`BoardError`), or `LinkTimeout` after `retries` resends. Nothing is silently dropped, and an
answer is only accepted when COBS, CRC-16, sequence number, type and length all check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.board import assay_harness as H
from firmware.errors import AssayError
from hil.framing import BadFrame, Frame, FrameDecoder, encode_frame, wire_size
from hil.protocol import NAK_REASONS, decode_err

REPL_SIGNS = (b"MicroPython ", b">>> ", b"raw REPL", b"soft reboot", b"Traceback (most recent")


class LinkError(AssayError):
    """A request was not answered (base class)."""


class LinkTimeout(LinkError):
    """No valid answer after every retry."""


class BoardError(LinkError):
    """The board answered ERR: it understood the frame but could not serve the request."""

    def __init__(self, code: int, text: str):
        self.code = code
        self.text = text
        super().__init__(f"board error {code}: {text}")


@dataclass
class LinkStats:
    """What happened on the link (all counts since the link was opened)."""

    requests: int = 0
    answered: int = 0
    board_errors: int = 0
    failed: int = 0
    sends: int = 0
    retries: int = 0
    timeouts: int = 0
    naks: int = 0
    bad_frames: int = 0
    stale: int = 0
    resets: int = 0
    bytes_tx: int = 0
    bytes_rx: int = 0
    rtt_s: list[float] = field(default_factory=list)  # clean round trips (first attempt)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "rtt_s"}
        if self.rtt_s:
            r = sorted(self.rtt_s)
            d.update(rtt_median_ms=1e3 * r[len(r) // 2], rtt_p95_ms=1e3 * r[int(0.95 * (len(r) - 1))])
        return d


class Link:
    """Framed requests to the harness on `transport`."""

    def __init__(self, transport, *, retries: int = 8, base_timeout_s: float = 0.25,
                 on_reset: Callable[[], None] | None = None):  # fmt: skip
        self.t = transport
        self.retries = retries
        self.base_timeout_s = base_timeout_s
        self.on_reset = on_reset
        self.decoder = FrameDecoder()
        self.stats = LinkStats()
        self._seq = 0
        self.hello: Frame | None = None

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; HELLO and NAK use 0
        return self._seq

    def timeout_for(self, body_len: int, answer_len: int, work_s: float = 0.0) -> float:
        """Deadline of one attempt: both frames on the wire, plus slack and board work."""
        wire = wire_size(body_len) + wire_size(answer_len)
        return self.base_timeout_s + 1.5 * wire * self.t.byte_time_s + work_s

    def wait_hello(self, timeout_s: float = 5.0) -> Frame:
        """Wait for the harness's HELLO after starting it (the ready signal)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for item in self._receive(0.05):
                if isinstance(item, Frame) and item.ftype == H.HELLO:
                    self.hello = item
                    return item
        raise LinkTimeout(f"{self.t.description}: no HELLO from the harness within {timeout_s:.1f} s "
                          f"(saw {self.decoder.take_text()[-200:]!r})")  # fmt: skip

    def _receive(self, wait_s: float) -> list:
        data = self.t.read_available(wait_s)
        self.stats.bytes_rx += len(data)
        return self.decoder.feed(data) if data else []

    def request(self, ftype: int, body: bytes = b"", *, answer_len: int = 64,
                work_s: float = 0.0, exact_len: int | None = None) -> bytes:  # fmt: skip
        """Send one request; return the answer's body (see the module docstring)."""
        seq = self._next_seq()
        frame = encode_frame(ftype, seq, body)
        want = ftype | H.REPLY
        timeout = self.timeout_for(len(body), answer_len, work_s)
        self.stats.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            self.t.write(frame)
            self.stats.sends += 1
            self.stats.bytes_tx += len(frame)
            t_sent = time.monotonic()
            outcome = self._await(seq, want, t_sent + timeout, exact_len)
            if isinstance(outcome, Frame):
                self.stats.answered += 1
                if attempt == 0:
                    self.stats.rtt_s.append(time.monotonic() - t_sent)
                return outcome.body
            if isinstance(outcome, BoardError):
                self.stats.board_errors += 1
                raise outcome
        self.stats.failed += 1
        raise LinkTimeout(f"{self.t.description}: request type 0x{ftype:02x} seq {seq} unanswered "
                          f"after {self.retries + 1} attempts ({self.stats.to_dict()})")  # fmt: skip

    def _await(self, seq: int, want: int, deadline: float, exact_len: int | None):
        """Frame (the answer), BoardError, or a reason string to resend."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stats.timeouts += 1
                return "timeout"
            for item in self._receive(min(left, 0.05)):
                if isinstance(item, BadFrame):
                    if item.looks_like_text:
                        continue
                    self.stats.bad_frames += 1
                    return "damaged"
                if item.ftype == H.HELLO:
                    self.stats.resets += 1
                    self.hello = item
                    return "reset"
                if item.ftype == H.NAK:
                    self.stats.naks += 1
                    return NAK_REASONS.get(item.body[:1][0] if item.body else 0, "nak")
                if item.seq != seq:
                    self.stats.stale += 1
                    continue
                if item.ftype == H.ERR:
                    return BoardError(*decode_err(item.body))
                if item.ftype != want or (exact_len is not None and len(item.body) != exact_len):
                    self.stats.bad_frames += 1  # right seq, wrong shape: damaged beyond the CRC
                    return "malformed"
                return item
            text = self.decoder.take_text() + self.decoder.pending_text()
            if text and any(sign in text for sign in REPL_SIGNS):
                self.stats.resets += 1
                self.decoder.clear()
                if self.on_reset is not None:
                    self.on_reset()
                return "repl"
