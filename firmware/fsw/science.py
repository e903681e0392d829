"""The science pipeline of the fast rate group, and the product downlink feeder.

Each fast cycle: verify the classifier's constants (check before use: a corrupted model never
classifies), then take queued observations while the cycle budget allows — FDIR quality
checks, classification, valuation, autonomy. Work that does not fit waits for the next cycle
rather than overrunning it. In DOWNLINK mode the feeder turns the most valuable product into
PUS 13 part reports whenever the radio is about to run out of queued parts, after checking
its CRC-32 (a product damaged in memory since the last scrub pass is dropped, not sent).

Whoever hosts the software (the mission simulator, a board harness) may watch the pipeline:
every callable in `listeners` is called as `(obs, result, valuation, reason)` for each
observation taken off the queue — `result` and `valuation` are None when FDIR's quality
checks kept the spectrum out of science or the classifier failed, `reason` says which.
"""

from __future__ import annotations

from collections import deque

from firmware.fsw.events import Ev
from firmware.fsw.messages import Observation
from firmware.fsw.modes import Mode
from firmware.fsw.products import product_ok
from firmware.fsw.pus import TM_HEADER_LEN, Apid, Service
from firmware.fsw.transfer import parts_overhead_bytes, split

OBS_QUEUE = 64


def classify_one(wavelength_um, reflectance, error=None, source: str = ""):
    """Bus-DeMeo on one spectrum, on one thread: the flight computer has one core, and a
    parallel launch for a single spectrum costs ~200× the work on a busy 2-core host
    (measured: 80 ms with 2 numba threads vs 0.35 ms with 1, load average ~6)."""
    import numba

    from firmware.busdemeo import classify

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return classify(wavelength_um, reflectance, error, source=source)
    finally:
        numba.set_num_threads(threads)


