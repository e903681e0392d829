"""Onboard parameters (PUS-C service 20) kept in non-volatile memory so they survive a reset.

The table `PARAMS` is the single definition of every parameter: ID, type, default, range and
unit; the ground decoder and command builders read the same table. Values are written to an
`Nvm` in two banks (A/B) with a generation counter and a CRC-32, alternating banks on every
commit, so a reset or an upset during a write leaves the other bank intact: at boot the
newest bank with a valid CRC wins; if neither is valid the defaults are used and an event
says so.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from firmware.errors import AssayError
from firmware.fsw.pus import FailCode


class ParamError(AssayError, ValueError):
    """A parameter ID is unknown or a value is outside its range; the message names both."""

    def __init__(self, code: int, message: str):
        self.code = code  # a pus.FailCode
        super().__init__(message)


@dataclass(frozen=True)
class ParamDef:
    id: int
    name: str
    code: str  # struct code of the value on the wire: B H I f
    default: float
    lo: float
    hi: float
    unit: str = ""
    writable: bool = True

    def check(self, value: float) -> float:
        """The value as stored, or ParamError naming the parameter, value and range."""
        if not self.writable:
            raise ParamError(FailCode.NOT_ALLOWED_IN_MODE, f"parameter {self.name} is read-only")
        v = float(value)
        if v != v or not self.lo <= v <= self.hi:  # NaN fails too
            raise ParamError(
                FailCode.ARG_OUT_OF_RANGE,
                f"{self.name}={value!r} outside [{self.lo:g}, {self.hi:g}] {self.unit}".rstrip(),
            )
        if self.code in "BHI" and v != int(v):
            raise ParamError(FailCode.ARG_OUT_OF_RANGE, f"{self.name}={value!r} must be an integer")
        return v


# Limits and thresholds are mission choices (no flight heritage to cite); each is commandable.
PARAMS: dict[int, ParamDef] = {
    p.id: p
    for p in (
        ParamDef(1, "hk.essential_period_s", "H", 10, 1, 3600, "s"),
        ParamDef(2, "hk.science_period_s", "H", 60, 1, 3600, "s"),
        ParamDef(3, "hk.fsw_period_s", "H", 60, 1, 3600, "s"),
        ParamDef(4, "hk.offline_factor", "B", 6, 1, 100, "x"),
        ParamDef(10, "mon.battery_low_soc", "f", 0.25, 0.05, 0.9, "frac"),
        ParamDef(11, "mon.temp_high_c", "f", 45.0, 0.0, 100.0, "degC"),
        ParamDef(12, "mon.temp_low_c", "f", -30.0, -100.0, 20.0, "degC"),
        ParamDef(13, "mon.storage_high_frac", "f", 0.85, 0.1, 1.0, "frac"),
        ParamDef(14, "mon.repetitions", "B", 3, 1, 20, "samples"),
        ParamDef(15, "mon.obc_temp_high_c", "f", 70.0, 0.0, 125.0, "degC"),
        ParamDef(20, "fdir.stuck_identical", "B", 3, 2, 50, "spectra"),
        ParamDef(21, "fdir.saturation_frac", "f", 0.05, 0.001, 1.0, "frac"),
        ParamDef(22, "fdir.max_retries", "B", 2, 0, 10, "tries"),
        ParamDef(23, "fdir.watchdog_timeout_s", "f", 5.0, 0.5, 600.0, "s"),
        ParamDef(24, "fdir.model_check_period_s", "H", 60, 1, 86400, "s"),
        ParamDef(25, "fdir.noisy_min_snr", "f", 10.0, 0.0, 1000.0, ""),  # real spectra: ≥ 35
        ParamDef(30, "auto.event_threshold", "f", 0.35, 0.0, 1.0, "value"),
        ParamDef(31, "auto.prospect_threshold", "f", 0.6, 0.0, 1.0, "value"),
        ParamDef(32, "auto.reobs_scale", "f", 4.0, 1.0, 64.0, "x"),
        ParamDef(33, "auto.max_reobs", "B", 1, 0, 5, "requests"),
        ParamDef(34, "auto.keep_low_value_raw", "B", 0, 0, 1, "bool"),
        ParamDef(35, "auto.send_all", "B", 0, 0, 1, "bool"),
        ParamDef(36, "auto.summary_obs", "H", 200, 1, 65535, "obs"),
        ParamDef(37, "auto.auto_downlink", "B", 1, 0, 1, "bool"),
        ParamDef(38, "auto.reobs_timeout_s", "f", 3600.0, 1.0, 604800.0, "s"),
        ParamDef(39, "auto.auto_survey", "B", 1, 0, 1, "bool"),
        # spectra below this value stay onboard (catalogue; PRODUCT_DOWNLINK fetches them)
        ParamDef(46, "auto.downlink_min_value", "f", 0.6, 0.0, 2.0, "value"),
        # a site = a cell of this size (deg) per kind of value: its evidence is kept once
        ParamDef(47, "auto.site_cell_deg", "f", 10.0, 0.0, 90.0, "deg"),
        ParamDef(40, "store.capacity_kib", "I", 4096, 16, 1 << 22, "KiB"),
        ParamDef(41, "xfer.part_bytes", "H", 1024, 64, 3800, "B"),
        ParamDef(42, "link.retransmit_s", "f", 120.0, 1.0, 86400.0, "s"),
        # low-power safe mode sheds the transmitter (receive only) below this state of charge (0: never)
        ParamDef(48, "link.tx_min_soc", "f", 0.0, 0.0, 1.0, "frac"),
        ParamDef(43, "mode.safe_exit_soc", "f", 0.40, 0.0, 1.0, "frac"),
        ParamDef(44, "mode.science_min_soc", "f", 0.35, 0.0, 1.0, "frac"),
        ParamDef(45, "cpu.classify_cost_us", "I", 20_000, 0, 10_000_000, "us"),
        ParamDef(50, "sys.boot_count", "I", 0, 0, 2**32 - 1, "", writable=False),
        ParamDef(51, "sys.reset_cause", "B", 0, 0, 255, "", writable=False),
    )
}
BY_NAME = {p.name: p for p in PARAMS.values()}


def param_def(key: int | str) -> ParamDef:
    p = PARAMS.get(key) if isinstance(key, int) else BY_NAME.get(key)
    if p is None:
        raise ParamError(FailCode.NOT_FOUND, f"unknown parameter {key!r}")
    return p


class Nvm:
    """Non-volatile memory: a byte array that outlives the executive (the simulator or the
    board owns it and hands the same object to the next boot). `flip_bit` is the upset."""

    def __init__(self, size_bytes: int = 4096):
        self.data = bytearray(size_bytes)
        self.writes = 0

    def read(self, offset: int, n: int) -> bytes:
        return bytes(self.data[offset : offset + n])

    def write(self, offset: int, payload: bytes) -> None:
        if offset < 0 or offset + len(payload) > len(self.data):
            raise ValueError(
                f"NVM write of {len(payload)} B at {offset} exceeds {len(self.data)} B"
            )
        self.data[offset : offset + len(payload)] = payload
        self.writes += 1

    def flip_bit(self, offset: int, bit: int) -> None:
        self.data[offset] ^= 1 << bit


_MAGIC = b"ASYP"
_HEAD = struct.Struct("!4sIH")  # magic, generation, number of records
_REC = struct.Struct("!Hd")  # parameter ID, value
_CRC = struct.Struct("!I")


class ParamStore:
    """Current parameter values, backed by two NVM banks."""

    def __init__(self, nvm: Nvm):
        self.nvm = nvm
        self.bank_bytes = len(nvm.data) // 2
        self.values = {p.id: float(p.default) for p in PARAMS.values()}
        self.generation = 0
        self.banks_ok = (False, False)

    def load(self) -> bool:
        """Restore from the newest valid bank; False (defaults kept) when neither is valid."""
        best = None
        ok = []
        for bank in (0, 1):
            image = self._read_bank(bank)
            ok.append(image is not None)
            if image is not None and (best is None or image[0] > best[0]):
                best = image
        self.banks_ok = (ok[0], ok[1])
        if best is None:
            return False
        self.generation, stored = best
        for pid, value in stored.items():
            if pid in PARAMS:  # a parameter retired from the table is ignored
                self.values[pid] = value
        return True

    def _read_bank(self, bank: int) -> tuple[int, dict[int, float]] | None:
        raw = self.nvm.read(bank * self.bank_bytes, self.bank_bytes)
        magic, gen, n = _HEAD.unpack_from(raw, 0)
        size = _HEAD.size + n * _REC.size
        if magic != _MAGIC or size + _CRC.size > len(raw):
            return None
        if zlib.crc32(raw[:size]) != _CRC.unpack_from(raw, size)[0]:
            return None
        recs = (_REC.unpack_from(raw, _HEAD.size + i * _REC.size) for i in range(n))
        return gen, {pid: v for pid, v in recs}

    def commit(self) -> None:
        """Write all values to the older bank (the other one stays as the fallback)."""
        self.generation += 1
        body = _HEAD.pack(_MAGIC, self.generation, len(self.values))
        body += b"".join(_REC.pack(pid, v) for pid, v in sorted(self.values.items()))
        image = body + _CRC.pack(zlib.crc32(body))
        if len(image) > self.bank_bytes:
            raise ValueError(
                f"parameter image {len(image)} B exceeds the NVM bank ({self.bank_bytes} B)"
            )
        self.nvm.write((self.generation % 2) * self.bank_bytes, image)

    def get(self, key: int | str) -> float:
        return self.values[param_def(key).id]

    def set(self, key: int | str, value: float, *, commit: bool = True) -> None:
        p = param_def(key)
        self.values[p.id] = p.check(value)
        if commit:
            self.commit()

    def set_many(self, items: list[tuple[int, float]]) -> None:
        """All or nothing: every (ID, value) is checked before any is applied."""
        checked = [(param_def(pid).id, param_def(pid).check(v)) for pid, v in items]
        for pid, v in checked:
            self.values[pid] = v
        self.commit()

    def set_system(self, name: str, value: float) -> None:
        """Update a read-only system record (boot count, reset cause) and commit."""
        self.values[BY_NAME[name].id] = float(value)
        self.commit()

    def __getitem__(self, name: str) -> float:
        return self.values[BY_NAME[name].id]


def pack_values(items: list[tuple[int, float]]) -> bytes:
    """TM[20,2] / TC[20,3] layout: count (u16), then (ID u16, value in the parameter's type)."""
    out = [struct.pack("!H", len(items))]
    for pid, v in items:
        p = PARAMS[pid]
        out.append(struct.pack("!H" + p.code, pid, int(v) if p.code in "BHI" else v))
    return b"".join(out)


def unpack_values(data: bytes) -> list[tuple[int, float]]:
    """Inverse of `pack_values`; ParamError names the unknown ID or the short field."""
    if len(data) < 2:
        raise ParamError(FailCode.ARG_MALFORMED, "parameter list: missing the u16 count")
    (n,) = struct.unpack_from("!H", data, 0)
    pos, out = 2, []
    for i in range(n):
        if pos + 2 > len(data):
            raise ParamError(FailCode.ARG_MALFORMED, f"parameter list: item {i} of {n} missing")
        (pid,) = struct.unpack_from("!H", data, pos)
        p = param_def(pid)
        size = struct.calcsize("!" + p.code)
        if pos + 2 + size > len(data):
            raise ParamError(FailCode.ARG_MALFORMED, f"parameter {p.name}: value truncated")
        (v,) = struct.unpack_from("!" + p.code, data, pos + 2)
        out.append((pid, float(v)))
        pos += 2 + size
    if pos != len(data):
        raise ParamError(
            FailCode.ARG_MALFORMED, f"parameter list: {len(data) - pos} trailing bytes"
        )
    return out
