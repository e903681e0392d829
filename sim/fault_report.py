"""Detection → response → recovery of each injected fault, read from the flight software's own
event stream (and, for link faults, from what the ground received).

For every `[[faults]]` entry the report states when the flight software detected it (the
first event of the kind that betrays it, at or after the onset), how it responded (FDIR
actions, safe mode, a reboot, retransmission), and when the spacecraft was back to nominal
— by itself (FDIR recovered) or by ground command (left SAFE). A fault that was never
detected, or never recovered from by the end, says so (`null`).
"""

from __future__ import annotations

from firmware.fsw.event_text import describe_event
from firmware.fsw.events import EVENTS
from firmware.fsw.executive import ResetCause
from firmware.fsw.fdir import Fault
from firmware.fsw.modes import Mode
from sim.timebase import NS_PER_S

# fault kind → (FDIR fault it maps to, events that reveal it)
DETECTED_BY = {
    "spectrometer_stuck": (Fault.SPECTROMETER_STUCK, ("SPECTROMETER_STUCK",)),
    "spectrometer_latchup": (Fault.SPECTROMETER_STUCK, ("SPECTROMETER_STUCK",)),
    "spectrometer_noisy": (Fault.SPECTROMETER_NOISY, ("SPECTRUM_NOISY",)),
    "spectrometer_saturated": (Fault.SPECTROMETER_SATURATED, ("SPECTROMETER_SATURATED",)),
    "model_upset": (Fault.MODEL_CORRUPTED, ("MODEL_CORRUPTED",)),
    "storage_upset": (None, ("STORED_DATA_CORRUPTED",)),
    "cpu_hang": (Fault.WATCHDOG_RESET, ("CYCLES_MISSED", "BOOT")),
    "battery_brownout": (None, ("BOOT",)),
}


def _name(e) -> str:
    return EVENTS[e.id].id.name


def _row(e) -> dict:
    return {"t_s": round(e.t_ns / NS_PER_S, 3), "event": describe_event(e)}


def fault_timeline(mission, start_ns: int, end_ns: int, f: dict) -> dict:
    kind = f["kind"]
    if kind == "missed_pass":
        return _missed_pass(mission, start_ns, end_ns)
    if kind == "uplink_corruption":
        return _uplink(mission, start_ns, end_ns)
    events = [e for e in mission.computer.onboard.events if e.t_ns >= start_ns]
    fault, names = DETECTED_BY[kind]
    detected = next((e for e in events if _name(e) in names and _reveals(kind, e)), None)
    if detected is None:
        modes = _modes_during(mission, start_ns, end_ns)
        note = f"modes during the fault: {', '.join(modes)}"
        if kind.startswith("spectrometer") and not {"SURVEY", "PROSPECT"} & set(modes):
            note += " — the spectrometer was off: nothing could reveal it"
        return {"detected": None, "response": [], "recovered": None, "note": note}
    after = [e for e in events if e.t_ns >= detected.t_ns]
    response, recovered = [], None
    safe = False
    for e in after:
        n = _name(e)
        if n == "FDIR_RESPONSE" and (fault is None or e.values["fault"] == fault):
            response.append(_row(e))
        elif n == "MODE_CHANGED" and e.values["to_mode"] == Mode.SAFE:
            safe = True
            response.append(_row(e))
        elif n == "STORED_DATA_CORRUPTED" and kind == "storage_upset":
            response.append(_row(e))
        if safe and n == "MODE_CHANGED" and e.values["from_mode"] == Mode.SAFE and e.values["to_mode"] != Mode.SAFE:
            recovered = {**_row(e), "how": "left SAFE by ground command"}
            break
        if not safe and fault is not None and n == "FDIR_RECOVERED" and e.values["fault"] == fault:
            recovered = {**_row(e), "how": "by itself (FDIR)"}
            break
        if kind == "storage_upset" and n == "STORED_DATA_CORRUPTED":
            recovered = {**_row(e), "how": "scrubbed: the stream keeps its counts"}
            break
        if len(response) > 20:
            break
    return {"detected": _row(detected), "response": response[:10], "recovered": recovered}


