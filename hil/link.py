"""The robust request/answer link over a Transport: acknowledge, time out, retry, resync, recover.

ARQ with 8-bit sequence numbers, stop-and-wait (`request`) or with a window of requests in
flight (`exchange`: the next request travels while the last answer comes back, so a
full-duplex line stays busy). Each request is sent led by a 0x00 (any partial garbage on the
board is closed off); its answer has the same sequence number and type | 0x80. The commands
are idempotent, so a resent request that the board already served is simply served again
(or answered from the board's one-frame cache). What can happen, and what the link does:

* the board NAKs (our frame arrived damaged) or the host decodes a damaged frame (the answer
  arrived damaged) → resend the oldest request in flight at once (the board answers in
  order, so that is the one it could not have answered);
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
from hil.protocol import decode_err

NAK_TOO_LONG = 3  # firmware/board/assay_frame.py

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
    restart_failures: int = 0
    bytes_tx: int = 0
    bytes_rx: int = 0
    rtt_s: list[float] = field(default_factory=list)  # clean round trips (first attempt)

    def since(self, earlier: LinkStats) -> LinkStats:
        """What happened after the `earlier` snapshot (`copy.deepcopy` of these stats)."""
        out = LinkStats(**{k: v - getattr(earlier, k) for k, v in self.__dict__.items() if k != "rtt_s"})
        out.rtt_s = self.rtt_s[len(earlier.rtt_s) :]
        return out

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "rtt_s"}
        if self.rtt_s:
            r = sorted(self.rtt_s)
            d.update(rtt_median_ms=1e3 * r[len(r) // 2], rtt_p95_ms=1e3 * r[int(0.95 * (len(r) - 1))])
        return d


@dataclass
class Request:
    """One request to send: type, body, and what a valid answer looks like."""

    ftype: int
    body: bytes = b""
    answer_len: int = 64  # expected answer size (for the deadline)
    exact_len: int | None = None  # answer body must have exactly this length
    work_s: float = 0.0  # board time to allow on top of the wire time


@dataclass
class _InFlight:
    index: int
    req: Request
    seq: int
    frame: bytes
    timeout_s: float
    sends: int = 0
    deadline: float = 0.0
    t_first: float = 0.0


class Link:
    """Framed requests to the harness on `transport` (stop-and-wait, or pipelined)."""

    def __init__(self, transport, *, retries: int = 8, base_timeout_s: float = 0.25,
                 on_reset: Callable[[], None] | None = None):  # fmt: skip
        self.t = transport
        self.retries = retries
        self.base_timeout_s = base_timeout_s
        self.on_reset = on_reset
        self.decoder = FrameDecoder()
        self.stats = LinkStats()
        self._seq = 0
        self._window = 1
        self.max_frame = 64  # frames up to this size are never "too long" (a NAK was damage)
        self.hello: Frame | None = None

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; HELLO and NAK use 0
        return self._seq

    def timeout_for(self, body_len: int, answer_len: int, work_s: float = 0.0) -> float:
        """Deadline of one attempt: both frames on the wire, plus slack and board work."""
        wire = wire_size(body_len) + wire_size(answer_len)
        return self.base_timeout_s + 1.5 * wire * self.t.byte_time_s + work_s

    def wait_hello(self, timeout_s: float = 10.0) -> Frame:
        """Wait for the harness's HELLO after starting it (the ready signal)."""
        end = time.monotonic() + timeout_s
        seen = b""
        while time.monotonic() < end:
            for item in self._receive(0.05):
                if isinstance(item, Frame) and item.ftype == H.HELLO:
                    self.hello = item
                    return item
            seen = (seen + self.decoder.take_text())[-400:]
            if b"\x04>" in self.decoder.pending_text():  # the raw REPL ended the run: it failed
                break
        seen += self.decoder.pending_text()
        raise LinkTimeout(f"{self.t.description}: no HELLO from the harness; the board said "
                          f"{seen.decode(errors='replace').strip()[-300:]!r}")  # fmt: skip

    def _receive(self, wait_s: float) -> list:
        data = self.t.read_available(wait_s)
        self.stats.bytes_rx += len(data)
        return self.decoder.feed(data) if data else []

    def request(self, ftype: int, body: bytes = b"", *, answer_len: int = 64,
                work_s: float = 0.0, exact_len: int | None = None) -> bytes:  # fmt: skip
        """Send one request and wait for its answer body (raises BoardError / LinkTimeout)."""
        (out,) = self.exchange([Request(ftype, body, answer_len, exact_len, work_s)], window=1)
        if isinstance(out, Exception):
            raise out
        return out

    def exchange(self, requests: list[Request], window: int = 2) -> list[bytes | LinkError]:
        """Send requests with up to `window` in flight (full duplex: the next request travels
        while the previous answer comes back). Returns, per request, its answer body or the
        LinkError that ended it — every request is answered or reported failed."""
        results: list[bytes | LinkError | None] = [None] * len(requests)
        todo = list(range(len(requests)))[::-1]
        flying: dict[int, _InFlight] = {}  # seq → in flight, in send order
        self.stats.requests += len(requests)
        self._window = window
        while todo or flying:
            while todo and len(flying) < window:
                i = todo.pop()
                req = requests[i]
                seq = self._next_seq()
                f = _InFlight(i, req, seq, encode_frame(req.ftype, seq, req.body),
                              self.timeout_for(len(req.body), req.answer_len, req.work_s))  # fmt: skip
                flying[seq] = f
                self._send(f, results, flying)
            wait = min(f.deadline for f in flying.values()) - time.monotonic() if flying else 0
            for item in self._receive(max(0.0, min(0.05, wait))):
                self._handle(item, results, flying)
            if flying and self._repl_seen():
                for f in list(flying.values()):
                    self._send(f, results, flying, resend=True)
            now = time.monotonic()
            for f in [f for f in flying.values() if now > f.deadline]:
                self.stats.timeouts += 1
                self._send(f, results, flying, resend=True)
        return results  # type: ignore[return-value]

    def _send(self, f: _InFlight, results: list, flying: dict, resend: bool = False) -> None:
        if f.sends > self.retries:
            flying.pop(f.seq, None)
            self.stats.failed += 1
            results[f.index] = LinkTimeout(
                f"{self.t.description}: request type 0x{f.req.ftype:02x} seq {f.seq} unanswered "
                f"after {f.sends} attempts ({self.stats.to_dict()})")  # fmt: skip
            return
        if resend:
            self.stats.retries += 1
        self.t.write(f.frame)
        now = time.monotonic()
        f.sends += 1
        f.deadline = now + f.timeout_s
        f.t_first = f.t_first or now
        self.stats.sends += 1
        self.stats.bytes_tx += len(f.frame)

    def _oldest(self, flying: dict) -> _InFlight | None:
        return next(iter(flying.values()), None)

    def _handle(self, item, results: list, flying: dict) -> None:
        if isinstance(item, BadFrame):
            if item.looks_like_text:
                return
            self.stats.bad_frames += 1  # most likely an answer, damaged: ask again
            oldest = self._oldest(flying)
            if oldest is not None:
                self._send(oldest, results, flying, resend=True)
            return
        if item.ftype == H.HELLO:  # the harness (re)started: everything in flight is lost
            self.stats.resets += 1
            self.hello = item
            for f in list(flying.values()):
                self._send(f, results, flying, resend=True)
            return
        if item.ftype == H.NAK:  # the board got a damaged frame: the oldest it has not answered
            self.stats.naks += 1
            oldest = self._oldest(flying)
            if oldest is None:
                return
            if item.body[:1] == bytes([NAK_TOO_LONG]) and len(oldest.frame) > self.max_frame:
                flying.pop(oldest.seq)  # too long for the board's buffer: resending cannot help
                self.stats.failed += 1
                results[oldest.index] = LinkError(
                    f"the board refused a {len(oldest.req.body)}-byte request as too long: "
                    f"send smaller batches (protocol.batch_capacity)")  # fmt: skip
                return
            self._send(oldest, results, flying, resend=True)
            return
        f = flying.get(item.seq)
        if f is None:
            self.stats.stale += 1  # a duplicate answer to something already settled
            return
        if item.ftype == H.ERR:
            flying.pop(item.seq)
            self.stats.board_errors += 1
            results[f.index] = BoardError(*decode_err(item.body))
            return
        want = f.req.ftype | H.REPLY
        if item.ftype != want or (f.req.exact_len is not None and len(item.body) != f.req.exact_len):
            self.stats.bad_frames += 1  # right seq, wrong shape: damaged beyond the CRC
            self._send(f, results, flying, resend=True)
            return
        flying.pop(item.seq)
        self.stats.answered += 1
        if f.sends == 1 and self._window == 1:
            self.stats.rtt_s.append(time.monotonic() - f.t_first)
        results[f.index] = item.body

    def _repl_seen(self) -> bool:
        """The board printed REPL text (banner, prompt, traceback): it left the harness."""
        text = self.decoder.take_text() + self.decoder.pending_text()
        if not (text and any(sign in text for sign in REPL_SIGNS)):
            return False
        self.stats.resets += 1
        self.decoder.clear()
        if self.on_reset is not None:
            try:
                self.on_reset()
            except (AssayError, OSError):  # e.g. the restart itself was garbled: the requests
                self.stats.restart_failures += 1  # time out and are reported failed, or the
        return True  # board's next REPL text triggers another attempt
