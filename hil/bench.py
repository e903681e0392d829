"""Link benchmarks: throughput of large frames and round-trip latency (for `assay hil bench`).

Throughput: ECHO frames of `frame_bytes` with two requests in flight, so both directions of
the (full-duplex) line carry payload at the same time; reported per direction as payload
bytes per second and as a fraction of the line rate (baud / 10 bytes/s: 8N1 framing).
Latency: stop-and-wait PING and single-spectrum CLASSIFY round trips (median, 95th pct).
Also the board's classification rate with BATCH requests.

Wall-clock numbers: run on an idle machine; they are reported, never asserted in tests.
"""

from __future__ import annotations

import time

import numpy as np

from firmware.board import assay_harness as H
from hil.framing import wire_size
from hil.link import Request


def _percentiles(xs: list[float]) -> tuple[float, float]:
    a = np.sort(np.asarray(xs))
    return float(np.median(a)), float(a[int(0.95 * (len(a) - 1))])


def throughput(dut, frame_bytes: int = 2048, n_frames: int = 16, window: int = 2, seed: int = 0) -> dict:
    """ECHO `n_frames` random frames of `frame_bytes`; payload rate vs the line rate."""
    rng = np.random.default_rng(seed)
    payloads = [rng.integers(0, 256, frame_bytes, dtype=np.uint8).tobytes() for _ in range(n_frames)]
    reqs = [Request(H.ECHO, p, answer_len=len(p), exact_len=len(p)) for p in payloads]
    t0 = time.perf_counter()
    answers = dut.link.exchange(reqs, window=window)
    dt = time.perf_counter() - t0
    ok = sum(a == p for a, p in zip(answers, payloads, strict=True))
    line_bps = dut.t.baud / 10.0
    rate = frame_bytes * n_frames / dt
    return {
        "frame_bytes": frame_bytes, "frames": n_frames, "echoed_ok": ok, "window": window,
        "seconds": dt, "payload_bytes_per_s": rate, "line_bytes_per_s": line_bps,
        "fraction_of_line_rate": rate / line_bps,
        "framing_efficiency": frame_bytes / wire_size(frame_bytes),
    }  # fmt: skip


def latency(dut, n: int = 50) -> dict:
    """Stop-and-wait round trips: PING (empty) and CLASSIFY (one int16 spectrum)."""
    ping, cls = [], []
    r41 = np.linspace(0.9, 1.3, 41)
    for _ in range(n):
        t0 = time.perf_counter()
        dut.ping()
        ping.append(time.perf_counter() - t0)
    for _ in range(n):
        t0 = time.perf_counter()
        dut.classify(r41, (0, 0, 0))
        cls.append(time.perf_counter() - t0)
    p50, p95 = _percentiles(ping)
    c50, c95 = _percentiles(cls)
    return {"ping_median_ms": 1e3 * p50, "ping_p95_ms": 1e3 * p95,
            "classify_median_ms": 1e3 * c50, "classify_p95_ms": 1e3 * c95, "n": n}  # fmt: skip


def classify_rate(dut, r41, flags, batch: int = 32) -> dict:
    """Spectra per second through BATCH requests (board work + wire)."""
    n = len(r41)
    reqs = [dut.batch_request(r41[a : a + batch], flags[a : a + batch]) for a in range(0, n, batch)]
    t0 = time.perf_counter()
    answers = dut.link.exchange(reqs, window=2)
    dt = time.perf_counter() - t0
    failed = sum(isinstance(a, Exception) for a in answers)
    return {"spectra": n, "seconds": dt, "spectra_per_s": n / dt, "failed_requests": failed}
