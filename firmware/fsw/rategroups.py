"""Rate groups on an injectable clock, with overrun ("slip") detection, and the watchdog.

Time is whatever the caller says it is: `run_until(t_ns)` executes every cycle due up to
`t_ns` at its scheduled time, so the same code runs under the simulator's integer-ns clock or
a board's tick counter. A cycle's cost is the sum of what its tasks report (a modelled CPU
time, deterministic in simulation) or, when a `cpu_clock` is injected (a board), the measured
time. A cycle costing more than its group's budget is a slip (event); while the processor is
busy (a long cycle or a `stall`) later cycles cannot start, and cycles that could not run in
their period are counted as missed (event).

The watchdog is hardware: it is kicked at the end of each healthy fast cycle, and if no kick
comes within its timeout the processor is reset — `run_until` stops and returns the reset time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.fsw.events import Ev, EventLog

Task = Callable[[int], int]  # (t_ns) -> modelled cost in ns


@dataclass
class RateGroup:
    gid: int
    name: str
    period_ns: int
    budget_ns: int
    tasks: list[Task] = field(default_factory=list)
    kicks_watchdog: bool = False
    next_ns: int = 0
    cycles: int = 0
    slips: int = 0
    missed: int = 0
    last_cost_ns: int = 0
    max_cost_ns: int = 0

    def __post_init__(self):
        if self.period_ns <= 0 or not 0 < self.budget_ns <= self.period_ns:
            raise ValueError(
                f"rate group {self.name}: need 0 < budget ≤ period, "
                f"got {self.budget_ns}/{self.period_ns} ns"
            )


class Watchdog:
    """Hardware watchdog: expires `timeout_ns` after the last kick."""

    def __init__(self, timeout_ns: int):
        self.timeout_ns = int(timeout_ns)
        self.last_kick_ns = 0
        self.kicks = 0

    def reset(self, t_ns: int) -> None:
        self.last_kick_ns = t_ns

    def kick(self, t_ns: int) -> None:
        self.last_kick_ns = t_ns
        self.kicks += 1

    @property
    def deadline_ns(self) -> int:
        return self.last_kick_ns + self.timeout_ns


class Scheduler:
    """Cooperative executive over rate groups (highest rate first on ties)."""

    def __init__(
        self,
        groups: list[RateGroup],
        events: EventLog,
        watchdog: Watchdog,
        cpu_clock: Callable[[], int] | None = None,
    ):
        self.groups = sorted(groups, key=lambda g: (g.period_ns, g.gid))
        self._events = events
        self.watchdog = watchdog
        self._cpu_clock = cpu_clock
        self.busy_until_ns = 0

    def reset(self, t_ns: int) -> None:
        for g in self.groups:
            g.next_ns = t_ns
        self.busy_until_ns = t_ns
        self.watchdog.reset(t_ns)

    def stall(self, t_ns: int, duration_ns: int) -> None:
        """The processor is blocked from `t_ns` for `duration_ns` (nothing runs)."""
        self.busy_until_ns = max(self.busy_until_ns, t_ns + int(duration_ns))

    def next_due_ns(self) -> int:
        return max(min(g.next_ns for g in self.groups), self.busy_until_ns)

    def run_until(self, t_ns: int) -> int | None:
        """Run every cycle due at or before `t_ns`. Returns the watchdog reset time if the
        watchdog expired on the way (the caller must reboot), else None."""
        groups = self.groups  # sorted by (period, gid): the first due wins ties
        while True:
            group = groups[0]
            for g in groups:
                if g.next_ns < group.next_ns:
                    group = g
            start = max(group.next_ns, self.busy_until_ns)
            if start > self.watchdog.deadline_ns and self.watchdog.deadline_ns <= t_ns:
                return self.watchdog.deadline_ns
            if start > t_ns:
                return None
            late = (start - group.next_ns) // group.period_ns
            if late > 0:  # the processor was busy through whole periods: those cycles are lost
                group.missed += late
                group.next_ns += late * group.period_ns
                self._events.raise_(
                    start, Ev.CYCLES_MISSED, group=group.gid, missed=min(late, 2**32 - 1)
                )
            self._run_cycle(group, start)
            group.next_ns += group.period_ns

    def _run_cycle(self, group: RateGroup, start: int) -> None:
        t0 = self._cpu_clock() if self._cpu_clock else 0
        modelled = 0
        for task in group.tasks:
            modelled += int(task(start))
        cost = self._cpu_clock() - t0 if self._cpu_clock else modelled
        group.cycles += 1
        group.last_cost_ns = cost
        group.max_cost_ns = max(group.max_cost_ns, cost)
        self.busy_until_ns = start + cost
        if cost > group.budget_ns:
            group.slips += 1
            self._events.raise_(
                start,
                Ev.RATE_GROUP_SLIP,
                group=group.gid,
                cost_us=min(cost // 1000, 2**32 - 1),
                budget_us=group.budget_ns // 1000,
            )
        elif group.kicks_watchdog:
            self.watchdog.kick(start + cost)
