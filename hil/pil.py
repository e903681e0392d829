"""Processor-in-the-loop: the flight software's classifier seam, answered by a board.

The flight software (`firmware.onboard.OnboardLoop`, `firmware.fsw.computer.FswComputer`)
takes any object with `classify(wavelength_um, reflectance (N, B), error) -> BatchResult`.
`BoardInTheLoop` is one. For every call it
1. runs the host's own classifier (`firmware.busdemeo.classify_batch`, one thread) — the
   reference answer, and the e/h/k narrow-feature detections the board needs as input (a
   0.05 µm grid cannot resolve them);
2. resamples each spectrum to the 41-point DeMeo grid and sends the rows to the board in
   BATCH requests (`hil.dut.BoardClassifier`: framing, retries, resync, reset recovery);
3. returns the host's BatchResult with the *board's* answer in it — class, w flag, status,
   slope and PC scores, i.e. everything the board computes; the features, χ² and flags stay
   the host's (the board never sees the raw spectrum) — and keeps the host's answer beside
   it, spectrum by spectrum (`rows()`), counting agreements and listing disagreements.

A request the board does not answer (link lost, timeout, an ERR) is never replaced by a
guess. `fallback="unclassified"` (default): the observation is left unclassified with the
reason (status `LINK_FAILED`, `BoardBatch.failed(i)` says why, so the executive treats it as
a classifier failure and raises its CLASSIFY_FAILED event). `fallback="host"`: the host's
answer is used and the observation is listed as a link failure. On a noisy line a failed
BATCH is split and its halves sent again (a short frame survives where a long one cannot),
and later calls use the smaller batch until the line has been clean for a while. A board
that stays silent for `SILENT_CALLS_LOST` calls in a row (or whose port vanished) is
declared lost: nothing more is sent, every later spectrum fails at once with that reason.

`report()` is deterministic for a given set of answers (it goes into report.json);
`link_report()` holds what depends on the line and the clock (retries, CRC errors, resyncs,
latency: timing.json). `faults=hil.faults.FaultPlan(...)` puts a fault-injecting line
between the link and the (already flashed and started) board.

    with BoardInTheLoop("vboard:") as board:        # or "/dev/ttyACM0", "socket://…"
        mission = run_mission(scenario, classifier=board)
        board.report(), board.link_report(), board.rows()
"""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from dataclasses import dataclass

import numpy as np

from firmware._jit import set_threads
from firmware.busdemeo import BatchResult, classify_batch
from firmware.errors import AssayError
from firmware.taxonomy import load_demeo_model
from hil import protocol as P
from hil.dut import BoardClassification, BoardClassifier
from hil.faults import FaultPlan, FaultyTransport
from hil.parity import board_inputs

LINK_FAILED = 9  # status of a spectrum the board did not answer (fallback "unclassified")
MAX_LISTED = 100  # disagreements and failures listed in report(); rows() has them all
FALLBACKS = ("unclassified", "host")
SILENT_CALLS_LOST = 3  # calls in a row with not one byte of answer: the board is gone
CLEAN_CALLS_TO_GROW = 16  # clean calls before a shrunken batch size is doubled again
STATIC_INFO = ("firmware", "protocol", "implementation", "version", "platform", "model_sha",
               "source_checksum", "max_payload", "q_r", "q_pc")  # fmt: skip
ROW_KEYS = ("obs_id", "host_class", "board_class", "board_status", "answered", "used", "why",
            "host_slope", "board_slope", *(f"host_pc{k}" for k in range(1, 6)),
            *(f"board_pc{k}" for k in range(1, 6)))  # fmt: skip
ON_FAILURE = {
    "unclassified": "the observation is left unclassified, never guessed: the simple loop records "
    "'board link failed: <why>'; the flight executive takes its classifier-failure path "
    "(CLASSIFY_FAILED event, reason 'classifier failed: ClassifierNoAnswer')",
    "host": "the host's answer is used and the spectrum is listed under failures (used: host)",
}
LINK_KEYS = ("requests", "answered", "failed", "board_errors", "sends", "retries", "timeouts",
             "naks", "bad_frames", "stale", "resets", "restart_failures", "bytes_tx", "bytes_rx")  # fmt: skip