class Science:
    MODEL_CHECK_COST_NS = 2_000_000  # modelled: sha256 over the ~18 KB of constants
    BASELINE_COST_NS = 1_000_000  # modelled: packing one raw spectrum (send-everything)

    def __init__(self, exe):
        self._exe = exe
        self.queue: deque[Observation] = deque()
        self.stats = {
            "observations": 0,
            "classified": 0,
            "quality_rejects": 0,
            "ignored": 0,
            "dropped": 0,
            "classify_failed": 0,
        }
        self.listeners: list = []  # (obs, result | None, valuation | None, reason) per observation

    def _tell(self, obs, result, val, reason: str) -> None:
        for listener in self.listeners:
            listener(obs, result, val, reason)

    def ingest(self, obs: Observation) -> None:
        exe = self._exe
        if exe.mode not in (Mode.SURVEY, Mode.PROSPECT) or not exe.instrument.power_on:
            self.stats["ignored"] += 1  # the instrument is (commanded) off: not our data
            return
        if len(self.queue) >= OBS_QUEUE:
            self.stats["dropped"] += 1
            return
        self.stats["observations"] += 1
        self.queue.append(obs)

    def task(self, t_ns: int) -> int:
        """Fast-cycle task: process what fits in 80 % of the cycle budget."""
        exe = self._exe
        if not self.queue:
            return 0
        budget = 0.8 * exe.config.fast_budget_ns
        if exe.params["auto.send_all"]:
            cost = 0
            while self.queue and cost + self.BASELINE_COST_NS <= budget:
                exe.autonomy.on_raw(self.queue.popleft(), t_ns)
                cost += self.BASELINE_COST_NS
            return cost
        cost = self.MODEL_CHECK_COST_NS
        if not exe.fdir.check_model(t_ns):
            return cost  # classification held until the constants are repaired
        per_obs = int(exe.params["cpu.classify_cost_us"]) * 1000
        while self.queue and (cost + per_obs <= budget or cost == self.MODEL_CHECK_COST_NS):
            obs = self.queue.popleft()
            cost += per_obs
            if not exe.fdir.check_observation(obs, t_ns):
                self.stats["quality_rejects"] += 1
                self._tell(obs, None, None, f"FDIR: {exe.fdir.last_reject}")
                continue
            try:
                result = exe._classify(obs)
                val = exe._value(result, obs)
            except Exception as exc:  # a classifier failure must not take the executive down
                self.stats["classify_failed"] += 1
                exe.events.raise_(t_ns, Ev.CLASSIFY_FAILED, obs_id=obs.obs_id & 0xFFFF_FFFF)
                self._tell(obs, None, None, f"classifier failed: {type(exc).__name__}")
                continue
            self.stats["classified"] += 1
            exe.autonomy.on_result(obs, result, val, t_ns)
            self._tell(obs, result, val, "")
        return cost

    def feed_downlink(self, t_ns: int) -> int:
        """Packetise the best product when fewer than a cycle's worth of parts are queued
        (spectra below `auto.downlink_min_value` wait for a PRODUCT_DOWNLINK)."""
        exe = self._exe
        part = int(exe.params["xfer.part_bytes"])
        rate_bytes = exe.link.rate_bps / 8 * exe.config.fast_period_ns / 1e9
        target = max(4 * part, 2 * rate_bytes)
        store, products = exe.mass.tm, exe.mass.products
        n = 0
        min_value = -1.0 if exe.params["auto.send_all"] else exe.params["auto.downlink_min_value"]
        while store.backlog_bytes(Apid.XFER) < target:
            best = products.best(min_value)
            if best is None:
                break
            if not product_ok(best.blob):  # end-to-end check: a damaged product never goes down
                exe.storage.drop_corrupted(best.product_id, t_ns)
                continue
            need = parts_overhead_bytes(len(best.blob), part, TM_HEADER_LEN + 2)
            if not store.admits(Apid.XFER, need, products.used_bytes - len(best.blob)):
                break  # wait for acknowledgements to free the store
            products.remove(best.product_id, "packetised")
            for subtype, data in split(best.product_id, best.blob, part):
                exe.tm(Apid.XFER, Service.LARGE_DATA, subtype, data, t_ns)
                n += 1
        return 20_000 * n

    def publish(self, t_ns: int) -> None:
        exe = self._exe
        pool, s, a = exe.pool, self.stats, exe.autonomy.stats
        products, store = exe.mass.products, exe.mass.tm
        values = {
            "mode": int(exe.mode),
            "mode_age_s": (t_ns - exe.modes.since_ns) // 1_000_000_000,
            "store.fill_frac": exe.mass.fill_frac(),
            "sys.boot_count": exe.params["sys.boot_count"],
            "fdir.active_faults": exe.fdir.bitmask,
            "tc.accepted": exe.dispatcher.stats["accepted"],
            "tc.rejected": exe.dispatcher.stats["rejected"],
            "tc.failed": exe.dispatcher.stats["failed"],
            "instrument.on": int(exe.instrument.power_on),
            "instrument.integration_scale": exe.instrument.integration_scale,
            "sci.observations": s["observations"],
            "sci.classified": s["classified"],
            "sci.quality_rejects": s["quality_rejects"],
            "sci.science_events": a["science_events"],
            "sci.finds": a["finds"],
            "sci.reobs_requests": a["reobs_requests"],
            "sci.confirmed": a["confirmed"],
            "prod.count": len(products.items),
            "prod.bytes": products.used_bytes,
            "prod.summaries": a["summaries"],
            "prod.discarded": products.discarded,
            "link.bytes_sent": store.sent_bytes,
            "wd.kicks": exe.watchdog.kicks,
            "store.packets": store.packets,
            "store.unacked": store.unacked(),
            "store.suppressed": sum(store.suppressed.values()),
            "sched.pending": len(exe.schedule.activities),
            "model.checks": exe.model.checks,
            "model.reloads": exe.model.reloads,
        }
        for name, g in exe._groups.items():
            values[f"rg.{name}.cycles"] = g.cycles
            values[f"rg.{name}.slips"] = g.slips
            values[f"rg.{name}.missed"] = g.missed
            values[f"rg.{name}.max_cost_us"] = g.max_cost_ns // 1000
        for k, v in values.items():
            pool.set(k, v, t_ns)
