"""Onboard events as text for people: one line per event, enums by name.

Used by the executive's seam (`firmware.fsw.computer`) to fill the run's event stream and by
the mission reports (`sim.fault_report`, `sim.fsw_report`). The packets themselves carry the
numbers; this is only how the ground shows them.
"""

from __future__ import annotations

import math

from firmware.fsw.events import EVENTS, Ev, EventRecord, Severity
from firmware.fsw.executive import ResetCause
from firmware.fsw.fdir import Action, Fault
from firmware.fsw.modes import Mode, Reason

SEVERITY_TEXT = {
    Severity.INFO: "info",
    Severity.LOW: "info",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
}
# per-observation science events go to the science tables, not the event stream of the run
QUIET_EVENTS = {Ev.HIGH_VALUE_FIND, Ev.REOBS_REQUESTED, Ev.FIND_CONFIRMED, Ev.FIND_NOT_CONFIRMED}

_ENUM_FIELDS = {
    "from_mode": Mode,
    "to_mode": Mode,
    "reason": Reason,
    "fault": Fault,
    "action": Action,
    "reset_cause": ResetCause,
}


def describe_event(e: EventRecord) -> str:
    """One line for an onboard event: its name and auxiliary fields, enums by name."""
    parts = []
    for name, value in e.values.items():
        enum = _ENUM_FIELDS.get(name)
        if enum is not None and value in enum._value2member_map_:
            value = enum(value).name
        elif isinstance(value, float):
            value = round(value, 4) if math.isfinite(value) else value
        parts.append(f"{name}={value}")
    return f"{EVENTS[e.id].id.name} " + " ".join(parts)