@dataclass
class BoardBatch(BatchResult):
    """A BatchResult with the board's answers; `failures[i]` is why row i has none ('')."""

    failures: tuple[str, ...] = ()
    board_status: tuple[int, ...] = ()

    def failed(self, i: int) -> str:
        """Why the classifier gave no answer for row i ('' when it answered)."""
        return self.failures[i] if self.failures else ""

    def result(self, i: int, source: str = ""):
        res = super().result(i, source)
        if self.failed(i):
            return dataclasses.replace(res, reason=f"board link failed: {self.failed(i)}")
        s = self.board_status[i] if self.board_status else 0
        if s and res.cls is None:
            return dataclasses.replace(res, reason=f"refused by the board: {P.STATUS_NAMES.get(s, s)}")
        return res


def short_why(text: str) -> str:
    """A link error message without its machine-dependent tail (the link's counters)."""
    m = re.search(r"unanswered after (\d+) attempts", text)
    if m:
        return f"no valid answer after {m.group(1)} attempts"
    return text.split(" ({", 1)[0][:160]


class BoardInTheLoop:
    """A classifier for the flight software whose answers come from a board over serial."""

    wants_obs_ids = True  # the flight software passes obs_ids= (for the per-spectrum table)

    def __init__(self, port: str = "vboard:", *, fallback: str = "unclassified",
                 faults: FaultPlan | None = None, board: BoardClassifier | None = None,
                 **board_options):  # fmt: skip
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback={fallback!r}: expected one of {FALLBACKS}")
        self.port = port
        self.fallback = fallback
        self.board = board or BoardClassifier(port, **board_options)
        self.name = f"board {port}"
        self.info = dict(self.board.info)
        self.max_batch = self.batch = self.board.batch
        link = self.board.dut.link
        self._link0 = copy.deepcopy(link.stats)
        self._dec0 = copy.deepcopy(link.decoder.stats)
        self.plan = faults
        self.faulty: FaultyTransport | None = None
        if faults is not None:
            self.faulty = FaultyTransport(link.t, faults)
            link.t = self.board.dut.repl.t = self.faulty
        self._rows: list[tuple] = []  # one per spectrum sent, ROW_KEYS
        self.disagreements: list[dict] = []
        self.failures: list[dict] = []
        self.lost = ""  # why the board was declared lost ('' while it answers)
        self.lost_after = None  # spectra sent before it was
        self.silent_calls = 0
        self.clean_calls = 0
        self.splits = 0
        self.calls: list[tuple[float, int]] = []  # (seconds, spectra) of every answered call

    # -- the seam -------------------------------------------------------------------------
    def classify(self, wavelength_um, reflectance, error=None, *, obs_ids=None) -> BoardBatch:
        previous = set_threads(1)  # one core, as on the flight computer (HostClassifier's note)
        try:
            host = classify_batch(wavelength_um, reflectance, error)
            r41, detected = board_inputs(wavelength_um, reflectance, host)
        finally:
            set_threads(previous)
        n = len(host)
        ids = list(range(len(self._rows), len(self._rows) + n)) if obs_ids is None else list(obs_ids)
        out, why = self._answers(r41, detected)
        return self._merge(host, out, why, ids)

    def _merge(self, host: BatchResult, out: BoardClassification, why: list[str], ids) -> BoardBatch:
        ok = out.answered
        used_host = ~ok & (self.fallback == "host")
        cls = np.where(ok, out.class_index, host.class_index)
        status = np.where(ok, out.status, np.where(used_host, host.status, LINK_FAILED))
        # the host's checks on the raw axis (a gap, too few samples) the grid cannot show
        raw_refusal = ok & (out.status == 0) & (host.status != 0)
        status = np.where(raw_refusal, host.status, status)
        cls = np.where(status == 0, cls, -1)
        w = np.where(ok, out.w, host.w) & (status == 0)
        slope = np.where(ok, out.slope, np.where(used_host, host.slope, np.nan))
        pc = np.where(ok[:, None], out.pc, np.where(used_host[:, None], host.pc, np.nan))
        failures = tuple("" if ok[i] or used_host[i] else why[i] for i in range(len(ok)))
        self._record(host, out, why, ids, used_host)
        return BoardBatch(**{**{f.name: getattr(host, f.name) for f in dataclasses.fields(BatchResult)},
                             "class_index": cls, "w": w, "status": status, "slope": slope, "pc": pc,
                             "tree_indeterminate": host.tree_indeterminate & (ok | used_host),
                             "failures": failures, "board_status": tuple(int(s) for s in out.status)})  # fmt: skip

    # -- talking to the board -------------------------------------------------------------
    def _answers(self, r41: np.ndarray, detected: np.ndarray) -> tuple[BoardClassification, list[str]]:
        n = len(r41)
        out = BoardClassification(
            class_index=np.full(n, -1, np.int64), w=np.zeros(n, bool), status=np.full(n, -1, np.int64),
            slope=np.full(n, np.nan), pc=np.full((n, 5), np.nan), answered=np.zeros(n, bool),
        )  # fmt: skip
        why = [""] * n
        self._ask(0, n, r41, detected, out, why)
        return out, why

    def _ask(self, a: int, b: int, r41, detected, out: BoardClassification, why: list[str]) -> None:
        if self.lost:
            why[a:b] = [f"board lost: {self.lost}"] * (b - a)
            return
        self.board.batch = self.batch
        t0 = time.perf_counter()
        try:
            got = self.board.classify(r41[a:b], detected[a:b])
        except (OSError, AssayError) as exc:  # the port vanished (SerialException is an OSError)
            self._lose(f"{type(exc).__name__}: {exc}", b)
            why[a:b] = [f"board lost: {self.lost}"] * (b - a)
            return
        seconds = time.perf_counter() - t0
        for f in ("class_index", "w", "status", "slope", "pc", "answered"):
            getattr(out, f)[a:b] = getattr(got, f)
        if not got.errors:
            self.calls.append((seconds, b - a))
            self.silent_calls = 0
            self.clean_calls += 1
            if self.clean_calls >= CLEAN_CALLS_TO_GROW and self.batch < self.max_batch:
                self.batch, self.clean_calls = min(self.max_batch, 2 * self.batch), 0
            return
        self.clean_calls = 0
        s = got.stats
        alive = got.answered.any() or any(s.get(k, 0) for k in ("answered", "naks", "stale", "board_errors",
                                                                 "bad_frames", "bytes_rx"))  # fmt: skip
        self.silent_calls = 0 if alive else self.silent_calls + 1
        for fa, fb, text in got.errors:
            fa, fb = a + fa, a + fb
            if alive and fb - fa > 1:  # a noisy line: shorter frames get through
                self.splits += 1
                self.batch = max(1, min(self.batch, (fb - fa) // 2))
                mid = (fa + fb) // 2
                self._ask(fa, mid, r41, detected, out, why)
                self._ask(mid, fb, r41, detected, out, why)
            else:
                why[fa:fb] = [short_why(text)] * (fb - fa)
        if self.silent_calls >= SILENT_CALLS_LOST:
            self._lose(f"no answer at all (not one byte) to {self.silent_calls} calls in a row", b)

    def _lose(self, why: str, at: int) -> None:
        """Stop talking to the board; `at` = spectra of this call already tried."""
        if not self.lost:
            self.lost = why
            self.lost_after = len(self._rows) + at

    # -- bookkeeping --------------------------------------------------------------------------
    def _record(self, host: BatchResult, out: BoardClassification, why, ids, used_host) -> None:
        hl, bl = host.labels(), out.labels()
        for i, oid in enumerate(ids):
            oid = int(oid)
            numbers = (float(host.slope[i]), float(out.slope[i]), *map(float, host.pc[i]), *map(float, out.pc[i]))
            if not out.answered[i]:
                used = "host" if used_host[i] else "none"
                self._rows.append((oid, hl[i] or "", "", -1, False, used, why[i], *numbers))
                if len(self.failures) < MAX_LISTED:
                    self.failures.append({"obs_id": oid, "host": hl[i], "used": used, "why": why[i]})
                continue
            self._rows.append((oid, hl[i] or "", bl[i] or "", int(out.status[i]), True, "board", "", *numbers))
            if hl[i] != bl[i] and len(self.disagreements) < MAX_LISTED:
                self.disagreements.append({
                    "obs_id": oid, "host": hl[i], "board": bl[i], "board_status": int(out.status[i]),
                    "host_status": int(host.status[i]),
                    # the host took its class from the error-weighted nearest C/X template
                    "host_tree_indeterminate": bool(host.tree_indeterminate[i]),
                    "host_slope": _r(host.slope[i]), "board_slope": _r(out.slope[i]),
                    "host_pc": [_r(v) for v in host.pc[i]], "board_pc": [_r(v) for v in out.pc[i]],
                })  # fmt: skip

    def rows(self) -> list[dict]:
        """Every spectrum sent, in order (`ROW_KEYS`): both answers (class, slope µm⁻¹, PC
        scores; NaN where there is none), whether the board answered, which answer the flight
        software used ('board', 'host' or 'none') and why."""
        return [dict(zip(ROW_KEYS, r, strict=True)) for r in self._rows]

    def report(self) -> dict:
        """The board section of report.json: deterministic for a given set of answers."""
        rows = self._rows
        answered = sum(1 for r in rows if r[4])
        agree = sum(1 for r in rows if r[4] and r[1] == r[2])
        info = {k: self.info[k] for k in STATIC_INFO if k in self.info}
        fmt = next(k for k, v in P.FMT_NAMES.items() if v == self.board.fmt)
        return {
            "port": self.port, "info": info, "format": fmt,
            "model_matches_host": info.get("source_checksum") == load_demeo_model().checksum,
            "fallback": self.fallback, "retries": self.board.dut.link.retries,
            "on_failure": ON_FAILURE[self.fallback],
            "spectra": len(rows), "answered": answered, "failed": len(rows) - answered,
            "agree": agree, "disagree": answered - agree,
            "disagreements": self.disagreements, "failures": self.failures, "listed_at_most": MAX_LISTED,
            "lost": {"why": self.lost, "after_spectra": self.lost_after} if self.lost else None,
            **({"injected_faults": dataclasses.asdict(self.plan)} if self.plan else {}),
        }  # fmt: skip

    def link_report(self) -> dict:
        """What depends on the line and the clock: link counters, latency, board memory."""
        link = self.board.dut.link
        s = link.stats.since(self._link0).to_dict()
        d0, d = self._dec0, link.decoder.stats
        resyncs = sum(getattr(d, k) - getattr(d0, k) for k in ("bad_cobs", "bad_crc", "short", "bad_length", "too_long"))
        out = {k: s[k] for k in LINK_KEYS}
        out.update(crc_errors=d.bad_crc - d0.bad_crc, resyncs=resyncs,
                   garbage_bytes=d.garbage_bytes - d0.garbage_bytes, restarts=self.board.dut.restarts,
                   splits=self.splits, batch_max=self.max_batch, batch_final=self.batch)  # fmt: skip
        per_spec = sorted(1e3 * t / n for t, n in self.calls)
        per_call = sorted(1e3 * t for t, _ in self.calls)
        lat = {"calls": len(self.calls), "spectra": sum(n for _, n in self.calls)}
        for name, v in (("per_spectrum_ms", per_spec), ("per_call_ms", per_call)):
            if v:
                lat[name] = {"median": _r(v[len(v) // 2], 3), "p95": _r(v[int(0.95 * (len(v) - 1))], 3),
                             "max": _r(v[-1], 3)}  # fmt: skip
        fr = self.board.flash_report
        return {
            "link": out, "latency": lat,
            "board_memory": {k: self.info.get(k) for k in ("mem_free", "mem_alloc")},
            "flash": fr.summary() if fr else "not flashed here (board already serving)",
            **({"injected": dataclasses.asdict(self.faulty.counts)} if self.faulty else {}),
        }  # fmt: skip

    def close(self) -> None:
        """Stop the harness (QUIT, on a clean line) and close the port — unless the board was
        lent by its owner (`BoardClassifier.on_dut`), which is then left as it was found."""
        if self.faulty is not None:
            self.board.dut.link.t = self.board.dut.repl.t = self.faulty.inner
        if self.lost and getattr(self.board, "_own", False):
            self.board.dut.running = False  # do not wait for a QUIT a lost board cannot answer
        self.board.close()

    def __enter__(self) -> BoardInTheLoop:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _r(x, nd: int = 6):
    x = float(x)
    return round(x, nd) if np.isfinite(x) else None
