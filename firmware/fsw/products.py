"""Science products and the product store (in mass memory, ordered by value).

Three kinds, each a self-describing byte string with a CRC-32 (file-sized data: CRC-32 rather
than the packet CRC-16, per the HIL notes §6):
- SPECTRUM: one observation — wavelengths, reflectance and error as 16-bit codes over each
  array's own range (a step of range/65534: 0.03 nm over 0.45–2.45 µm, and far below any
  reflectance noise, as the 16-bit ADC itself), where and when, and what the spectral core
  made of it (class, slope, PC scores, value). Finds are spectra too.
- SUMMARY: what autonomy keeps of low-value data instead of raw spectra — a class map (the
  majority class and count per latitude/longitude cell) and per-class statistics.
Products wait in the `ProductStore` until the downlink takes the most valuable first; when
storage runs short the least valuable are discarded first (counted, with an event).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from firmware.errors import AssayError


class ProductKind(IntEnum):
    SPECTRUM = 1
    SUMMARY = 2


class ProductError(AssayError, ValueError):
    """A product byte string is damaged or not a product; the message says where."""


_HEAD = struct.Struct("!2sBBIqfI")  # magic, version, kind, product id, t_ns, value, payload length
_MAGIC, _VERSION = b"AP", 1
_SPEC = struct.Struct("!Iqffffbbff5fHB")  # see encode_spectrum
_SUMMARY_HEAD = struct.Struct("!qqIBBHB")  # t0, t1, n_obs, n_lat, n_lon, n_cells, n_classes
_CELL = struct.Struct("!HBHB")  # cell index, majority class (255 none), count, mean value ×255
_CLASS_ROW = struct.Struct("!BIffff")  # class (255 unclassified), count, slope, PC1, PC2, value


def _frame(kind: ProductKind, product_id: int, t_ns: int, value: float, payload: bytes) -> bytes:
    body = _HEAD.pack(_MAGIC, _VERSION, kind, product_id, t_ns, value, len(payload)) + payload
    return body + struct.pack("!I", zlib.crc32(body))


def product_ok(blob: bytes) -> bool:
    """The product's CRC-32 still matches (memory scrub)."""
    return (
        len(blob) >= 4 and zlib.crc32(blob[:-4]) == struct.unpack_from("!I", blob, len(blob) - 4)[0]
    )


def unframe(blob: bytes) -> tuple[dict, bytes]:
    """Header fields and payload of a product; ProductError when damaged."""
    if len(blob) < _HEAD.size + 4:
        raise ProductError(f"product of {len(blob)} bytes: shorter than its header")
    if zlib.crc32(blob[:-4]) != struct.unpack_from("!I", blob, len(blob) - 4)[0]:
        raise ProductError("product CRC-32 mismatch: damaged in storage or transfer")
    magic, version, kind, pid, t_ns, value, n = _HEAD.unpack_from(blob, 0)
    if magic != _MAGIC or version != _VERSION:
        raise ProductError(f"not an Assay product (magic {magic!r}, version {version})")
    if _HEAD.size + n + 4 != len(blob):
        raise ProductError(f"product {pid}: payload length {n} does not match {len(blob)} bytes")
    head = {"kind": ProductKind(kind).name, "product_id": pid, "t_ns": t_ns, "value": value}
    return head, blob[_HEAD.size : _HEAD.size + n]


_QUANT = struct.Struct("!ff")  # offset, step of a 16-bit coded array
_NAN_CODE = 0xFFFF


def _quantize(a) -> bytes:
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    lo = float(a[finite].min()) if finite.any() else 0.0
    hi = float(a[finite].max()) if finite.any() else 0.0
    step = (hi - lo) / (_NAN_CODE - 1) if hi > lo else 1.0
    codes = np.full(a.shape, _NAN_CODE, dtype=">u2")
    codes[finite] = np.round((a[finite] - lo) / step)
    return _QUANT.pack(lo, step) + codes.tobytes()


def _dequantize(buf: bytes, offset: int, n: int) -> np.ndarray:
    lo, step = _QUANT.unpack_from(buf, offset)
    codes = np.frombuffer(buf, dtype=">u2", count=n, offset=offset + _QUANT.size)
    return np.where(codes == _NAN_CODE, np.nan, lo + codes.astype(np.float64) * step)


