"""The ground segment's receiver: products arrive one light time after they are sent, and are
decoded from their bytes (the format of `firmware.onboard`), CRC checked.

`decode_product(data)` is the independent decoder (fuzzed in the tests): it returns a dict
or raises `ProductDecodeError` saying what is wrong; it never crashes on bad bytes.
"""

from __future__ import annotations

import struct

import numpy as np

from firmware.errors import AssayError
from firmware.onboard import (
    CRC_BYTES,
    FORMAT_VERSION,
    KIND_RESULT,
    KIND_SPECTRUM,
    RESULT_STRUCT,
    SPECTRUM_HEADER,
    VERDICTS,
    crc16,
)
from firmware.taxonomy import CLASS_NAMES
from sim.bus import FOREVER_NS, MessageBus, Module

MISSING_I16 = -32768


class ProductDecodeError(AssayError, ValueError):
    """Bytes received from the spacecraft are not a valid product."""


def decode_product(data: bytes) -> dict:
    if len(data) < 2 + CRC_BYTES:
        raise ProductDecodeError(f"product of {len(data)} bytes is too short for a header and CRC")
    body, (crc,) = data[:-CRC_BYTES], struct.unpack("<H", data[-CRC_BYTES:])
    if crc16(body) != crc:
        raise ProductDecodeError(f"CRC mismatch: computed {crc16(body):#06x}, received {crc:#06x}")
    kind, version = body[0], body[1]
    if version != FORMAT_VERSION:
        raise ProductDecodeError(f"format version {version}, this decoder reads {FORMAT_VERSION}")
    if kind == KIND_RESULT:
        return _decode_result(body)
    if kind == KIND_SPECTRUM:
        return _decode_spectrum(body)
    raise ProductDecodeError(f"unknown product kind {kind:#04x} (result {KIND_RESULT:#04x}, spectrum {KIND_SPECTRUM:#04x})")


def _num(v: int, scale: float) -> float | None:
    return None if v == MISSING_I16 else v / scale


def _decode_result(body: bytes) -> dict:
    if len(body) != RESULT_STRUCT.size:
        raise ProductDecodeError(f"result record of {len(body)} bytes, expected {RESULT_STRUCT.size}")
    (_, _, obs_id, t_ms, lat, lon, cls, w, flags, verdict, value, status, slope,
     *rest) = RESULT_STRUCT.unpack(body)  # fmt: skip
    pcs, snr = rest[:5], rest[5]
    if not -1 <= cls < len(CLASS_NAMES):
        raise ProductDecodeError(f"class index {cls} out of range")
    if verdict >= len(VERDICTS):
        raise ProductDecodeError(f"verdict index {verdict} out of range")
    name = "" if cls < 0 else CLASS_NAMES[cls] + ("w" if w else "")
    return {
        "kind": "result", "obs_id": obs_id, "t_ms": t_ms, "lat_deg": _num(lat, 100),
        "lon_deg": _num(lon, 100), "class": name, "features": "".join(
            ch for b, ch in enumerate("ehk") if flags >> b & 1),
        "tree_indeterminate": bool(flags >> 3 & 1), "saturated": bool(flags >> 4 & 1),
        "verdict": VERDICTS[verdict], "value": value / 255, "status": status,
        "slope": _num(slope, 1e4), "pc": [_num(p, 1e4) for p in pcs], "snr": snr / 10,
    }  # fmt: skip


def _decode_spectrum(body: bytes) -> dict:
    if len(body) < SPECTRUM_HEADER.size:
        raise ProductDecodeError(f"spectrum of {len(body)} bytes is shorter than its header")
    _, _, obs_id, t_ms, n, r_scale, e_scale = SPECTRUM_HEADER.unpack_from(body)
    need = SPECTRUM_HEADER.size + 3 * n
    if len(body) != need:
        raise ProductDecodeError(f"spectrum header says {n} bands ({need} bytes), got {len(body)}")
    if not (np.isfinite(r_scale) and np.isfinite(e_scale)) or r_scale <= 0 or e_scale <= 0:
        raise ProductDecodeError(f"bad scale factors {r_scale!r}, {e_scale!r}")
    off = SPECTRUM_HEADER.size
    r_dn = np.frombuffer(body, dtype="<i2", count=n, offset=off).astype(np.float64)
    e_dn = np.frombuffer(body, dtype=np.uint8, count=n, offset=off + 2 * n).astype(np.float64)
    return {
        "kind": "spectrum", "obs_id": obs_id, "t_ms": t_ms,
        "reflectance": np.where(r_dn == MISSING_I16, np.nan, r_dn * r_scale),
        "error": np.where(e_dn == 255, np.nan, e_dn * e_scale),
    }  # fmt: skip


class Ground(Module):
    """Receives every downlinked product after the light time; keeps what has arrived."""

    name = "ground"

    def __init__(self, bus: MessageBus, comms) -> None:
        super().__init__(bus)
        self.comms = comms
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.in_flight: list = []
        self.received: list[tuple[int, dict]] = []  # (arrival t_ns, decoded product)
        self.received_bytes = 0
        self.decode_errors: list[str] = []

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        link = self.bus.read("link")
        for msg in self.bus.drain("downlink", self.name):
            self.in_flight.append(msg)
            if link is not None and link.pass_id >= 0:
                self.comms.windows[link.pass_id].bytes_sent += msg.n_bytes
        still = []
        for msg in self.in_flight:
            if msg.arrive_ns <= t_ns:
                try:
                    self.received.append((msg.arrive_ns, decode_product(msg.payload)))
                    self.received_bytes += msg.n_bytes
                except ProductDecodeError as exc:
                    self.decode_errors.append(f"product {msg.product_id}: {exc}")
            else:
                still.append(msg)
        self.in_flight = still

    def quiet_until_ns(self, t_ns: int) -> int:
        return FOREVER_NS  # arrivals are bookkeeping: nothing else waits on them
