"""The simple onboard loop: classify every observation, store the results, downlink by value.

This is the baseline flight software of the mission simulator (`spacecraft.computer.kind =
"simple"`); the flight executive (`firmware/fsw/`, kind "fsw", `firmware.fsw.computer`) sits
behind the same seam: an object with `reset(t_ns)` and `step(OnboardInputs) ->
OnboardOutputs` (the seam types: `firmware.fsw.seam`, re-exported here). Two parts of the
simple loop are pluggable:

- the classifier backend: the host numba core (`HostClassifier`) or a board over serial
  (`hil.pil.BoardInTheLoop`, `assay run --board`); it takes (N, B) spectra (and `obs_ids=`
  when it sets `wants_obs_ids`: `firmware.fsw.seam.classify_frames`) and returns a `BatchResult`;
- the valuer (`value_batch(wavelength_um, reflectance, error, batch) -> [Valuation]`):
  `SimpleValuer` (a rule on class and the 0.7 µm feature) or `ProspectValuer` (the
  prospecting verdict of `firmware.prospect`: band analysis, water/metal levels).

What the loop does each step: queue new frames (volatile RAM); classify the queue in one
batch when it is full, or when observing stops (numba wakes once per batch, not per
spectrum); store a compact result record for every observation and the raw spectrum
(value-tagged); when the store is full, delete the least valuable spectra to make room for
more valuable products, else refuse the new one (both counted as dropped); in a pass, send
products in order of value (results first); pick the mode for the next interval from the
battery, the geometry and the link. A brown-out (bus reset) clears RAM: queued frames are
lost and the loop holds SAFE until the battery recovers.

Products are real bytes (`encode_result`, `encode_spectrum`: little-endian structs with a
CRC-16/CCITT-FALSE), decoded on the ground by `sim.ground`.
"""

from __future__ import annotations

import binascii
import heapq
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware._jit import set_threads
from firmware.busdemeo import BatchResult, classify_batch
from firmware.fsw.seam import (  # the seam types, shared with the flight executive
    LookRequest,
    OnboardInputs,
    OnboardOutputs,
    ResultRecord,
    StorageDelta,
    classify_frames,
)
from firmware.taxonomy import CLASS_NAMES, complex_of
from firmware.valuation import (  # the value rules, re-exported for the loop's users
    VALUERS,
    VERDICTS,
    ProspectValuer,
    SimpleValuer,
    Valuation,
    simple_value,
)

__all__ = [
    "VALUERS", "VERDICTS", "LookRequest", "OnboardInputs", "OnboardOutputs", "ProspectValuer",
    "ResultRecord", "SimpleValuer", "StorageDelta", "Valuation", "simple_value",
]  # fmt: skip

MODES = ("SAFE", "IDLE", "SURVEY", "DOWNLINK")
KIND_RESULT, KIND_SPECTRUM = 0xA1, 0xA2
FORMAT_VERSION = 1
# kind, version, obs_id, t_ms, lat_cdeg, lon_cdeg, class (−1 none), w, flags, verdict,
# value·255, status, slope·1e4, PC1..PC5 ·1e4, SNR·10
RESULT_STRUCT = struct.Struct("<BBIqhhbBBBBBh5hH")
# kind, version, obs_id, t_ms, n_bands, reflectance per DN, error per DN
SPECTRUM_HEADER = struct.Struct("<BBIqHff")
CRC_BYTES = 2
OBSERVE_HYSTERESIS = 0.05  # state of charge above min_soc_observe needed to resume SURVEY


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): binascii's C implementation."""
    return binascii.crc_hqx(data, 0xFFFF)


# -- seam types: a classifier has classify(wavelength_um, reflectance (N, B), error) -> BatchResult
class HostClassifier:
    """The spectral core on the host: `firmware.busdemeo.classify_batch`.

    `threads` (default 1: a flight computer has one core) bounds numba's threads for the
    call. It also keeps small batches off the thread pool: on a busy 2-core machine a
    2-thread region waits for a descheduled worker (tens of ms per call, measured here).
    """

    name = "host-numba"

    def __init__(self, threads: int | None = 1):
        self.threads = threads

    def classify(self, wavelength_um, reflectance, error=None) -> BatchResult:
        if self.threads is None:
            return classify_batch(wavelength_um, reflectance, error)
        previous = set_threads(self.threads)
        try:
            return classify_batch(wavelength_um, reflectance, error)
        finally:
            set_threads(previous)


@dataclass(frozen=True)
class Product:
    product_id: int
    kind: str  # result | spectrum
    obs_id: int
    t_ns: int
    value: float
    payload: bytes = field(repr=False)

    @property
    def n_bytes(self) -> int:
        return len(self.payload)

    @property
    def priority(self) -> float:
        """Results (tiny, every observation) outrank every raw spectrum."""
        return self.value + (1.0 if self.kind == "result" else 0.0)


@dataclass(frozen=True)
class OnboardConfig:
    wavelength_um: np.ndarray
    capacity_bytes: int
    batch_size: int = 32
    cpu_s_per_spectrum: float = 0.02
    min_soc_observe: float = 0.4
    safe_soc: float = 0.2
    resume_soc: float = 0.5
    downlink_raw_min_value: float = 0.0


