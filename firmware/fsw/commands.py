"""The command dictionary: every telecommand's name, service/subtype and argument schema.

One table, read by the onboard dispatcher (to validate before executing) and by the ground
(to build commands by name and to name them in decoded archives) — the role of an F´
command dictionary. Fixed-layout arguments are declared as `Arg`s (struct code + allowed
range or choices); variable-length ones (lists of IDs, embedded TCs) name a parser.
Function management (PUS 8) functions have their own table, `FUNCTIONS`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from firmware.errors import AssayError
from firmware.fsw.pus import FailCode, Service


class CommandError(AssayError, ValueError):
    """A TC failed validation or execution. `code` goes into the failure notice; the message
    names the command, the argument and what is allowed."""

    def __init__(self, code: int, message: str):
        self.code = int(code)
        super().__init__(message)


@dataclass(frozen=True)
class Arg:
    name: str
    code: str  # struct code, big-endian: B H I i f d
    lo: float | None = None
    hi: float | None = None
    choices: tuple[int, ...] | None = None
    unit: str = ""

    def check(self, cmd: str, value):
        if self.code in "fd" and not math.isfinite(value):
            raise CommandError(
                FailCode.ARG_OUT_OF_RANGE, f"{cmd}: {self.name}={value} is not finite"
            )
        if self.choices is not None and value not in self.choices:
            raise CommandError(
                FailCode.ARG_OUT_OF_RANGE,
                f"{cmd}: {self.name}={value} not one of {list(self.choices)}",
            )
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise CommandError(
                FailCode.ARG_OUT_OF_RANGE,
                f"{cmd}: {self.name}={value} outside [{self.lo}, {self.hi}] {self.unit}".rstrip(),
            )
        return value


@dataclass(frozen=True)
class CommandSpec:
    service: int
    subtype: int
    name: str
    args: tuple[Arg, ...] = ()
    variable: str | None = None  # name of a variable-length layout (parsed by its service)

    @property
    def fmt(self) -> str:
        return "!" + "".join(a.code for a in self.args)

    def encode(self, **values) -> bytes:
        if self.variable:
            raise ValueError(
                f"{self.name} has a variable layout ({self.variable}): build its data directly"
            )
        missing = [a.name for a in self.args if a.name not in values]
        extra = sorted(set(values) - {a.name for a in self.args})
        if missing or extra:
            raise ValueError(f"{self.name}: missing {missing}, unexpected {extra}")
        return struct.pack(self.fmt, *(values[a.name] for a in self.args))

    def decode(self, data: bytes) -> dict:
        """Parse and range-check fixed arguments; CommandError on any deviation."""
        size = struct.calcsize(self.fmt)
        if len(data) != size:
            raise CommandError(
                FailCode.ARG_MALFORMED,
                f"{self.name}: application data is {len(data)} bytes, expected {size} "
                f"({', '.join(a.name + ':' + a.code for a in self.args) or 'none'})",
            )
        values = struct.unpack(self.fmt, data)
        return {a.name: a.check(self.name, v) for a, v in zip(self.args, values, strict=True)}


MODE_CHOICES = (0, 1, 2, 3, 4)  # modes.Mode; repeated here to keep this table import-light

_S = Service
SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(_S.TEST, 1, "PING"),
    CommandSpec(_S.HOUSEKEEPING, 5, "HK_ENABLE", (Arg("sid", "B", 1, 3),)),
    CommandSpec(_S.HOUSEKEEPING, 6, "HK_DISABLE", (Arg("sid", "B", 1, 3),)),
    CommandSpec(_S.HOUSEKEEPING, 27, "HK_ONE_SHOT", (Arg("sid", "B", 1, 3),)),
    CommandSpec(
        _S.HOUSEKEEPING,
        31,
        "HK_SET_PERIOD",
        (Arg("sid", "B", 1, 3), Arg("period_s", "H", 1, 3600, unit="s")),
    ),
    CommandSpec(_S.EVENT, 5, "EVENT_REPORT_ENABLE", variable="event_ids"),
    CommandSpec(_S.EVENT, 6, "EVENT_REPORT_DISABLE", variable="event_ids"),
    CommandSpec(_S.FUNCTION, 1, "PERFORM_FUNCTION", variable="function"),
    CommandSpec(_S.SCHEDULING, 1, "SCHEDULE_ENABLE"),
    CommandSpec(_S.SCHEDULING, 2, "SCHEDULE_DISABLE"),
    CommandSpec(_S.SCHEDULING, 3, "SCHEDULE_RESET"),
    CommandSpec(_S.SCHEDULING, 4, "SCHEDULE_INSERT", variable="activities"),
    CommandSpec(_S.SCHEDULING, 5, "SCHEDULE_DELETE_GROUP", (Arg("group", "B", 1, 255),)),
    CommandSpec(_S.SCHEDULING, 16, "SCHEDULE_REPORT"),
    CommandSpec(_S.MONITORING, 1, "PMON_ENABLE", variable="pmon_ids"),
    CommandSpec(_S.MONITORING, 2, "PMON_DISABLE", variable="pmon_ids"),
    CommandSpec(
        _S.MONITORING,
        7,
        "PMON_MODIFY",
        (
            Arg("pmon_id", "B", 1, 255),
            Arg("low", "f"),
            Arg("high", "f"),
            Arg("repetitions", "B", 1, 20),
        ),
    ),
    CommandSpec(_S.MONITORING, 15, "PMON_FUNCTION_ENABLE"),
    CommandSpec(_S.MONITORING, 16, "PMON_FUNCTION_DISABLE"),
    CommandSpec(_S.PARAMETER, 1, "PARAM_REPORT", variable="param_ids"),
    CommandSpec(_S.PARAMETER, 3, "PARAM_SET", variable="param_values"),
    CommandSpec(_S.PROSPECT, 1, "CATALOGUE_REPORT"),
    CommandSpec(_S.PROSPECT, 3, "PRODUCT_DOWNLINK", (Arg("product_id", "I", 1, 2**32 - 1),)),
    CommandSpec(_S.PROSPECT, 4, "PRODUCT_DELETE", (Arg("product_id", "I", 1, 2**32 - 1),)),
    CommandSpec(_S.PROSPECT, 20, "TM_ACKNOWLEDGE", variable="acks"),
)
BY_KEY = {(s.service, s.subtype): s for s in SPECS}
BY_NAME = {s.name: s for s in SPECS}


@dataclass(frozen=True)
class FunctionSpec:
    id: int
    name: str
    args: tuple[Arg, ...] = ()

    @property
    def fmt(self) -> str:
        return "!" + "".join(a.code for a in self.args)


FUNCTIONS: dict[int, FunctionSpec] = {
    f.id: f
    for f in (
        FunctionSpec(1, "SET_MODE", (Arg("mode", "B", choices=MODE_CHOICES),)),
        FunctionSpec(2, "RELOAD_MODEL"),
        FunctionSpec(3, "CLEAR_FAULTS"),
        FunctionSpec(4, "SPECTROMETER_POWER", (Arg("on", "B", choices=(0, 1)),)),
        FunctionSpec(
            5,
            "REQUEST_OBSERVATION",
            (
                Arg("lat_deg", "f", -90, 90, unit="deg"),
                Arg("lon_deg", "f", -180, 360, unit="deg"),
                Arg("integration_scale", "f", 0.1, 64),
            ),
        ),
        FunctionSpec(6, "CLOSE_SUMMARY"),
        FunctionSpec(7, "VERIFY_MODEL"),
        FunctionSpec(8, "RESUME_AUTONOMY"),
    )
}
FUNCTION_BY_NAME = {f.name: f for f in FUNCTIONS.values()}


def encode_function(name: str, **values) -> bytes:
    """Application data of TC[8,1] for the named function."""
    f = FUNCTION_BY_NAME[name]
    return struct.pack("!H", f.id) + struct.pack(f.fmt, *(values[a.name] for a in f.args))


def decode_function(data: bytes) -> tuple[FunctionSpec, dict]:
    if len(data) < 2:
        raise CommandError(FailCode.ARG_MALFORMED, "PERFORM_FUNCTION: missing the u16 function ID")
    (fid,) = struct.unpack_from("!H", data, 0)
    f = FUNCTIONS.get(fid)
    if f is None:
        raise CommandError(FailCode.NOT_FOUND, f"PERFORM_FUNCTION: unknown function ID {fid}")
    spec = CommandSpec(Service.FUNCTION, 1, f.name, f.args)
    return f, spec.decode(data[2:])


def encode_ids(ids: list[int], code: str = "H") -> bytes:
    """Variable layout shared by enable/disable lists: count (u8) then IDs."""
    return struct.pack(f"!B{len(ids)}{code}", len(ids), *ids)


def decode_ids(cmd: str, data: bytes, code: str = "H") -> list[int]:
    if not data:
        raise CommandError(FailCode.ARG_MALFORMED, f"{cmd}: missing the u8 count")
    n = data[0]
    size = struct.calcsize(f"!{n}{code}")
    if len(data) - 1 != size:
        raise CommandError(
            FailCode.ARG_MALFORMED,
            f"{cmd}: count {n} needs {size} bytes of IDs, got {len(data) - 1}",
        )
    if n == 0:
        raise CommandError(FailCode.ARG_OUT_OF_RANGE, f"{cmd}: empty list")
    return list(struct.unpack_from(f"!{n}{code}", data, 1))


def encode_acks(acks: dict[int, int]) -> bytes:
    """TM_ACKNOWLEDGE layout: count (u8), then (APID u16, highest contiguous seq count u16)."""
    items = sorted(acks.items())
    return struct.pack("!B", len(items)) + b"".join(struct.pack("!HH", a, s) for a, s in items)


def decode_acks(data: bytes) -> dict[int, int]:
    if not data:
        raise CommandError(FailCode.ARG_MALFORMED, "TM_ACKNOWLEDGE: missing the u8 count")
    n = data[0]
    if len(data) != 1 + 4 * n:
        raise CommandError(
            FailCode.ARG_MALFORMED,
            f"TM_ACKNOWLEDGE: count {n} needs {4 * n} bytes, got {len(data) - 1}",
        )
    out = {}
    for i in range(n):
        apid, seq = struct.unpack_from("!HH", data, 1 + 4 * i)
        if seq >= 1 << 14:
            msg = f"TM_ACKNOWLEDGE: seq count {seq} ≥ 2^14"
            raise CommandError(FailCode.ARG_OUT_OF_RANGE, msg)
        out[apid] = seq
    return out
