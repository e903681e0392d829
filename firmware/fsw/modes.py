"""Spacecraft modes with guarded transitions, entry/exit actions, and an event per change.

SAFE      minimum power, instrument off, only essential telemetry; left only by command.
IDLE      healthy, waiting (the post-boot mode once SAFE has been left).
SURVEY    mapping: every observation through the spectral core.
PROSPECT  close look at a find: re-observations at a longer integration.
DOWNLINK  antenna to Earth: the telemetry store drains in order of priority and value.

`TRANSITIONS` lists every allowed (from, to) pair with the conditions that must hold (each a
named predicate supplied by the executive) and the `Guard` reported when one does not. Any
mode may go to SAFE without condition; SAFE is left only by a ground command.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from firmware.fsw.events import Ev, EventLog


class Mode(IntEnum):
    SAFE = 0
    IDLE = 1
    SURVEY = 2
    PROSPECT = 3
    DOWNLINK = 4


class Reason(IntEnum):
    BOOT = 0
    COMMAND = 1
    FDIR = 2
    AUTONOMY = 3
    LINK = 4


class Guard(IntEnum):
    OK = 0
    NOT_ALLOWED = 1
    FAULT_ACTIVE = 2
    LOW_BATTERY = 3
    MODEL_UNVERIFIED = 4
    NO_LINK = 5
    NO_TARGET = 6
    INSTRUMENT_FAULT = 7
    COMMAND_ONLY = 8


_SCIENCE = (
    ("soc_science", Guard.LOW_BATTERY),
    ("no_fault", Guard.FAULT_ACTIVE),
    ("instrument_ok", Guard.INSTRUMENT_FAULT),
    ("model_ok", Guard.MODEL_UNVERIFIED),
)
_LINK = (("link_up", Guard.NO_LINK),)
_M = Mode
TRANSITIONS: dict[tuple[Mode, Mode], tuple[tuple[str, Guard], ...]] = {
    (_M.SAFE, _M.IDLE): (
        ("command", Guard.COMMAND_ONLY),
        ("no_fault", Guard.FAULT_ACTIVE),
        ("soc_safe_exit", Guard.LOW_BATTERY),
    ),
    (_M.IDLE, _M.SURVEY): _SCIENCE,
    (_M.IDLE, _M.PROSPECT): _SCIENCE + (("reobs_pending", Guard.NO_TARGET),),
    (_M.SURVEY, _M.PROSPECT): _SCIENCE + (("reobs_pending", Guard.NO_TARGET),),
    (_M.PROSPECT, _M.SURVEY): _SCIENCE,
    (_M.SURVEY, _M.IDLE): (),
    (_M.PROSPECT, _M.IDLE): (),
    (_M.IDLE, _M.DOWNLINK): _LINK,
    (_M.SURVEY, _M.DOWNLINK): _LINK,
    (_M.PROSPECT, _M.DOWNLINK): _LINK,
    (_M.DOWNLINK, _M.IDLE): (),
    (_M.DOWNLINK, _M.SURVEY): _SCIENCE,
    (_M.DOWNLINK, _M.PROSPECT): _SCIENCE + (("reobs_pending", Guard.NO_TARGET),),
}
for _m in Mode:
    if _m is not Mode.SAFE:
        TRANSITIONS[(_m, Mode.SAFE)] = ()


class ModeManager:
    """Holds the current mode; `request()` checks the guards and runs exit → entry actions."""

    def __init__(self, events: EventLog, conditions: dict[str, Callable[[], bool]]):
        self._events = events
        self._conditions = conditions
        self.mode = Mode.SAFE
        self.since_ns = 0
        self.previous = Mode.SAFE
        self.reason = Reason.BOOT  # of the last change
        self.on_entry: dict[Mode, list[Callable[[int], None]]] = {m: [] for m in Mode}
        self.on_exit: dict[Mode, list[Callable[[int], None]]] = {m: [] for m in Mode}
        self.changes = 0

    def boot(self, t_ns: int, mode: Mode = Mode.SAFE) -> None:
        """Enter the boot mode (no exit action: nothing was running)."""
        self.mode, self.previous, self.since_ns, self.reason = mode, mode, t_ns, Reason.BOOT
        for action in self.on_entry[mode]:
            action(t_ns)
        self._events.raise_(t_ns, Ev.MODE_CHANGED, from_mode=mode, to_mode=mode, reason=Reason.BOOT)

    def check(self, to: Mode, reason: Reason) -> Guard:
        """The guard that blocks `mode → to` for this reason, or Guard.OK."""
        if to == self.mode:
            return Guard.OK
        conditions = TRANSITIONS.get((self.mode, Mode(to)))
        if conditions is None:
            return Guard.NOT_ALLOWED
        for name, guard in conditions:
            ok = reason == Reason.COMMAND if name == "command" else self._conditions[name]()
            if not ok:
                return guard
        return Guard.OK

    def hand_over(self, reason: Reason, t_ns: int) -> None:
        """Keep the mode but change who holds it (the ground hands it back to autonomy): an
        event like a mode change to the same mode, with the new reason."""
        self.reason = Reason(reason)
        self._events.raise_(
            t_ns, Ev.MODE_CHANGED, from_mode=self.mode, to_mode=self.mode, reason=self.reason
        )

    def request(self, to: Mode, reason: Reason, t_ns: int) -> Guard:
        """Change mode if the guards allow; a refusal is an event too (low severity)."""
        to = Mode(to)
        guard = self.check(to, reason)
        if guard != Guard.OK:
            self._events.raise_(t_ns, Ev.MODE_REFUSED, from_mode=self.mode, to_mode=to, guard=guard)
            return guard
        if to == self.mode:
            return Guard.OK
        old = self.mode
        for action in self.on_exit[old]:
            action(t_ns)
        self.previous, self.mode, self.since_ns, self.reason = old, to, t_ns, Reason(reason)
        self.changes += 1
        for action in self.on_entry[to]:
            action(t_ns)
        self._events.raise_(t_ns, Ev.MODE_CHANGED, from_mode=old, to_mode=to, reason=reason)
        return Guard.OK
