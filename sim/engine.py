"""The simulation loop: one integer-ns clock, a fixed step, skips over quiet stretches.

Every step the engine updates each module in a fixed order (data flows down the list: a
module reads what the modules before it published this step, and what those after it
published last step). Then it asks every module how long it will stay quiet
(`quiet_until_ns`) and, when all agree that nothing happens for a while, jumps to the last
grid point before the earliest of those times (at most `max_skip`). Modules integrate over
a skip exactly as over the steps it replaces, so skipping changes the cost, not the result
(tested: same report with and without).

Time acceleration: as fast as possible by default; `Pacer(speed=X)` holds simulated time
to X × wall-clock time (X = 1: real time, needed to drive real hardware).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sim.bus import MessageBus, Module


class Pacer:
    """Sleeps so that simulated time runs at `speed` × wall time (None: no pacing)."""

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        if speed is not None and speed <= 0:
            raise ValueError(f"--speed must be > 0 (1 = real time), got {speed}")
        self.speed, self.clock, self.sleep = speed, clock, sleep
        self.start: float | None = None
        self.slept_s = 0.0

    def wait(self, t_ns: int) -> None:
        if self.speed is None:
            return
        if self.start is None:
            self.start = self.clock()
        ahead = self.start + t_ns / 1e9 / self.speed - self.clock()
        if ahead > 0:
            self.sleep(ahead)
            self.slept_s += ahead


@dataclass
class RunStats:
    steps: int = 0  # module update rounds
    fine_steps: int = 0
    skips: int = 0
    skipped_ns: int = 0


class Engine:
    def __init__(self, bus: MessageBus, modules: list[Module], step_ns: int, t_end_ns: int,
                 event_skipping: bool = True, max_skip_ns: int | None = None,
                 pacer: Pacer | None = None,
                 progress: Callable[[int], None] | None = None):  # fmt: skip
        if step_ns <= 0:
            raise ValueError("step must be positive")
        self.bus, self.modules = bus, modules
        self.step_ns, self.t_end_ns = step_ns, t_end_ns
        self.event_skipping = event_skipping
        self.max_skip_ns = max_skip_ns or t_end_ns
        self.pacer = pacer or Pacer(None)
        self.progress = progress
        self.stats = RunStats()

    # -- driving: run() to the end, or start() then advance(t) from a ground script -------
    def start(self) -> None:
        """Reset every module at t = 0; the first update round is due at t = 0."""
        for m in self.modules:
            m.reset(0)
        self.next_ns = 0  # time of the next update round
        self.now_ns = -1  # time of the last completed round (−1: none yet)
        self.done = False

    def step(self, limit_ns: int | None = None) -> None:
        """One update round at `next_ns`, then choose the next round's time: one step on, or
        a skip over a quiet stretch, never beyond `limit_ns` (a driver's stop) or the end."""
        t, step, t_end = self.next_ns, self.step_ns, self.t_end_ns
        for m in self.modules:
            m.update(t)
        self.stats.steps += 1
        self.now_ns = t
        if t >= t_end:
            self.done = True
            return
        t_next = t + step
        cap = t_end if limit_ns is None else max(min(limit_ns, t_end), t_next)
        if self.event_skipping:
            quiet = min(m.quiet_until_ns(t) for m in self.modules)
            target = min(quiet, t + self.max_skip_ns, cap)
            target -= target % step  # land on the grid, at or before the next event
            if target > t_next:
                self.stats.skips += 1
                self.stats.skipped_ns += target - t_next
                t_next = target
            else:
                self.stats.fine_steps += 1
        else:
            self.stats.fine_steps += 1
        self.pacer.wait(t_next)
        if self.progress is not None:
            self.progress(t_next)
        self.next_ns = t_next

    def advance(self, t_ns: int) -> None:
        """Run update rounds until the world has been updated at `t_ns` (or the end)."""
        while not self.done and self.now_ns < t_ns:
            self.step(t_ns)

    def run(self) -> RunStats:
        self.start()
        while not self.done:
            self.step()
        return self.stats