def encode_spectrum(
    product_id: int, obs, cls_index: int, value: float, value_kind: int, slope: float, pc, t_ns: int
) -> bytes:
    """SPECTRUM product: observation metadata, classification, then the arrays."""
    wl = np.asarray(obs.wavelength_um, dtype=np.float64)
    has_err = obs.error is not None
    pcs = [float(v) for v in pc] if pc is not None else [float("nan")] * 5
    meta = _SPEC.pack(
        obs.obs_id,
        obs.t_ns,
        obs.lat_deg,
        obs.lon_deg,
        obs.snr,
        obs.integration_scale,
        cls_index,
        value_kind,
        value,
        float("nan") if slope is None else slope,
        *pcs,
        wl.size,
        int(has_err),
    )
    arrays = _quantize(wl) + _quantize(obs.reflectance)
    if has_err:
        arrays += _quantize(obs.error)
    return _frame(ProductKind.SPECTRUM, product_id, t_ns, value, meta + arrays)


def spectrum_product_bytes(n_bands: int, with_error: bool = True) -> int:
    """Size of a SPECTRUM product of `n_bands` bands (header, metadata, coded arrays, CRC)."""
    coded = _QUANT.size + 2 * n_bands
    return _HEAD.size + _SPEC.size + coded * (3 if with_error else 2) + 4


def decode_spectrum(payload: bytes) -> dict:
    if len(payload) < _SPEC.size:
        raise ProductError(f"spectrum product: {len(payload)} bytes, header needs {_SPEC.size}")
    f = _SPEC.unpack_from(payload, 0)
    n, has_err = f[-2], f[-1]
    coded = _QUANT.size + 2 * n
    need = _SPEC.size + coded * (3 if has_err else 2)
    if len(payload) != need:
        raise ProductError(f"spectrum product: {len(payload)} bytes, {n} bands need {need}")
    pos = _SPEC.size
    wl = _dequantize(payload, pos, n)
    refl = _dequantize(payload, pos + coded, n)
    err = _dequantize(payload, pos + 2 * coded, n) if has_err else None
    return {
        "obs_id": f[0],
        "obs_t_ns": f[1],
        "lat_deg": f[2],
        "lon_deg": f[3],
        "snr": f[4],
        "integration_scale": f[5],
        "class_index": f[6],
        "value_kind": f[7],
        "value": f[8],
        "slope": f[9],
        "pc": list(f[10:15]),
        "wavelength_um": wl,
        "reflectance": refl,
        "error": err,
    }


