"""Onboard autonomy: decide from each spectral result what is worth the downlink.

The EO-1 Autonomous Sciencecraft idea (Chien et al. 2005, J. Aerosp. Comput. Inf. Commun. 2,
196: onboard detection of science events, replanning, and downlink of what matters) applied
to prospecting:
- every classified observation is scored by a pluggable value function
  `(result, Observation) -> Valuation(score, kind, reason)`: `busdemeo_value` (default, a
  class ranking) or `prospect_value` (the prospecting verdict of `firmware.assessment`);
- a score ≥ `auto.event_threshold` is a science event: a compact TM[140,1] report plus the
  full spectrum kept as a product at that value;
- a score ≥ `auto.prospect_threshold` (water or metal) is a high-value find: autonomy asks for
  a PROSPECT re-observation at `auto.reobs_scale` × the integration (SNR × √scale when shot
  noise dominates) and, when it comes back, confirms the find (the better spectrum replaces
  the first at the top value) or halves its value;
- a site (a cell of `auto.site_cell_deg` on the surface, per kind of value) needs its
  evidence once: the first spectrum of a site is kept, a site confirmed by a re-observation is
  not looked at again, and later events in a known site are reported (TM[140,1]) without
  their raw spectrum — the redundant spectra of a large deposit would otherwise fill the
  downlink with the same information (novelty, as EO-1's downlink selection);
- below the event threshold the raw spectrum is discarded (or kept at its low value if
  `auto.keep_low_value_raw`); everything, kept or not, goes into the class map and statistics
  closed into a SUMMARY product every `auto.summary_obs` observations;
- the downlink takes products by value (see `ProductStore.best`); spectra below
  `auto.downlink_min_value` wait onboard (in the catalogue, TM[140,2]) for a ground request.
With `auto.send_all` the baseline "send everything" runs instead: every raw spectrum becomes a
product in acquisition order, with no onboard classification or events.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from firmware.fsw.events import Ev, EventLog
from firmware.fsw.messages import Observation, ObservationRequest
from firmware.fsw.modes import Mode, Reason
from firmware.fsw.products import ClassMap, Product, ProductKind, encode_spectrum
from firmware.fsw.pus import Apid, Service
from firmware.taxonomy import CLASS_INDEX, complex_of

NS_PER_S = 1_000_000_000
SUMMARY_VALUE = 0.5  # a summary describes every observation: after finds, before raw spectra
CONFIRMED_VALUE = 1.0
SCIENCE_EVENT = struct.Struct("!IqffbBffB")  # obs, t_ns, lat, lon, class, kind, value, snr, flags
FLAG_REOBSERVATION, FLAG_CONFIRMED = 1, 2


class ValueKind(IntEnum):
    NONE = 0
    SILICATE = 1
    CARBONACEOUS = 2
    WATER = 3
    METAL = 4
    OTHER = 5


@dataclass(frozen=True)
class Valuation:
    score: float  # 0 (worthless) … 1 (the reason the mission flies)
    kind: ValueKind
    reason: str


# A prospecting team's ranking of Bus-DeMeo classes (mission choice, commandable thresholds):
# the 0.7 µm Fe2+→Fe3+ band of Ch/Cgh marks phyllosilicates, i.e. bound water (Vilas & Gaffey
# 1989, Science 246, 790; Rivkin et al. 2002 link it to the 3 µm band); M-type metal hides in
# the X complex, which spectra alone cannot split without albedo (science notes §4.5), so
# X-complex is a metal *candidate*; S/Q/V/A silicates are common and least valuable.
_CLASS_VALUE = {
    "Ch": (0.85, ValueKind.WATER),
    "Cgh": (0.85, ValueKind.WATER),
    "B": (0.40, ValueKind.CARBONACEOUS),
    "C": (0.40, ValueKind.CARBONACEOUS),
    "Cb": (0.40, ValueKind.CARBONACEOUS),
    "Cg": (0.40, ValueKind.CARBONACEOUS),
    "X": (0.65, ValueKind.METAL),
    "Xk": (0.65, ValueKind.METAL),
    "Xc": (0.65, ValueKind.METAL),
    "Xe": (0.65, ValueKind.METAL),
    "Xn": (0.65, ValueKind.METAL),
    "D": (0.30, ValueKind.OTHER),
    "T": (0.30, ValueKind.OTHER),
    "K": (0.20, ValueKind.SILICATE),
    "L": (0.20, ValueKind.SILICATE),
}
_CONFIDENCE = {"high": 1.0, "medium": 0.85, "low": 0.6}


def busdemeo_value(result, obs=None) -> Valuation:
    """Value of a `firmware.busdemeo.BusDeMeoResult` for prospecting (a value function:
    `(classification result, Observation) -> Valuation`; this one needs only the result)."""
    if result.cls is None:
        return Valuation(0.0, ValueKind.NONE, f"not classified: {result.reason}")
    base = result.cls[:-1] if result.cls.endswith("w") else result.cls
    score, kind = _CLASS_VALUE.get(base, (0.10, ValueKind.SILICATE))
    h = result.features.get("h")
    if h is not None and h.detected and complex_of(base) in ("C", "B"):
        score, kind = max(score, 0.70), ValueKind.WATER  # 0.7 µm band in a C-complex spectrum
        score = min(1.0, score + 0.10)
    score *= _CONFIDENCE.get(result.confidence or "low", 0.6)
    return Valuation(round(score, 4), kind, f"Bus-DeMeo {result.cls} ({result.confidence})")


_KIND_OF_RESOURCE = {"water": ValueKind.WATER, "metal": ValueKind.METAL}


def prospect_value(result, obs) -> Valuation:
    """Value from the prospecting verdict of `firmware.assessment` (issue 3): its ordinal
    score (the higher of the water and metal likelihood levels / 3: high 1, moderate ⅔,
    possible ⅓, unlikely 0), the resource that gave it, and its reason. Unknown → 0.
    Heavier than `busdemeo_value` (band analysis with Monte Carlo errors, ~10–40 ms/spectrum
    on the host). Plug in with `Executive(value=prospect_value)`."""
    from firmware.assessment import assess

    if result.cls is None:
        return Valuation(0.0, ValueKind.NONE, f"not classified: {result.reason}")
    verdict = assess(obs.wavelength_um, obs.reflectance, obs.error, bus_demeo=result).prospect
    score = verdict.get("score")
    if score is None:
        return Valuation(0.0, ValueKind.NONE, "prospecting verdict unknown")
    best = max(("water", "metal"), key=lambda k: verdict[k]["level"])
    kind = _KIND_OF_RESOURCE[best] if verdict[best]["level"] > 0 else ValueKind.SILICATE
    return Valuation(
        round(float(score), 4),
        kind,
        f"{best} {verdict[best]['likelihood']}: {verdict[best]['reason']}",
    )


def class_index(result) -> int:
    cls = getattr(result, "cls", None)
    if not cls:
        return -1
    base = cls[:-1] if cls.endswith("w") and cls[:-1] in CLASS_INDEX else cls
    return CLASS_INDEX.get(base, -1)


@dataclass
class Pending:
    request: ObservationRequest
    product_id: int | None
    value: float
    site: tuple | None = None


@dataclass
class Site:
    """What autonomy knows of one surface cell for one kind of value."""

    spectra: int = 0  # raw spectra kept as evidence
    looks: int = 0  # re-observations requested
    confirmed: bool = False


class Autonomy:
    def __init__(
        self,
        *,
        params,
        events: EventLog,
        sink,
        products,
        store_product: Callable[[Product], bool],
        request_mode: Callable[[Mode, Reason, int], object],
        mode: Callable[[], Mode],
    ):
        self._params, self._events, self._sink = params, events, sink
        self._products, self._store_product = products, store_product
        self._request_mode, self._mode = request_mode, mode
        self.classmap = ClassMap()
        self.pending: dict[int, Pending] = {}
        self.requests_out: list[ObservationRequest] = []
        self.sites: dict[tuple, Site] = {}
        self._next_request = 1
        self.stats = {
            "science_events": 0,
            "finds": 0,
            "reobs_requests": 0,
            "confirmed": 0,
            "not_confirmed": 0,
            "discarded_raw": 0,
            "redundant_raw": 0,
            "repeat_finds": 0,
            "summaries": 0,
            "raw_products": 0,
        }

    # --- per observation -------------------------------------------------------------------

    def on_raw(self, obs: Observation, t_ns: int) -> None:
        """Baseline: keep every raw spectrum, in acquisition order (value 0)."""
        pid = self._products.new_id()
        blob = encode_spectrum(pid, obs, -1, 0.0, ValueKind.NONE, None, None, t_ns)
        if self._store_product(Product(pid, ProductKind.SPECTRUM, 0.0, t_ns, blob)):
            self.stats["raw_products"] += 1

    def on_result(self, obs: Observation, result, val: Valuation, t_ns: int) -> None:
        p = self._params
        cls = class_index(result)
        pc = getattr(result, "pc", None)
        slope = getattr(result, "slope", None)
        self.classmap.add(
            obs.t_ns,
            obs.lat_deg,
            obs.lon_deg,
            cls,
            slope if slope is not None else float("nan"),
            pc[0] if pc else float("nan"),
            pc[1] if pc else float("nan"),
            val.score,
        )
        if obs.request_id is not None and obs.request_id in self.pending:
            self._answer(obs, cls, slope, pc, val, t_ns)
        else:
            pid = None
            site = self._site(obs, val.kind)
            known = self.sites.get(site) if site is not None else None
            if val.score >= p["auto.event_threshold"]:
                self._science_event(obs, cls, val, 0, t_ns)
                if known is not None and (known.confirmed or known.spectra):
                    self.stats["redundant_raw"] += 1  # the site's evidence is already kept
                    if p["auto.keep_low_value_raw"]:
                        self._keep(obs, cls, slope, pc, val, val.score * 0.5, t_ns)
                else:
                    pid = self._keep(obs, cls, slope, pc, val, val.score, t_ns)
                    if site is not None:
                        self.sites.setdefault(site, Site()).spectra += 1
            elif p["auto.keep_low_value_raw"]:
                self._keep(obs, cls, slope, pc, val, val.score, t_ns)
            else:
                self.stats["discarded_raw"] += 1
            if val.score >= p["auto.prospect_threshold"] and obs.request_id is None:
                look = self.sites.get(site) if site is not None else None
                busy = any(q.site == site for q in self.pending.values()) if site else False
                if look is not None and (
                    look.confirmed or look.looks >= p["auto.max_reobs"] or busy
                ):
                    self.stats["repeat_finds"] += 1  # known site: no new look needed
                else:
                    self._find(obs, pid, val, t_ns, site)
        if self.classmap.n_obs >= p["auto.summary_obs"]:
            self.close_summary(t_ns)

    def _site(self, obs: Observation, kind: ValueKind) -> tuple | None:
        """(kind, latitude cell, longitude cell) of an observation; None without a position
        or with sites switched off (auto.site_cell_deg = 0)."""
        cell = self._params["auto.site_cell_deg"]
        if cell <= 0 or obs.lat_deg != obs.lat_deg or obs.lon_deg != obs.lon_deg:
            return None
        return (int(kind), int((obs.lat_deg + 90) // cell), int((obs.lon_deg % 360) // cell))

    def _keep(self, obs, cls, slope, pc, val: Valuation, value: float, t_ns: int) -> int:
        pid = self._products.new_id()
        blob = encode_spectrum(pid, obs, cls, value, val.kind, slope, pc, t_ns)
        self._store_product(Product(pid, ProductKind.SPECTRUM, value, t_ns, blob))
        self.stats["raw_products"] += 1
        return pid

    def _science_event(self, obs, cls: int, val: Valuation, flags: int, t_ns: int) -> None:
        data = SCIENCE_EVENT.pack(
            obs.obs_id, obs.t_ns, obs.lat_deg, obs.lon_deg, cls, val.kind, val.score, obs.snr, flags
        )
        self.stats["science_events"] += 1
        self._sink.tm(Apid.SCI, Service.PROSPECT, 1, data, t_ns)

    def _find(
        self, obs: Observation, product_id: int | None, val: Valuation, t_ns: int, site=None
    ) -> None:
        self.stats["finds"] += 1
        self._events.raise_(
            t_ns, Ev.HIGH_VALUE_FIND, obs_id=obs.obs_id, kind=val.kind, value=val.score
        )
        if self._params["auto.max_reobs"] < 1 or obs.lat_deg != obs.lat_deg:
            return  # nowhere to point, or re-observation switched off
        scale = self._params["auto.reobs_scale"]
        snr = obs.snr * scale**0.5 if obs.snr == obs.snr else float("nan")
        rid = self._next_request
        self._next_request += 1
        req = ObservationRequest(
            rid, t_ns, obs.lat_deg, obs.lon_deg, snr, obs.integration_scale * scale, obs.obs_id
        )
        self.pending[rid] = Pending(req, product_id, val.score, site)
        if site is not None:
            self.sites.setdefault(site, Site()).looks += 1
        self.requests_out.append(req)
        self.stats["reobs_requests"] += 1
        self._events.raise_(
            t_ns, Ev.REOBS_REQUESTED, request_id=rid, obs_id=obs.obs_id, scale=scale
        )
        if self._mode() in (Mode.SURVEY, Mode.IDLE):
            self._request_mode(Mode.PROSPECT, Reason.AUTONOMY, t_ns)

    def request_observation(self, t_ns: int, lat_deg: float, lon_deg: float, scale: float) -> int:
        """A ground-directed look (REQUEST_OBSERVATION): answered like a re-observation."""
        rid = self._next_request
        self._next_request += 1
        req = ObservationRequest(rid, t_ns, lat_deg, lon_deg, float("nan"), scale, 0)
        self.pending[rid] = Pending(req, None, 0.0)
        self.requests_out.append(req)
        return rid

    def _answer(self, obs, cls, slope, pc, val: Valuation, t_ns: int) -> None:
        pend = self.pending.pop(obs.request_id)
        source = pend.request.source_obs_id
        if val.score >= self._params["auto.prospect_threshold"]:
            self.stats["confirmed"] += 1
            if pend.site is not None:
                self.sites.setdefault(pend.site, Site()).confirmed = True
            self._events.raise_(t_ns, Ev.FIND_CONFIRMED, obs_id=source, value=val.score)
            self._science_event(obs, cls, val, FLAG_REOBSERVATION | FLAG_CONFIRMED, t_ns)
            self._keep(obs, cls, slope, pc, val, CONFIRMED_VALUE, t_ns)
            if pend.product_id in self._products.items:  # superseded by the better spectrum
                self._products.remove(pend.product_id, "superseded")
        else:
            self.stats["not_confirmed"] += 1
            self._events.raise_(t_ns, Ev.FIND_NOT_CONFIRMED, obs_id=source, value=val.score)
            self._revalue(pend.product_id, pend.value * 0.5)
        self._leave_prospect(t_ns)

    def _revalue(self, product_id: int | None, value: float) -> None:
        if product_id is not None and product_id in self._products.items:
            self._products.items[product_id].value = value

    def _leave_prospect(self, t_ns: int) -> None:
        if not self.pending and self._mode() == Mode.PROSPECT:
            self._request_mode(Mode.SURVEY, Reason.AUTONOMY, t_ns)

    # --- periodic --------------------------------------------------------------------------

    def tick(self, t_ns: int) -> None:
        """Expire re-observation requests nobody answered."""
        timeout_ns = int(self._params["auto.reobs_timeout_s"] * NS_PER_S)
        for rid in [r for r, p in self.pending.items() if t_ns - p.request.t_ns > timeout_ns]:
            pend = self.pending.pop(rid)
            self.stats["not_confirmed"] += 1
            self._events.raise_(
                t_ns, Ev.FIND_NOT_CONFIRMED, obs_id=pend.request.source_obs_id, value=float("nan")
            )
        self._leave_prospect(t_ns)

    def close_summary(self, t_ns: int) -> bool:
        if self.classmap.n_obs == 0:
            return False
        pid = self._products.new_id()
        blob = self.classmap.encode(pid, t_ns, SUMMARY_VALUE)
        self.classmap = ClassMap()
        self.stats["summaries"] += 1
        return self._store_product(Product(pid, ProductKind.SUMMARY, SUMMARY_VALUE, t_ns, blob))

    def pop_requests(self) -> list[ObservationRequest]:
        out, self.requests_out = self.requests_out, []
        return out
