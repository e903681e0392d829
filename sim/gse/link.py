"""A stand-alone space link: flight software and ground in one process on simulated time.

Until the simulator's communications module drives the executive, this loop is the world: it
steps an `Executive` on a fixed step, feeds it the environment's messages, opens and closes
ground passes, moves packets both ways with a one-way light time and a byte budget from the
data rate, and can drop or corrupt packets (seeded, so runs repeat). A pass can be *missed*:
the spacecraft sees its scheduled contact and transmits, but the ground hears nothing — the
case store-and-forward exists for.

Anything with `now_ns`, `step_ns`, `run_until(t_ns)`, `uplink(raw) -> bool`, `ground_contact()`
and a `downlink_sink` / `step_hooks` can stand in for it (the simulator's comms module will).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from firmware.fsw.messages import LinkStatus

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Pass:
    start_ns: int
    end_ns: int
    missed: bool = False  # the ground station failed to track: the spacecraft still transmits


class Loopback:
    def __init__(
        self,
        exe,
        *,
        step_ns: int = NS_PER_S,
        light_time_ns: int = 0,
        rate_bps: float = 64_000.0,
        passes: list[Pass] | None = None,
        environment: Callable[[int], Iterable] | None = None,
        drop_prob: float = 0.0,
        corrupt_prob: float = 0.0,
        uplink_corrupt_prob: float = 0.0,
        seed: int = 0,
    ):
        self.exe = exe
        self.step_ns = int(step_ns)
        self.light_time_ns = int(light_time_ns)
        self.rate_bps = float(rate_bps)
        self.passes = passes
        self.environment = environment
        self.drop_prob, self.corrupt_prob, self.uplink_corrupt_prob = (
            drop_prob,
            corrupt_prob,
            uplink_corrupt_prob,
        )
        self._rng = np.random.default_rng(seed)
        self.now_ns = 0
        self.downlink_sink: Callable[[bytes, int], None] | None = None
        self.step_hooks: list[Callable[[int], None]] = []
        self._up: list[tuple[int, int, bytes]] = []  # (arrival, order, raw) heaps
        self._down: list[tuple[int, int, bytes]] = []
        self._order = 0
        self._credit = 0.0
        self.corrupt_next_uplink: bool | int = False  # True: a random bit; an int: that bit
        self.stats = {
            "tm_sent": 0,
            "tm_dropped": 0,
            "tm_corrupted": 0,
            "tm_lost_missed_pass": 0,
            "tc_sent": 0,
            "tc_corrupted": 0,
            "bytes_down": 0,
        }

    def start(self, t_ns: int = 0) -> None:
        self.now_ns = t_ns
        self.exe.reset(t_ns)

    def _pass_at(self, t_ns: int) -> Pass | None:
        if self.passes is None:
            return Pass(0, 2**62)
        return next((p for p in self.passes if p.start_ns <= t_ns < p.end_ns), None)

    def spacecraft_contact(self, t_ns: int | None = None) -> bool:
        return self._pass_at(self.now_ns if t_ns is None else t_ns) is not None

    def ground_contact(self, t_ns: int | None = None) -> bool:
        p = self._pass_at(self.now_ns if t_ns is None else t_ns)
        return p is not None and not p.missed

    def _damage(self, raw: bytes, bit: int | None = None) -> bytes:
        b = bytearray(raw)
        bit = int(self._rng.integers(len(b) * 8)) if bit is None else bit % (len(b) * 8)
        b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    def uplink(self, raw: bytes) -> bool:
        """Send a TC now; False (nothing sent) outside a tracked pass."""
        if not self.ground_contact():
            return False
        if self.corrupt_next_uplink or (
            self.corrupt_prob and self._rng.random() < self.corrupt_prob
        ):
            self.corrupt_next_uplink = False
            raw = self._damage(raw)
            self.stats["tc_corrupted"] += 1
        self._order += 1
        heapq.heappush(self._up, (self.now_ns + self.light_time_ns, self._order, bytes(raw)))
        self.stats["tc_sent"] += 1
        return True

    def run_until(self, t_ns: int) -> None:
        while self.now_ns < t_ns:
            self._step(min(self.now_ns + self.step_ns, t_ns))

    def _step(self, t: int) -> None:
        exe = self.exe
        while self._up and self._up[0][0] <= t:
            arrival, _, raw = heapq.heappop(self._up)
            exe.receive_tc(raw, arrival)
        if self.environment is not None:
            for message in self.environment(t):
                exe.ingest(message)
        contact = self.spacecraft_contact(t)
        exe.ingest(LinkStatus(t, contact, self.rate_bps if contact else 0.0))
        exe.update(t)
        dt = t - self.now_ns
        if contact:
            cap = 2 * self.rate_bps * self.step_ns / 8 / NS_PER_S + 4096  # ≥ one largest packet
            self._credit = min(self._credit + self.rate_bps * dt / 8 / NS_PER_S, cap)
            packets = exe.transmit(t, int(self._credit))
            heard = self.ground_contact(t)
            for raw in packets:
                self._credit -= len(raw)
                self.stats["tm_sent"] += 1
                self.stats["bytes_down"] += len(raw)
                if not heard:
                    self.stats["tm_lost_missed_pass"] += 1
                    continue
                if self.drop_prob and self._rng.random() < self.drop_prob:
                    self.stats["tm_dropped"] += 1
                    continue
                if self.corrupt_prob and self._rng.random() < self.corrupt_prob:
                    raw = self._damage(raw)
                    self.stats["tm_corrupted"] += 1
                self._order += 1
                heapq.heappush(self._down, (t + self.light_time_ns, self._order, raw))
        else:
            self._credit = 0.0
        self.now_ns = t
        while self._down and self._down[0][0] <= t:
            arrival, _, raw = heapq.heappop(self._down)
            if self.downlink_sink is not None:
                self.downlink_sink(raw, arrival)
        for hook in self.step_hooks:
            hook(t)
