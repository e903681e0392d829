"""A fault-injecting wrapper around a real Transport: a noisy, lossy serial line on purpose.

It sits between the link and a real board (virtual or physical) and damages the real bytes
in both directions, from one seeded generator (deterministic fault positions for a given
byte stream):

* bit flips — every bit independently with probability `ber` (bit-error rate);
* dropped bytes (`drop_rate` per byte) and inserted random bytes (`insert_rate` per byte);
* garbage bursts — random runs of 8–64 bytes, with probability `burst_rate` per chunk;
* one board reset (`reset_after_tx_bytes`): after that many host bytes the board is
  hard-reset in the middle of whatever frame is on its way.

Every fault is counted in `FaultCounts`, so a test can show the faults did happen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FaultPlan:
    ber: float = 0.0
    drop_rate: float = 0.0
    insert_rate: float = 0.0
    burst_rate: float = 0.0
    burst_bytes: tuple[int, int] = (8, 64)
    reset_after_tx_bytes: int | None = None
    tx: bool = True  # damage host → board
    rx: bool = True  # damage board → host
    seed: int = 0


@dataclass
class FaultCounts:
    bits_flipped: int = 0
    bytes_dropped: int = 0
    bytes_inserted: int = 0
    bursts: int = 0
    resets: int = 0


class FaultyTransport:
    """Same interface as `hil.transport.Transport`; damages the bytes per its FaultPlan."""

    def __init__(self, inner, plan: FaultPlan):
        self.inner = inner
        self.plan = plan
        self.counts = FaultCounts()
        self.rng = np.random.default_rng(plan.seed)
        self.enabled = True
        self._tx_total = 0

    # pass-through
    @property
    def description(self) -> str:
        return f"faulty({self.inner.description})"

    @property
    def byte_time_s(self) -> float:
        return self.inner.byte_time_s

    @property
    def serial(self):
        return self.inner.serial

    def reset_input_buffer(self) -> None:
        self.inner.reset_input_buffer()

    def hard_reset(self) -> None:
        self.inner.hard_reset()

    def close(self) -> None:
        self.inner.close()

    # damage
    def damage(self, data: bytes) -> bytes:
        """Apply flips, drops, inserts and bursts to one chunk."""
        p = self.plan
        if not self.enabled or not data:
            return data
        buf = np.frombuffer(bytes(data), dtype=np.uint8).copy()
        if p.ber > 0:
            nbits = buf.size * 8
            k = int(self.rng.binomial(nbits, p.ber))
            if k:
                pos = self.rng.choice(nbits, size=k, replace=False)
                np.bitwise_xor.at(buf, pos // 8, (1 << (pos % 8)).astype(np.uint8))
                self.counts.bits_flipped += k
        if p.drop_rate > 0:
            keep = self.rng.random(buf.size) >= p.drop_rate
            self.counts.bytes_dropped += int((~keep).sum())
            buf = buf[keep]
        out = bytearray(buf.tobytes())
        if p.insert_rate > 0 and out:
            where = np.flatnonzero(self.rng.random(len(out)) < p.insert_rate)
            for i in where[::-1]:
                out[i + 1 : i + 1] = bytes([int(self.rng.integers(0, 256))])
            self.counts.bytes_inserted += len(where)
        if p.burst_rate > 0 and self.rng.random() < p.burst_rate:
            n = int(self.rng.integers(p.burst_bytes[0], p.burst_bytes[1] + 1))
            at = int(self.rng.integers(0, len(out) + 1))
            out[at:at] = self.rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            self.counts.bursts += 1
        return bytes(out)

    def write(self, data: bytes) -> None:
        data = bytes(data)
        limit = self.plan.reset_after_tx_bytes
        if self.enabled and limit is not None and self._tx_total < limit <= self._tx_total + len(data):
            cut = limit - self._tx_total
            self._tx_total += len(data)
            self.inner.write(self.damage(data[:cut]) if self.plan.tx else data[:cut])
            self.inner.hard_reset()
            self.counts.resets += 1
            rest = data[cut:]
            self.inner.write(self.damage(rest) if self.plan.tx else rest)
            return
        self._tx_total += len(data)
        self.inner.write(self.damage(data) if self.plan.tx else data)

    def read(self, size: int = 1) -> bytes:
        data = self.inner.read(size)
        return self.damage(data) if self.plan.rx else data

    def read_available(self, wait_s: float = 0.02) -> bytes:
        data = self.inner.read_available(wait_s)
        return self.damage(data) if self.plan.rx else data

    def drain(self, quiet_s: float = 0.05, max_s: float = 2.0) -> bytes:
        data = self.inner.drain(quiet_s, max_s)
        return self.damage(data) if self.plan.rx else data


def soak(dut, plan: FaultPlan, n_requests: int, *, window: int = 2, max_echo: int = 96) -> dict:
    """ECHO `n_requests` random payloads over `dut`'s link through a FaultyTransport with
    `plan`: how many came back right, failed (reported), or wrong (undetected corruption)."""
    from firmware.board import assay_harness as H
    from hil.link import Request

    rng = np.random.default_rng(plan.seed + 1)
    payloads = [rng.integers(0, 256, int(rng.integers(1, max_echo + 1)), dtype=np.uint8).tobytes()
                for _ in range(n_requests)]  # fmt: skip
    inner = dut.link.t
    faulty = FaultyTransport(inner, plan)
    dut.link.t = dut.repl.t = faulty
    try:
        answers = dut.link.exchange(
            [Request(H.ECHO, p, answer_len=len(p), exact_len=len(p)) for p in payloads], window=window)
    finally:
        dut.link.t = dut.repl.t = inner
    wrong = sum(1 for a, p in zip(answers, payloads, strict=True) if not isinstance(a, Exception) and a != p)
    failed = sum(1 for a in answers if isinstance(a, Exception))
    return {"requests": n_requests, "answered_ok": n_requests - failed - wrong, "failed": failed,
            "undetected_wrong": wrong, "faults": faulty.counts.__dict__,
            "link": dut.link.stats.to_dict()}  # fmt: skip
