"""Ground operations as small scripts on simulated time: time-tagged commands and procedures.

A script is a generator that yields what it waits for — a `Wait` (a time, a condition on
what the ground has received, or both: whichever comes first) — and is resumed by the ground
segment at the first step where that holds. `command(...)` is the building block: wait for a
station in contact, send, wait for the command's verification reports (TM[1,x]); a command
the spacecraft refused for a bad CRC (damaged on the uplink, so certainly not executed), or
one whose reports never came (a damaged header cannot be matched to its report), is sent
again, up to `retries` times. Every command and its fate go to `log` (the report's
command table).

Scripts:
- `[[commands]]` of the scenario: at their time (or the next contact after it), once each;
- `ground.procedure = "recover"`: the operators' safe-mode recovery — on an event telling
  the spacecraft entered SAFE (a mode change to SAFE, which a reboot into SAFE raises too),
  send CLEAR_FAULTS, SET_MODE IDLE and RESUME_AUTONOMY (survey when lit, downlink in
  passes); if one is refused (the fault is still there, the battery not yet charged), try
  the whole sequence again `ground.retry_interval` later.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass

from firmware.fsw.modes import Mode
from firmware.fsw.params import BY_NAME as PARAMS_BY_NAME
from firmware.fsw.params import pack_values
from sim.bus import FOREVER_NS
from sim.timebase import NS_PER_S

FINAL_OK = "COMPLETE_OK"
RECOVERY = (("CLEAR_FAULTS", {}), ("SET_MODE", {"mode": "IDLE"}), ("RESUME_AUTONOMY", {}))


@dataclass
class Wait:
    """Resume at `until_ns`, or as soon as `condition()` holds (checked every step)."""

    until_ns: int = FOREVER_NS
    condition: Callable[[], bool] | None = None


def check_encodable(name: str, args: dict) -> None:
    """Raise ValueError if a command cannot be built from these arguments (a wrong type, a
    value its field cannot hold); values merely out of the onboard range are allowed —
    the spacecraft must refuse those itself."""
    from sim.gse.ground import app_data

    if name == "PARAM_SET":
        for key, v in args.items():
            p = PARAMS_BY_NAME.get(key)
            if p is None:
                raise ValueError(f"PARAM_SET: unknown parameter {key!r}")
            if isinstance(v, str) or (p.code in "BHI" and float(v) != int(v)):
                raise ValueError(f"PARAM_SET: {key} = {v!r} is not a value of type {p.code}")
            try:
                pack_values([(p.id, float(v))])  # the encoding `command_bytes` will send
            except (struct.error, OverflowError) as exc:
                raise ValueError(f"PARAM_SET: {key} = {v!r} cannot be encoded: {exc}") from None
        return
    what, kwargs = command_bytes(name, args)
    if "data" in kwargs:
        return
    try:
        app_data(name, **kwargs)  # what the station's `build` will encode
    except (struct.error, TypeError, KeyError) as exc:
        raise ValueError(f"{name}: cannot encode {args}: {exc}") from None


def command_bytes(name: str, args: dict, data_hex: str = "", raw_hex: str = ""):
    """The TC to send: a whole packet (`raw_hex`), a command with its application data
    (`data_hex`), PARAM_SET from {parameter name: value}, or a command by name and
    arguments (a mode may be given by name)."""
    if raw_hex:
        return bytes.fromhex(raw_hex), {}
    if data_hex:
        return name, {"data": bytes.fromhex(data_hex)}
    if name == "PARAM_SET":
        items = [(PARAMS_BY_NAME[k].id, float(v)) for k, v in sorted(args.items())]
        return name, {"data": pack_values(items)}
    def mode(v):
        if v not in Mode.__members__:
            raise ValueError(f"mode {v!r} is not one of {', '.join(Mode.__members__)}")
        return int(Mode[v])

    args = {k: (mode(v) if k == "mode" and isinstance(v, str) else v) for k, v in args.items()}
    return name, args


class Operations:
    def __init__(self, station, config: dict, link) -> None:
        self.station = station
        self.link = link
        g = config["ground"]
        owlt_s = _light_time_s(config)
        self.timeout_ns = int((2 * owlt_s + g["command_timeout_margin"] / NS_PER_S) * NS_PER_S)
        self.retry_ns = g["retry_interval"]
        self.log: list[dict] = []
        self._scripts: list[list] = []  # [generator, wait]
        for i, c in enumerate(config.get("commands", [])):
            self._add(self._scheduled(i, c))
        if g["procedure"] == "recover":
            self._add(self._recover())

    def _add(self, gen: Generator) -> None:
        self._scripts.append([gen, Wait(until_ns=0)])

    @property
    def now_ns(self) -> int:
        return self.link.now_ns

    def step(self, t_ns: int) -> None:
        for entry in self._scripts:
            for _ in range(16):  # a script may do several things in one step
                gen, wait = entry
                if gen is None or not (t_ns >= wait.until_ns or (wait.condition and wait.condition())):
                    break
                try:
                    entry[1] = next(gen)
                except StopIteration:
                    entry[0] = None
        self._scripts = [e for e in self._scripts if e[0] is not None]

    def wake_ns(self, t_ns: int) -> int:
        """The next time a script must run (conditions are on arrivals, which wake us)."""
        return min((w.until_ns for _, w in self._scripts), default=FOREVER_NS)

    # --- building blocks ----------------------------------------------------------------------

    def command(self, name: str, args: dict, *, script: str, retries: int = 2, data_hex: str = "",
                raw_hex: str = "") -> Generator[Wait, None, dict]:  # fmt: skip
        row = {"script": script, "name": name, "args": dict(args), "requested_s": self.now_ns / NS_PER_S,
               "attempts": [], "result": None}  # fmt: skip
        self.log.append(row)
        what, kwargs = command_bytes(name, args, data_hex, raw_hex)
        for attempt in range(retries + 1):
            yield Wait(condition=self.link.ground_contact)
            rid = self.station.send(what, **kwargs)
            sent = self.now_ns
            yield Wait(until_ns=sent + self.timeout_ns, condition=lambda rid=rid: self.station.final_report(rid) is not None)
            rep = self.station.final_report(rid)
            row["attempts"].append({
                "sent_s": sent / NS_PER_S, "request_id": rid,
                "report": rep["report"] if rep else "no report within the timeout",
                "code": rep["code"] if rep else None, "detail": rep["detail"] if rep else "",
                "report_s": rep["t_ns"] / NS_PER_S if rep else None,
            })  # fmt: skip
            row["result"] = row["attempts"][-1]["report"]
            damaged = rep is not None and rep["report"] == "ACCEPT_FAIL" and rep["code"] == "BAD_CRC"
            if (damaged or rep is None) and attempt < retries:
                # damaged on the uplink (certainly not executed), or unverified (a damaged
                # header cannot be matched to its report): send it again
                continue
            break
        return row

    # --- scripts ------------------------------------------------------------------------------

    def _scheduled(self, i: int, c: dict) -> Generator[Wait, None, None]:
        yield Wait(until_ns=c["at"])
        yield from self.command(c["command"], c["args"], script=f"commands[{i}]", retries=c["retries"],
                                data_hex=c["data_hex"], raw_hex=c["raw_hex"])  # fmt: skip

    def _safe_event_after(self, t_ns: int) -> dict | None:
        for e in self.station.events(since_ns=t_ns + 1):
            if e["event"] == "MODE_CHANGED" and e["to_mode"] == Mode.SAFE:
                return e
        return None

    def _recover(self) -> Generator[Wait, None, None]:
        handled = -1
        while True:
            yield Wait(condition=lambda h=handled: self._safe_event_after(h) is not None)
            handled = self._safe_event_after(handled)["t_ns"]
            while True:
                for name, args in RECOVERY:
                    row = yield from self.command(name, args, script="recover")
                    if row["result"] != FINAL_OK:
                        break
                else:
                    break
                yield Wait(until_ns=self.now_ns + self.retry_ns)
            # SAFE episodes that began before the recovery completed on board are dealt with
            done_ns = int(row["attempts"][-1]["report_s"] * NS_PER_S)
            while (e := self._safe_event_after(handled)) is not None and e["t_ns"] <= done_ns:
                handled = e["t_ns"]


def _light_time_s(config: dict) -> float:
    from sim.radiometry import light_time_s

    return light_time_s(config["target"]["earth_distance_au"])
