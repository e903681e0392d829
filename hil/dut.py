"""The device under test: a flashed board running the harness, and the classifier API.

`Dut` ties one Transport to the raw-REPL client (flashing, starting the harness) and the
framed `Link` (requests). `BoardClassifier` is what the simulator's processor-in-the-loop
mode calls: spectra on the DeMeo grid plus the host-measured e/h/k flags in, the board's
classes and the link's account of every request out.

    with BoardClassifier("vboard:") as bc:          # or "/dev/ttyACM0", "socket://…"
        out = bc.classify(r41, flags)              # (N, 41), (N, 3)
        out.labels(), out.answered, out.stats
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from firmware.board import assay_harness as H
from firmware.errors import AssayError
from firmware.taxonomy import CLASS_NAMES
from hil import protocol as P
from hil.flash import FlashReport, flash
from hil.framing import Frame
from hil.link import Link, LinkError, Request
from hil.rawrepl import RawRepl
from hil.transport import Transport, open_transport

START_CODE = "import assay_harness\nassay_harness.serve()"
# Board time per spectrum, allowed on top of the wire time (a Pico runs the integer
# pipeline in a few ms; the Unix port in ~0.2 ms). Only a deadline, never a measurement.
WORK_PER_SPECTRUM_S = 0.05


class Dut:
    """A board on a Transport: flash it, start the harness, send requests."""

    def __init__(self, transport: Transport, *, retries: int = 8, base_timeout_s: float = 0.25):
        self.t = transport
        self.repl = RawRepl(transport)
        self.link = Link(transport, retries=retries, base_timeout_s=base_timeout_s,
                         on_reset=self.restart)  # fmt: skip
        self.restarts = 0
        self.running = False
        self.info: dict | None = None
        self._restarting = False

    def flash(self, **kwargs) -> FlashReport:
        """Flash the harness (hil.flash.flash options); the board is left in the raw REPL."""
        self.running = False
        return flash(self.repl, **kwargs)

    def start(self) -> dict:
        """Start the harness from the raw REPL; wait for its HELLO; return INFO."""
        self.repl.start(START_CODE)
        self.link.decoder.clear()
        early = [f for f in self.link.decoder.feed(self.repl.take_buffer())  # read with "OK"
                 if isinstance(f, Frame) and f.ftype == H.HELLO]  # fmt: skip
        if early:
            self.link.hello = early[-1]
            return self._after_start()
        try:
            self.link.wait_hello()
        except LinkError as exc:
            raise LinkError(f"the harness did not start: {exc}. If the board printed "
                            "MemoryError, flash with --mpy (no compiling on the board)") from exc
        return self._after_start()

    def _after_start(self) -> dict:
        self.running = True
        self.info = self.get_info()
        return self.info

    def restart(self) -> None:
        """The board reset into its REPL: start the harness again (the link then resends)."""
        if self._restarting:
            return
        self._restarting = True
        try:
            self.restarts += 1
            self.repl.enter()
            self.start()
        finally:
            self._restarting = False

    def stop(self) -> None:
        """QUIT the harness: the board is back at its REPL, Ctrl-C works again."""
        if self.running:
            self.link.request(H.QUIT, answer_len=0, exact_len=0)
            self.running = False

    # ---- requests ---------------------------------------------------------------------
    def ping(self) -> None:
        self.link.request(H.PING, answer_len=0, exact_len=0)

    def get_info(self) -> dict:
        return P.decode_info(self.link.request(H.INFO, answer_len=400))

    def echo(self, data: bytes) -> bytes:
        return self.link.request(H.ECHO, data, answer_len=len(data), exact_len=len(data))

    def classify(self, r41, flags, fmt: int = H.FMT_INT16) -> P.BoardResult:
        body = P.classify_body(r41, flags, fmt)
        answer = self.link.request(H.CLASSIFY, body, answer_len=H.RESULT_SIZE,
                                   work_s=WORK_PER_SPECTRUM_S, exact_len=H.RESULT_SIZE)  # fmt: skip
        return P.decode_result(answer)

    @staticmethod
    def _batch_request(r41s, flags, fmt: int = H.FMT_INT16) -> Request:
        n = len(r41s)
        return Request(H.BATCH, P.batch_body(r41s, flags, fmt), answer_len=n * H.RESULT_SIZE,
                       exact_len=n * H.RESULT_SIZE, work_s=n * WORK_PER_SPECTRUM_S)  # fmt: skip

    def batch_request(self, r41s, flags, fmt: int = H.FMT_INT16) -> Request:
        req = self._batch_request(r41s, flags, fmt)
        limit = int(self.info["max_payload"]) if self.info else H.MAX_PAYLOAD
        if len(req.body) > limit:
            raise ValueError(
                f"a BATCH of {len(r41s)} spectra is {len(req.body)} bytes; the board takes {limit}: "
                f"send at most {P.batch_capacity(limit, fmt)} per batch")  # fmt: skip
        return req

    def classify_batch(self, r41s, flags, fmt: int = H.FMT_INT16) -> list[P.BoardResult]:
        req = self.batch_request(r41s, flags, fmt)
        answer = self.link.request(req.ftype, req.body, answer_len=req.answer_len,
                                   work_s=req.work_s, exact_len=req.exact_len)  # fmt: skip
        return P.decode_results(answer, len(r41s))


@dataclass
class BoardClassification:
    """The board's answers for N spectra; `answered[i]` False = the request failed (see errors)."""

    class_index: np.ndarray  # (N,) int64, −1 = not classified or not answered
    w: np.ndarray  # (N,) bool
    status: np.ndarray  # (N,) int64, board status; −1 = no answer
    slope: np.ndarray  # (N,) µm⁻¹, NaN without an answer
    pc: np.ndarray  # (N, 5)
    answered: np.ndarray  # (N,) bool
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # (first, last+1, why)
    stats: dict = field(default_factory=dict)  # the link's counts during this call

    def labels(self) -> list[str | None]:
        return [CLASS_NAMES[c] + ("w" if w else "") if c >= 0 else None
                for c, w in zip(self.class_index, self.w, strict=True)]  # fmt: skip