# -- product encoding -------------------------------------------------------------------------
def _i16(x: float, scale: float) -> int:
    """Scaled int16; NaN → −32768 (missing)."""
    return max(-32767, min(32767, round(x * scale))) if x == x else -32768


def encode_result(frame: Any, batch: BatchResult, i: int, val: Valuation) -> bytes:
    c = int(batch.class_index[i])
    det = batch.features[i, :, 3]
    flags = sum(1 << b for b in range(3) if det[b] == det[b] and det[b] > 0.5)
    flags |= (1 << 3) if batch.tree_indeterminate[i] else 0
    flags |= (1 << 4) if getattr(frame, "n_saturated", 0) else 0
    body = RESULT_STRUCT.pack(
        KIND_RESULT, FORMAT_VERSION, frame.obs_id, frame.t_ns // 1_000_000,
        _i16(frame.lat_deg, 100), _i16(frame.lon_deg, 100), c, int(bool(batch.w[i])), flags,
        VERDICTS.index(val.verdict), int(round(val.value * 255)), int(batch.status[i]),
        _i16(float(batch.slope[i]), 1e4), *(_i16(float(p), 1e4) for p in batch.pc[i]),
        max(0, min(65535, round(frame.snr_median * 10))),
    )  # fmt: skip
    return body + struct.pack("<H", crc16(body))


def encode_spectrum(frame: Any) -> bytes:
    r = np.asarray(frame.reflectance, dtype=np.float64)
    e = np.asarray(frame.error, dtype=np.float64)
    finite = np.isfinite(r)
    top = float(np.max(np.abs(r[finite]))) if finite.any() else 1.0
    r_scale = max(top, 1e-12) / 32000.0  # int16: ±32767, −32768 = missing
    e_top = float(np.nanmax(e)) if np.isfinite(e).any() else 1.0
    e_scale = max(e_top, 1e-12) / 254.0
    r_dn = np.where(finite, np.clip(np.round(r / r_scale), -32767, 32767), -32768).astype("<i2")
    e_dn = np.where(np.isfinite(e), np.clip(np.round(e / e_scale), 0, 254), 255).astype(np.uint8)
    head = SPECTRUM_HEADER.pack(KIND_SPECTRUM, FORMAT_VERSION, frame.obs_id, frame.t_ns // 1_000_000,
                                r.size, r_scale, e_scale)  # fmt: skip
    body = head + r_dn.tobytes() + e_dn.tobytes()
    return body + struct.pack("<H", crc16(body))


