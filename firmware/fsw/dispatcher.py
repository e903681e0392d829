"""Command dispatcher: validate a telecommand, then execute it, reporting every step (PUS 1).

The pipeline for each TC (ECSS-E-ST-70-41C §6.1):
1. acceptance — CRC, header, APID, known (service, subtype), argument layout and ranges.
   A TC failing here gets TM[1,2] and is never executed;
2. start — preconditions that depend on the state (allowed modes, guards): TM[1,4] on
   failure, TM[1,3] on success;
3. completion — the handler runs: TM[1,7], or TM[1,8] with the reason if it raised.
Success reports are sent only if the TC's ack flags ask for them; failures always are.
Failure notices carry a `FailCode` byte and a short text naming the argument and the limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from firmware.fsw.commands import BY_KEY, CommandError, CommandSpec
from firmware.fsw.events import Ev, EventLog
from firmware.fsw.pus import (
    ACK_ACCEPT,
    ACK_COMPLETE,
    ACK_START,
    Apid,
    FailCode,
    PacketError,
    Service,
    TcView,
    Verif,
    decode_tc,
    tc_request_id,
    verification_data,
)

DETAIL_MAX_BYTES = 96  # failure notice text, truncated (UTF-8)


@dataclass
class Binding:
    spec: CommandSpec
    execute: Callable[[dict, TcView, int], None]
    parse: Callable[[bytes], dict] | None = None  # variable layouts; raises CommandError
    check: Callable[[dict, int], None] | None = None  # start preconditions; raises CommandError
    modes: frozenset[int] | None = None  # modes in which it may start; None = all


@dataclass(frozen=True)
class Outcome:
    request_id: int | None
    name: str
    stage: str  # "accepted" never appears: one of "rejected", "start_failed", "failed", "completed"
    code: int = 0
    detail: str = ""


class Dispatcher:
    def __init__(self, sink, events: EventLog, mode_fn: Callable[[], int], apid: int = Apid.CMD):
        self._sink = sink
        self._events = events
        self._mode = mode_fn
        self.apid = int(apid)
        self.bindings: dict[tuple[int, int], Binding] = {}
        self.stats = {
            "accepted": 0,
            "rejected": 0,
            "started": 0,
            "completed": 0,
            "failed": 0,
            "internal_errors": 0,
        }
        self.history: deque[Outcome] = deque(maxlen=64)

    def bind(self, name: str, execute, *, parse=None, check=None, modes=None) -> None:
        spec = next((s for s in BY_KEY.values() if s.name == name), None)
        if spec is None:
            raise KeyError(f"no command {name!r} in the command dictionary")
        if spec.variable and parse is None:
            raise ValueError(f"{name} has a variable layout: bind a parser")
        key = (spec.service, spec.subtype)
        self.bindings[key] = Binding(
            spec, execute, parse, check, None if modes is None else frozenset(modes)
        )

    # --- acceptance ------------------------------------------------------------------------

    def validate(self, raw: bytes) -> tuple[TcView, Binding, dict]:
        """Everything acceptance checks, without side effects; raises CommandError."""
        try:
            tc = decode_tc(raw)
        except PacketError as exc:
            raise CommandError(exc.code, str(exc)) from exc
        if tc.apid != self.apid:
            raise CommandError(
                FailCode.BAD_APID, f"APID {tc.apid:#x}: commands go to {self.apid:#x}"
            )
        binding = self.bindings.get((tc.service, tc.subtype))
        if binding is None:
            raise CommandError(
                FailCode.UNKNOWN_COMMAND, f"no command TC[{tc.service},{tc.subtype}]"
            )
        args = binding.parse(tc.data) if binding.parse else binding.spec.decode(tc.data)
        return tc, binding, args

    def accept(self, raw: bytes, t_ns: int) -> tuple[TcView, Binding, dict] | None:
        """Acceptance with its report; None when rejected (TM[1,2] sent, nothing executed)."""
        try:
            tc, binding, args = self.validate(raw)
        except CommandError as exc:
            self._reject(raw, exc, t_ns)
            return None
        except Exception as exc:  # a parser bug must not take the executive down: report it
            self.stats["internal_errors"] += 1
            self._reject(
                raw,
                CommandError(FailCode.ARG_MALFORMED, f"internal: {type(exc).__name__}: {exc}"),
                t_ns,
            )
            return None
        self.stats["accepted"] += 1
        if tc.ack_flags & ACK_ACCEPT:
            self._report(tc.raw, Verif.ACCEPT_OK, t_ns)
        return tc, binding, args

    def _reject(self, raw: bytes, exc: CommandError, t_ns: int) -> None:
        self.stats["rejected"] += 1
        rid = tc_request_id(raw)
        self.history.append(Outcome(rid, "?", "rejected", exc.code, str(exc)))
        if rid is None:  # not even a header: nothing to address a report to
            self._events.raise_(t_ns, Ev.TC_REJECTED, length=min(len(raw), 0xFFFF), code=exc.code)
            return
        self._report(raw, Verif.ACCEPT_FAIL, t_ns, exc.code, str(exc))

    # --- start and completion --------------------------------------------------------------

    def run(self, tc: TcView, binding: Binding, args: dict, t_ns: int) -> bool:
        """Start checks, then execution, with their reports. True when completed."""
        name = binding.spec.name
        try:
            mode = self._mode()
            if binding.modes is not None and mode not in binding.modes:
                raise CommandError(
                    FailCode.NOT_ALLOWED_IN_MODE, f"{name} not allowed in mode {mode}"
                )
            if binding.check:
                self._guarded(binding.check, args, t_ns)  # a check bug: refuse to start
        except CommandError as exc:
            self.stats["failed"] += 1
            self.history.append(Outcome(tc.request_id, name, "start_failed", exc.code, str(exc)))
            self._report(tc.raw, Verif.START_FAIL, t_ns, exc.code, str(exc))
            return False
        self.stats["started"] += 1
        if tc.ack_flags & ACK_START:
            self._report(tc.raw, Verif.START_OK, t_ns)
        try:
            self._guarded(binding.execute, args, tc, t_ns)  # a handler bug: fail, keep flying
        except CommandError as exc:
            self.stats["failed"] += 1
            self.history.append(Outcome(tc.request_id, name, "failed", exc.code, str(exc)))
            self._report(tc.raw, Verif.COMPLETE_FAIL, t_ns, exc.code, str(exc))
            return False
        self.stats["completed"] += 1
        self.history.append(Outcome(tc.request_id, name, "completed"))
        if tc.ack_flags & ACK_COMPLETE:
            self._report(tc.raw, Verif.COMPLETE_OK, t_ns)
        return True

    def _guarded(self, fn, *args) -> None:
        """Call a command's check or handler; a bug in it (any exception but CommandError)
        becomes EXECUTION_FAILED and is counted, so one bad handler never stops the flight."""
        try:
            fn(*args)
        except CommandError:
            raise
        except Exception as exc:
            self.stats["internal_errors"] += 1
            raise CommandError(
                FailCode.EXECUTION_FAILED, f"internal: {type(exc).__name__}: {exc}"
            ) from exc

    def handle(self, raw: bytes, t_ns: int) -> bool:
        """The whole pipeline for one received TC."""
        accepted = self.accept(raw, t_ns)
        return accepted is not None and self.run(*accepted, t_ns)

    def _report(
        self, tc_raw: bytes, subtype: int, t_ns: int, code: int = 0, detail: str = ""
    ) -> None:
        text = detail.encode("utf-8")[:DETAIL_MAX_BYTES]
        data = verification_data(tc_raw, int(subtype), code, text)
        self._sink.tm(Apid.CMD, Service.VERIFICATION, int(subtype), data, t_ns)