def _modes_during(mission, start_ns: int, end_ns: int) -> list[str]:
    """The executive's modes over [start, end), from its own mode-change events."""
    mode, seen = None, []
    for e in mission.computer.onboard.events:
        if _name(e) != "MODE_CHANGED":
            continue
        if e.t_ns <= start_ns:
            mode = Mode(e.values["to_mode"]).name
        elif e.t_ns < end_ns:
            seen.append(Mode(e.values["to_mode"]).name)
    return list(dict.fromkeys(([mode] if mode else []) + seen))  # first seen first, once each


def _reveals(kind: str, e) -> bool:
    if _name(e) == "BOOT":
        cause = ResetCause.BROWNOUT if kind == "battery_brownout" else ResetCause.WATCHDOG
        return e.values["reset_cause"] == cause
    return True


def _missed_pass(mission, start_ns: int, end_ns: int) -> dict:
    """Nobody on board can see a station outage: the ground sees a silent pass, the
    spacecraft sees no acknowledgements and sends again (go back N) — recovered once every
    packet sent into the outage has reached the ground."""
    seg = mission.ground
    sent = [m for m in mission.bus.history("downlink") if start_ns <= m.t_ns < end_ns]
    if not sent:
        return {"detected": None, "response": [], "recovered": None,
                "note": "nothing was transmitted during the outage"}  # fmt: skip
    first_rx: dict[tuple[int, int], int] = {}  # (APID, 14-bit count) → first arrival
    for r in seg.station.decoder.rows:
        if r.get("type") == "TM" and "apid" in r and r.get("t_rx_ns") is not None:
            first_rx.setdefault((r["apid"], r["seq"]), r["t_rx_ns"])
    keys = {(((m.payload[0] & 0x07) << 8) | m.payload[1], m.product_id) for m in sent}
    lost = [k for k in keys if k not in first_rx]
    done_ns = max((first_rx[k] for k in keys if k in first_rx), default=None)
    return {
        "detected": {"t_s": round(sent[0].t_ns / NS_PER_S, 3),
                     "event": f"ground: pass silent, {len(sent)} packets sent unheard"},
        "response": [{"t_s": None, "event": "store-and-forward: unacknowledged packets sent again "
                      f"({mission.computer.onboard.exe.mass.tm.resent_packets} retransmissions in the mission)"}],
        "recovered": None if lost else {
            "t_s": round(done_ns / NS_PER_S, 3),
            "how": "every packet sent into the outage reached the ground (sent again later)"},
        "unheard_packets": len(sent), "still_missing_on_ground": len(lost),
    }  # fmt: skip


def _uplink(mission, start_ns: int, end_ns: int) -> dict:
    """Detected on board (CRC) and reported (TM[1,2] BAD_CRC); the ground sends again: a
    command from the operations log is resent, an acknowledgement goes out again anyway."""
    corrupted = [m for m in mission.bus.history("uplink") if m.corrupted]
    rows = mission.ground.station.decoder.tables.get("verification", [])
    crc = [r for r in rows if r["report"] == "ACCEPT_FAIL" and r["code"] == "BAD_CRC" and r["t_ns"] >= start_ns]
    if not crc:
        return {"detected": None, "response": [], "recovered": None, "corrupted_uplinks": len(corrupted)}
    first = crc[0]
    response, recovered = [], None
    sent_damaged = {m.t_ns for m in corrupted}
    for row in mission.ground.ops.log:
        hits = [i for i, a in enumerate(row["attempts"])
                if a["code"] == "BAD_CRC" or round(a["sent_s"] * NS_PER_S) in sent_damaged]  # fmt: skip
        if not hits:
            continue
        later = row["attempts"][hits[0] + 1 :]
        response += [{"t_s": b["sent_s"], "event": f"ground resends {row['name']}"} for b in later]
        ok = next((b for b in later if b["report"] == "COMPLETE_OK"), None)
        if ok and recovered is None:
            recovered = {"t_s": ok["report_s"], "how": f"{row['name']} sent again and completed"}
    return {
        "detected": {"t_s": round(first["t_ns"] / NS_PER_S, 3),
                     "event": f"TM[1,2] ACCEPT_FAIL BAD_CRC for {first['command']}: {first['detail']}"},
        "response": response, "recovered": recovered,
        "corrupted_uplinks": len(corrupted), "rejected_for_crc": len(crc),
    }  # fmt: skip