@dataclass
class ClassMap:
    """Accumulates observations into a latitude/longitude grid and per-class statistics."""

    cell_deg: float = 10.0
    t0_ns: int | None = None
    t1_ns: int = 0
    n_obs: int = 0
    cells: dict[int, dict[int, list[float]]] = field(
        default_factory=dict
    )  # cell → class → [n, Σvalue]
    classes: dict[int, list[float]] = field(
        default_factory=dict
    )  # class → [n, Σslope, ΣPC1, ΣPC2, Σvalue]

    @property
    def n_lat(self) -> int:
        return int(round(180 / self.cell_deg))

    @property
    def n_lon(self) -> int:
        return int(round(360 / self.cell_deg))

    def add(
        self,
        t_ns: int,
        lat_deg: float,
        lon_deg: float,
        cls_index: int,
        slope: float,
        pc1: float,
        pc2: float,
        value: float,
    ) -> None:
        self.t0_ns = t_ns if self.t0_ns is None else self.t0_ns
        self.t1_ns = t_ns
        self.n_obs += 1
        c = 255 if cls_index < 0 else cls_index
        if lat_deg == lat_deg and lon_deg == lon_deg:
            i = min(int((lat_deg + 90) // self.cell_deg), self.n_lat - 1)
            j = int((lon_deg % 360) // self.cell_deg) % self.n_lon
            acc = self.cells.setdefault(i * self.n_lon + j, {}).setdefault(c, [0, 0.0])
            acc[0] += 1
            acc[1] += value
        row = self.classes.setdefault(c, [0, 0.0, 0.0, 0.0, 0.0])
        finite = [v if v == v else 0.0 for v in (slope, pc1, pc2)]
        row[0] += 1
        for k, v in enumerate((*finite, value)):
            row[k + 1] += v

    def encode(self, product_id: int, t_ns: int, value: float) -> bytes:
        cells = []
        for idx in sorted(self.cells):
            by_class = self.cells[idx]
            major = max(sorted(by_class), key=lambda c: by_class[c][0])
            n = sum(v[0] for v in by_class.values())
            mean_value = sum(v[1] for v in by_class.values()) / n
            cells.append(
                _CELL.pack(idx, major, min(n, 0xFFFF), int(round(255 * min(max(mean_value, 0), 1))))
            )
        rows = [
            _CLASS_ROW.pack(c, int(r[0]), *(v / r[0] for v in r[1:]))
            for c, r in sorted(self.classes.items())
        ]
        head = _SUMMARY_HEAD.pack(
            self.t0_ns or 0, self.t1_ns, self.n_obs, self.n_lat, self.n_lon, len(cells), len(rows)
        )
        return _frame(
            ProductKind.SUMMARY, product_id, t_ns, value, head + b"".join(cells) + b"".join(rows)
        )


def decode_summary(payload: bytes) -> dict:
    if len(payload) < _SUMMARY_HEAD.size:
        raise ProductError(
            f"summary product: {len(payload)} bytes, header needs {_SUMMARY_HEAD.size}"
        )
    t0, t1, n_obs, n_lat, n_lon, n_cells, n_rows = _SUMMARY_HEAD.unpack_from(payload, 0)
    need = _SUMMARY_HEAD.size + n_cells * _CELL.size + n_rows * _CLASS_ROW.size
    if len(payload) != need:
        raise ProductError(f"summary product: {len(payload)} bytes, its counts need {need}")
    pos = _SUMMARY_HEAD.size
    cells = [_CELL.unpack_from(payload, pos + k * _CELL.size) for k in range(n_cells)]
    pos += n_cells * _CELL.size
    rows = [_CLASS_ROW.unpack_from(payload, pos + k * _CLASS_ROW.size) for k in range(n_rows)]
    return {
        "t0_ns": t0,
        "t1_ns": t1,
        "n_obs": n_obs,
        "n_lat": n_lat,
        "n_lon": n_lon,
        "cells": [
            {
                "cell": c[0],
                "lat_index": c[0] // n_lon,
                "lon_index": c[0] % n_lon,
                "class_index": c[1],
                "count": c[2],
                "mean_value": c[3] / 255,
            }
            for c in cells
        ],
        "classes": [
            {
                "class_index": r[0],
                "count": r[1],
                "mean_slope": r[2],
                "mean_pc1": r[3],
                "mean_pc2": r[4],
                "mean_value": r[5],
            }
            for r in rows
        ],
    }


def decode_product(blob: bytes) -> dict:
    head, payload = unframe(blob)
    body = decode_spectrum(payload) if head["kind"] == "SPECTRUM" else decode_summary(payload)
    return {**head, **body}


@dataclass
class Product:
    product_id: int
    kind: ProductKind
    value: float
    created_ns: int
    blob: bytes


class ProductStore:
    """Products waiting for the downlink, best value first (then oldest first)."""

    def __init__(self):
        self.items: dict[int, Product] = {}
        self.used_bytes = 0
        self.next_id = 1
        self.discarded = 0
        self.created = 0
        # byte ledger: added, and removed by reason (packetised for the downlink, discarded,
        # superseded by a better spectrum, deleted by command, corrupted), refused at admission
        self.added_bytes = 0
        self.removed_bytes: dict[str, int] = {}
        self.refused_bytes = 0

    def new_id(self) -> int:
        pid = self.next_id
        self.next_id += 1
        return pid

    def add(self, product: Product) -> None:
        self.items[product.product_id] = product
        self.used_bytes += len(product.blob)
        self.added_bytes += len(product.blob)
        self.created += 1

    def remove(self, product_id: int, reason: str = "deleted") -> Product:
        p = self.items.pop(product_id)
        self.used_bytes -= len(p.blob)
        self.removed_bytes[reason] = self.removed_bytes.get(reason, 0) + len(p.blob)
        return p

    def best(self, min_value: float = -1.0) -> Product | None:
        """The product to send next: highest value, then oldest. Spectra below `min_value`
        wait onboard; summaries always qualify."""
        ok = [
            p for p in self.items.values() if p.kind == ProductKind.SUMMARY or p.value >= min_value
        ]
        if not ok:
            return None
        return min(ok, key=lambda p: (-p.value, p.created_ns, p.product_id))

    def worst(self) -> Product | None:
        if not self.items:
            return None
        return max(self.items.values(), key=lambda p: (-p.value, p.created_ns, p.product_id))

    def catalogue(self) -> list[Product]:
        return sorted(self.items.values(), key=lambda p: (-p.value, p.created_ns, p.product_id))