# -- the loop ---------------------------------------------------------------------------------
class OnboardLoop:
    """The simple scheduler. See the module docstring for what one step does."""

    def __init__(self, config: OnboardConfig, classifier=None, valuer=None):
        self.cfg = config
        self.classifier = classifier or HostClassifier()
        self.valuer = valuer or SimpleValuer()
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        """Cold start: empty RAM and store."""
        self.queue: list = []
        self.store: dict[int, Product] = {}
        self.used_bytes = 0
        self.next_id = 1
        self.safe = False
        self.power_ok = True
        self.tx_id: int | None = None  # product on the air and how many of its bytes have gone
        self.tx_done = 0
        self.lost = 0
        # lazy heaps over the store (entries of deleted products are skipped when met)
        self._send_heap: list[tuple[float, int, int]] = []  # most valuable first
        self._evict_heap: list[tuple[float, int, int]] = []  # least valuable first

    def step(self, inp: OnboardInputs) -> OnboardOutputs:
        events: list[str] = []
        written: list[Product] = []
        deleted: list[Product] = []
        refused: list[Product] = []
        results: list[ResultRecord] = []
        lost = 0
        self.queue.extend(inp.frames)
        if inp.bus_reset:
            lost = len(self.queue)
            self.lost += lost
            self.queue.clear()
            self._abort_transmission()
            if not self.safe:
                events.append(f"bus reset: RAM cleared, {lost} queued observations lost; SAFE")
            self.safe = True
        cpu_s = 0.0
        flush = inp.final or not inp.observable or inp.window_open
        if self.queue and (len(self.queue) >= self.cfg.batch_size or flush):
            cpu_s = self._classify(results, written, deleted, refused)
        sent, tx_s = self._downlink(inp)
        mode = self._decide(inp, events)
        return OnboardOutputs(mode, tuple(results), tuple(written), tuple(deleted), tuple(refused),
                              tuple(sent), cpu_s, tx_s, lost, tuple(events))  # fmt: skip

    def _classify(self, results, written, deleted, refused) -> float:
        frames, self.queue = self.queue, []
        refl = np.stack([np.asarray(f.reflectance) for f in frames])
        err = np.stack([np.asarray(f.error) for f in frames])
        ids = [f.obs_id for f in frames]
        batch = classify_frames(self.classifier, self.cfg.wavelength_um, refl, err, ids)
        values = self.valuer.value_batch(self.cfg.wavelength_um, refl, err, batch)
        for i, (f, val) in enumerate(zip(frames, values, strict=True)):
            c = int(batch.class_index[i])
            cls = "" if c < 0 else CLASS_NAMES[c] + ("w" if batch.w[i] else "")
            reason = "" if c >= 0 else (batch.result(i).reason or "")
            results.append(ResultRecord(f.obs_id, f.t_ns, cls, complex_of(cls) or "", val.verdict, val.value, reason))
            for kind, payload in (("result", encode_result(f, batch, i, val)), ("spectrum", encode_spectrum(f))):
                p = Product(self.next_id, kind, f.obs_id, f.t_ns, val.value, payload)
                self.next_id += 1
                self._store(p, written, deleted, refused)
        return len(frames) * self.cfg.cpu_s_per_spectrum

    def _sendable(self, p: Product) -> bool:
        return p.kind == "result" or p.value >= self.cfg.downlink_raw_min_value

    def _top(self, heap: list) -> Product | None:
        while heap:
            p = self.store.get(heap[0][2])
            if p is not None:
                return p
            heapq.heappop(heap)
        return None

    def _store(self, p: Product, written, deleted, refused) -> None:
        free = self.cfg.capacity_bytes - self.used_bytes
        chosen: list[Product] = []
        on_air: Product | None = None  # the product being transmitted is never deleted
        while free < p.n_bytes:
            q = self._top(self._evict_heap)
            if q is None or q.priority >= p.priority:
                break
            heapq.heappop(self._evict_heap)
            if q.product_id == self.tx_id:
                on_air = q
                continue
            del self.store[q.product_id]  # tentatively
            chosen.append(q)
            free += q.n_bytes
        if on_air is not None:
            heapq.heappush(self._evict_heap, (on_air.priority, on_air.t_ns, on_air.product_id))
        if free < p.n_bytes:  # cannot make room: put the candidates back, refuse the new one
            for q in chosen:
                self.store[q.product_id] = q
                heapq.heappush(self._evict_heap, (q.priority, q.t_ns, q.product_id))
            refused.append(p)
            return
        for q in chosen:
            self.used_bytes -= q.n_bytes
            deleted.append(q)
        self.store[p.product_id] = p
        self.used_bytes += p.n_bytes
        heapq.heappush(self._evict_heap, (p.priority, p.t_ns, p.product_id))
        if self._sendable(p):
            heapq.heappush(self._send_heap, (-p.priority, p.t_ns, p.product_id))
        written.append(p)

    def _downlink(self, inp: OnboardInputs) -> tuple[list[Product], float]:
        """Stream products over the link, most valuable first. The radio sends up to
        `downlink_budget_bytes` in the interval; a product counts as sent when its last byte
        has gone; one cut off by the end of the pass is sent again from its start."""
        if not inp.window_open:
            self._abort_transmission()
            return [], 0.0
        avail = inp.downlink_budget_bytes
        sent: list[Product] = []
        while avail > 0:
            if self.tx_id is None:
                p = self._top(self._send_heap)
                if p is None:
                    break
                heapq.heappop(self._send_heap)
                self.tx_id, self.tx_done = p.product_id, 0
            p = self.store[self.tx_id]
            need = p.n_bytes - self.tx_done
            if need > avail:
                self.tx_done += avail
                avail = 0
                break
            avail -= need
            del self.store[p.product_id]
            self.used_bytes -= p.n_bytes
            sent.append(p)
            self.tx_id, self.tx_done = None, 0
        transmitted = inp.downlink_budget_bytes - avail
        tx_s = transmitted * 8 / inp.rate_bps if inp.rate_bps > 0 else 0.0
        return sent, tx_s

    def _abort_transmission(self) -> None:
        if self.tx_id is not None and self.tx_id in self.store:
            p = self.store[self.tx_id]
            heapq.heappush(self._send_heap, (-p.priority, p.t_ns, p.product_id))
        self.tx_id, self.tx_done = None, 0

    def has_sendable(self) -> bool:
        return self.tx_id is not None or self._top(self._send_heap) is not None

    def _decide(self, inp: OnboardInputs, events: list[str]) -> str:
        c = self.cfg
        if inp.soc < c.safe_soc and not self.safe:
            self.safe = True
            events.append(f"battery {inp.soc:.1%} below {c.safe_soc:.0%}: SAFE")
        if self.safe and inp.soc >= c.resume_soc and not inp.bus_reset:
            self.safe = False
            events.append(f"battery {inp.soc:.1%} ≥ {c.resume_soc:.0%}: leaving SAFE")
        if self.safe:
            return "SAFE"
        # observing stops below min_soc_observe and resumes OBSERVE_HYSTERESIS above it
        if inp.soc < c.min_soc_observe:
            self.power_ok = False
        elif inp.soc >= c.min_soc_observe + OBSERVE_HYSTERESIS:
            self.power_ok = True
        if inp.link_up and self.has_sendable():
            return "DOWNLINK"
        if inp.observable and self.power_ok:
            return "SURVEY"
        return "IDLE"

    @property
    def busy(self) -> bool:
        """Work pending that needs the next step (queued frames)."""
        return bool(self.queue)

