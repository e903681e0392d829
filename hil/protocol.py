"""Request and answer bodies of the board protocol (host side).

The message types, formats and the result layout are the board's own constants
(`firmware/board/assay_harness.py`), imported here so the two sides cannot drift apart.
Every decoder checks sizes and values and raises `ProtocolError` naming the field.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from firmware.board import assay_harness as H
from firmware.errors import AssayError
from firmware.taxonomy import CLASS_NAMES, DEMEO_GRID_UM

N_GRID = DEMEO_GRID_UM.size
PC_SCALE = float(1 << H.model.Q_PC)
NAK_REASONS = {1: "crc", 2: "cobs", 3: "too long", 4: "too short", 5: "length"}
ERR_CODES = {1: "unknown request", 2: "bad length", 3: "bad format", 4: "board exception"}
STATUS_NAMES = {0: "ok", 1: "no coverage", 2: "bad normalisation", 5: "out of range",
                6: "templates not on the board"}  # fmt: skip
FMT_NAMES = {"int16": H.FMT_INT16, "float32": H.FMT_FLOAT32}
MAX_BATCH = 255


class ProtocolError(AssayError):
    """An answer does not have the layout the protocol defines."""


@dataclass(frozen=True)
class BoardResult:
    """One classification as the board answered it (integers decoded to floats)."""

    status: int
    class_index: int  # −1 = none
    w: bool
    tree_indeterminate: bool
    edge_filled: bool
    thermal_k: int  # temperature of a removed thermal tail (K, 2 K steps), 0 = none
    slope: float  # µm⁻¹
    pc: tuple[float, float, float, float, float]
    raw: bytes  # the 26 bytes as received (for bit-exact comparisons)

    @property
    def label(self) -> str | None:
        if self.class_index < 0:
            return None
        return CLASS_NAMES[self.class_index] + ("w" if self.w else "")


def flags_byte(flags) -> int:
    """e/h/k detections (3 truthy values) → the request's flags byte (bit 0 e, 1 h, 2 k)."""
    e, h, k = (bool(v) and not (isinstance(v, float) and np.isnan(v)) for v in flags)
    return int(e) | int(h) << 1 | int(k) << 2


def quantise_int16(r41) -> np.ndarray:
    """41 reflectances → int16 with a common power-of-two scale (the board normalises, so the
    scale cancels); NaN → −32768. Chosen so the largest |value| uses the full int16 range."""
    r = np.asarray(r41, dtype=np.float64)
    finite = np.isfinite(r)
    out = np.full(r.shape, H.bdm.INT16_MISSING, dtype=np.int16)
    if not finite.any():
        return out
    peak = np.max(np.abs(r[finite]))
    exp = 0 if peak == 0 else int(np.floor(np.log2(32767.0 / peak)))
    q = np.floor(r[finite] * 2.0**exp + 0.5)
    out[finite] = np.clip(q, -32767, 32767).astype(np.int16)
    return out


def _values(r41, fmt: int) -> bytes:
    r = np.asarray(r41, dtype=np.float64)
    if r.shape != (N_GRID,):
        raise ValueError(f"a spectrum on the DeMeo grid has {N_GRID} values, got shape {r.shape}")
    if fmt == H.FMT_INT16:
        return quantise_int16(r).astype("<i2").tobytes()
    if fmt == H.FMT_FLOAT32:
        return r.astype("<f4").tobytes()
    raise ValueError(f"fmt {fmt}: expected 0 (int16) or 1 (float32)")


def classify_body(r41, flags, fmt: int = H.FMT_INT16) -> bytes:
    return bytes((fmt, flags_byte(flags))) + _values(r41, fmt)


def batch_body(r41s, flags, fmt: int = H.FMT_INT16) -> bytes:
    n = len(r41s)
    if not 0 < n <= MAX_BATCH:
        raise ValueError(f"a batch holds 1–{MAX_BATCH} spectra, got {n}")
    out = bytearray((fmt, n))
    for r, f in zip(r41s, flags, strict=True):
        out.append(flags_byte(f))
        out += _values(r, fmt)
    return bytes(out)


def batch_capacity(max_payload: int, fmt: int = H.FMT_INT16) -> int:
    """Spectra per BATCH request that fit the board's payload limit (and its answer too)."""
    rec = 1 + N_GRID * H.VALUE_SIZE[fmt]
    return max(1, min(MAX_BATCH, (max_payload - 2) // rec, max_payload // H.RESULT_SIZE))


def decode_result(raw: bytes) -> BoardResult:
    if len(raw) != H.RESULT_SIZE:
        raise ProtocolError(f"a result is {H.RESULT_SIZE} bytes, got {len(raw)}")
    st, cls, bits, half_k, slope, *pc = struct.unpack(H.RESULT, raw)
    if st not in STATUS_NAMES:
        raise ProtocolError(f"result field status={st}: not a known status {sorted(STATUS_NAMES)}")
    if not -1 <= cls < len(CLASS_NAMES):
        raise ProtocolError(f"result field class={cls}: outside −1..{len(CLASS_NAMES) - 1}")
    if bits & ~0x0F:
        raise ProtocolError(f"result field bits=0x{bits:02x}: only bits 0–3 are defined")
    if bool(bits & 8) != bool(half_k):
        raise ProtocolError(f"result fields bits=0x{bits:02x}, tail={half_k}: thermal flag without temperature")
    return BoardResult(st, cls, bool(bits & 1), bool(bits & 2), bool(bits & 4), 2 * half_k,
                       slope / PC_SCALE, tuple(v / PC_SCALE for v in pc), bytes(raw))  # fmt: skip


def decode_results(body: bytes, n: int) -> list[BoardResult]:
    if len(body) != n * H.RESULT_SIZE:
        raise ProtocolError(f"answer of {len(body)} bytes for {n} spectra: expected {n * H.RESULT_SIZE}")
    return [decode_result(body[i * H.RESULT_SIZE : (i + 1) * H.RESULT_SIZE]) for i in range(n)]


def decode_info(body: bytes) -> dict:
    try:
        info = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"INFO answer is not JSON: {body[:80]!r}") from exc
    for key in ("firmware", "protocol", "platform", "model_sha", "max_payload"):
        if key not in info:
            raise ProtocolError(f"INFO answer lacks field {key!r}: {sorted(info)}")
    return info


def decode_err(body: bytes) -> tuple[int, str]:
    if not body:
        return 0, "ERR without a code"
    return body[0], body[1:].decode(errors="replace")


def decode_hello(body: bytes) -> tuple[int, str]:
    if not body:
        raise ProtocolError("HELLO without a protocol version")
    return body[0], body[1:].decode(errors="replace")