class BoardClassifier:
    """Classify spectra on a board: `BoardClassifier(port).classify(r41 (N,41), flags (N,3))`.

    Opens the port (spawning vboard:/qemu: boards), flashes the harness unless it is already
    there (sha256), starts it, and sends BATCH requests sized to the board's payload limit.
    Every spectrum is answered or reported failed in `errors`; the link's counts are in
    `stats`. The host keeps its own answer: compare with `firmware.busdemeo.classify_grid`.
    """

    def __init__(self, port: str = "vboard:", *, mpy: bool = False, fmt: str = "int16",
                 retries: int = 8, flash_board: bool = True, transport: Transport | None = None,
                 batch: int | None = None, window: int = 2):  # fmt: skip
        if fmt not in P.FMT_NAMES:
            raise ValueError(f"fmt={fmt!r}: expected one of {sorted(P.FMT_NAMES)}")
        self.fmt = P.FMT_NAMES[fmt]
        self._own = transport is None
        self.t = transport or open_transport(port)
        try:
            self.dut = Dut(self.t, retries=retries)
            self.flash_report = self.dut.flash(mpy=mpy) if flash_board else None
            names = {a.name.rsplit(".", 1)[0] for a in (self.flash_report.actions if self.flash_report else [])}
            if self.flash_report and "assay_harness" not in names:
                raise AssayError(f"{self.flash_report.platform}: this board carries only the classifier "
                                 "core (16 KB RAM), not the serving harness; see tests/hil/test_hil_qemu.py "
                                 "for running the core there")  # fmt: skip
            self.info = self.dut.start()
        except BaseException:
            self.close()
            raise
        self.batch = batch or P.batch_capacity(int(self.info["max_payload"]), self.fmt)
        self.window = window

    @classmethod
    def on_dut(cls, dut: Dut, *, fmt: str = "int16", batch: int | None = None,
               window: int = 2) -> BoardClassifier:  # fmt: skip
        """A classifier on a board that is already flashed and serving (e.g. a test session's);
        closing it leaves the board and its port alone."""
        self = cls.__new__(cls)
        self.fmt = P.FMT_NAMES[fmt]
        self._own = False
        self.t, self.dut, self.flash_report = dut.t, dut, None
        self.info = dut.info or dut.get_info()
        self.batch = batch or P.batch_capacity(int(self.info["max_payload"]), self.fmt)
        self.window = window
        return self

    def classify(self, r41, flags) -> BoardClassification:
        r41 = np.asarray(r41, dtype=np.float64)
        flags = np.asarray(flags)
        if r41.ndim != 2 or r41.shape[1] != P.N_GRID:
            raise ValueError(f"r41 must be (N, {P.N_GRID}) on the DeMeo grid, got {r41.shape}")
        if flags.shape != (r41.shape[0], 3):
            raise ValueError(f"flags must be (N, 3) e/h/k detections, got {flags.shape}")
        n = r41.shape[0]
        out = BoardClassification(
            class_index=np.full(n, -1, np.int64), w=np.zeros(n, bool), status=np.full(n, -1, np.int64),
            slope=np.full(n, np.nan), pc=np.full((n, 5), np.nan), answered=np.zeros(n, bool),
        )  # fmt: skip
        before = copy.deepcopy(self.dut.link.stats)
        restarts = self.dut.restarts
        spans = [(a, min(n, a + self.batch)) for a in range(0, n, self.batch)]
        reqs = [self.dut.batch_request(r41[a:b], flags[a:b], self.fmt) for a, b in spans]
        for (a, b), answer in zip(spans, self.dut.link.exchange(reqs, window=self.window), strict=True):
            try:
                if isinstance(answer, Exception):
                    raise answer
                results = P.decode_results(answer, b - a)
            except (LinkError, P.ProtocolError) as exc:
                out.errors.append((a, b, str(exc)))
                continue
            for i, res in enumerate(results, start=a):
                out.class_index[i], out.w[i], out.status[i] = res.class_index, res.w, res.status
                out.slope[i], out.pc[i], out.answered[i] = res.slope, res.pc, True
        out.stats = {**self.dut.link.stats.since(before).to_dict(), "restarts": self.dut.restarts - restarts}
        return out

    def close(self) -> None:
        dut = getattr(self, "dut", None)
        if not self._own:
            return
        try:
            if dut is not None and dut.running:
                dut.stop()
        except LinkError:
            pass
        finally:
            if self._own:
                self.t.close()

    def __enter__(self) -> BoardClassifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
