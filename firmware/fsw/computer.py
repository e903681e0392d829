"""The flight executive behind the mission simulator's onboard seam (`firmware.onboard`).

`FswComputer.step(OnboardInputs) -> OnboardOutputs` turns one simulation step into the
executive's messages and back:
- spectrometer frames → `Observation`s on the onboard wavelength axis (saturated-band count,
  SNR estimate, footprint position, exposure scale, the request a re-observation answers);
- battery state of charge → `PowerStatus`; the footprint's illumination and position →
  `NavStatus`; the pass the spacecraft expects → `LinkStatus`; received telecommands →
  `receive_tc`; a CPU hang → `CpuStall`;
- a bus brown-out: the processor loses power (RAM gone, nothing runs, frames and telecommands
  arriving meanwhile are lost) and boots with `reboot(BROWNOUT)` once the bus holds again;
- the radio's byte budget → `transmit`, the packets in order; transmit credit left over (a
  packet that did not fit) carries to the next step;
- out: the mode, the commanded spectrometer state, re-observation requests, every result of
  the science pipeline, every event, and the mass-memory byte ledger.

Between two calls the executive runs every rate-group cycle. Over a long interval (the
simulator skipped a quiet stretch) the sensors are re-sampled every `SENSOR_PERIOD_NS` with
the values they last read (the simulator skips only where no threshold is crossed and no
state flips), so housekeeping and limit monitors see fresh samples as on a real bus; the
step's own readings are taken at its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware.errors import AssayError
from firmware.fsw import messages as msg
from firmware.fsw.autonomy import ValueKind
from firmware.fsw.event_text import QUIET_EVENTS, SEVERITY_TEXT, describe_event
from firmware.fsw.events import Ev, EventRecord
from firmware.fsw.executive import Config, Executive, ResetCause
from firmware.fsw.housekeeping import NS_PER_S
from firmware.fsw.modes import Mode
from firmware.fsw.params import Nvm, ParamStore
from firmware.fsw.seam import (
    LookRequest,
    OnboardInputs,
    OnboardOutputs,
    ResultRecord,
    StorageDelta,
    classify_frames,
)
from firmware.fsw.store import MassMemory
from firmware.taxonomy import complex_of

SENSOR_PERIOD_NS = 10 * NS_PER_S  # the EPS/ADCS report at least this often
CREDIT_CAP_PACKETS = 4096  # radio credit kept across steps: at most one largest packet
VERDICT_OF_KIND = {
    ValueKind.NONE: "unclassified",
    ValueKind.SILICATE: "silicate",
    ValueKind.CARBONACEOUS: "other",
    ValueKind.WATER: "water",
    ValueKind.METAL: "metal",
    ValueKind.OTHER: "other",
}


@dataclass(frozen=True)
class Look:
    """What the science pipeline made of one observation (no arrays: a long mission keeps
    one per observation)."""

    t_ns: int  # when it was processed on board
    obs_id: int
    request_id: int | None  # the re-observation request it answers
    snr: float
    integration_scale: float
    cls: str  # '' when refused
    value: float
    verdict: str
    reason: str  # why it was refused ('' when classified)


class ClassifierNoAnswer(AssayError):
    """The classifier gave no answer for an observation (e.g. a board over a failed link)."""


def classify_with(classifier, wavelength_um):
    """The executive's `classify(obs)` on a seam classifier (`classify(wl, (N, B), err)`):
    a batch of one, so a board over serial plugs in the same way as the host core (through
    `seam.classify_frames`, as the simple loop); a batch with `failed(i)` may say it
    has no answer, which is raised as `ClassifierNoAnswer` — the executive's classifier-failure
    path (CLASSIFY_FAILED event, observation unclassified), never a guess."""

    def classify(obs):
        refl = np.asarray(obs.reflectance)[None, :]
        err = None if obs.error is None else np.asarray(obs.error)[None, :]
        batch = classify_frames(classifier, wavelength_um, refl, err, (obs.obs_id,))
        why = batch.failed(0) if hasattr(batch, "failed") else ""
        if why:
            raise ClassifierNoAnswer(f"obs {obs.obs_id}: {why}")
        return batch.result(0)

    return classify


class FswComputer:
    """The executive as the mission's flight computer. `params` are set in NVM before the
    first boot (they survive every reset, as commanded parameters would)."""

    def __init__(
        self,
        wavelength_um: np.ndarray,
        *,
        capacity_bytes: int,
        epoch_unix_ms: int,
        classifier,
        value: Callable | None = None,
        cpu_s_per_spectrum: float = 0.02,
        fast_period_ns: int = NS_PER_S,
        params: dict | None = None,
    ):
        self.wavelength_um = np.asarray(wavelength_um, dtype=np.float64)
        self.cpu_s_per_spectrum = cpu_s_per_spectrum
        self.classifier = classifier
        self.valuer = getattr(value, "__name__", "busdemeo_value")
        self._value = value
        self.config = Config(
            epoch_unix_ms=epoch_unix_ms,
            fast_period_ns=fast_period_ns,
            fast_budget_ns=fast_period_ns // 2,
            slow_period_ns=10 * fast_period_ns,
            slow_budget_ns=2 * fast_period_ns,
        )
        self._capacity = int(capacity_bytes)
        self._params = dict(params or {})
        self.reset(0)

    # --- the seam ----------------------------------------------------------------------------

    def reset(self, t_ns: int) -> None:
        """Cold start: fresh NVM (with the mission's parameters) and empty mass memory."""
        nvm = Nvm()
        stored = ParamStore(nvm)  # the mission's parameters, in NVM before the first boot
        for name, value in sorted(self._params.items()):
            stored.set(name, value)
        exe = Executive(
            self.config,
            nvm=nvm,
            mass=MassMemory(self._capacity),
            classify=classify_with(self.classifier, self.wavelength_um),
            value=self._value,
        )
        self.exe = exe
        self.events: list[EventRecord] = []  # every event raised onboard, in order
        self._images: list[tuple[dict, dict]] = []  # counters of each software image
        self.results: list[Look] = []  # every observation the science pipeline took
        self._new_results: list[ResultRecord] = []
        exe.boot_hooks.append(self._attach)
        self._attach(exe)
        exe.reset(t_ns)
        self.t_ns = t_ns
        self.off = False  # the bus could not hold the processor up
        self._held = OnboardInputs(t_ns, soc=float("nan"))  # the step whose sensors read last
        self.frames_in = self.processed = self.lost_off = 0
        self.tc_lost_off = 0
        self._credit = 0.0
        self._ledger = (0, 0, 0, 0, 0)  # fresh mass memory: the boot's own packets count
        self._lost_reported = 0
        self._events_sent = 0
        self._settling = False
        self.transmitted_bytes = 0
        self.transmitted_packets = 0

    def _attach(self, exe: Executive) -> None:
        """Boot hook: watch the freshly built software image (events and science results)."""
        exe.events.subscribe(self.events.append)
        exe.science.listeners.append(self._on_result)
        self._images.append((exe.science.stats, exe.autonomy.stats))

    def totals(self) -> dict:
        """Science and autonomy counters summed over every software image of the mission
        (a reboot starts the onboard counters again from zero)."""
        out: dict = {}
        for sci, auto in self._images:
            for k, v in (*sci.items(), *auto.items()):
                out[k] = out.get(k, 0) + v
        return out

    def _on_result(self, obs, result, val, reason: str) -> None:
        self.processed += 1
        cls = result.cls if result is not None else None
        self.results.append(Look(
            self.exe.t_ns, obs.obs_id, obs.request_id, obs.snr, obs.integration_scale, cls or "",
            float(val.score) if val is not None else 0.0,
            VERDICT_OF_KIND[val.kind] if val is not None and cls else "unclassified",
            reason or (result.reason if result is not None and not cls else "") or "",
        ))  # fmt: skip
        if result is None or result.cls is None:
            why = reason or (result.reason if result is not None else "")
            self._new_results.append(
                ResultRecord(obs.obs_id, obs.t_ns, "", "", "unclassified", 0.0, why or "")
            )
            return
        self._new_results.append(
            ResultRecord(
                obs.obs_id, obs.t_ns, result.cls, complex_of(result.cls) or "",
                VERDICT_OF_KIND[val.kind], float(val.score), "",
            )
        )  # fmt: skip

    def step(self, inp: OnboardInputs) -> OnboardOutputs:
        t = inp.t_ns
        exe = self.exe
        if inp.bus_reset and not self.off:
            self.off = True  # power lost: RAM gone; boot when the bus holds again
            self.lost_off += len(exe.science.queue)
            exe.science.queue.clear()
        elif self.off and not inp.bus_reset:
            self.off = False
            exe.reboot(t, ResetCause.BROWNOUT)
        if self.off:
            self.lost_off += len(inp.frames)
            self.tc_lost_off += len(inp.uplink)
            self.t_ns = t
            return self._outputs(t, [], inp)
        self._run_until(t - 1, self._held)  # up to this step, with what the sensors last read
        self._sense(t, inp)
        self._held = inp
        if inp.stall_ns > 0:
            exe.ingest(msg.CpuStall(t, inp.stall_ns))
        for raw in inp.uplink:
            exe.receive_tc(raw, t)
        for f in inp.frames:
            self.frames_in += 1
            exe.ingest(self._observation(f))
        exe.update(t)
        self.t_ns = t
        packets = self._transmit(t, inp)
        return self._outputs(t, packets, inp)

    # --- inputs ------------------------------------------------------------------------------

    def _sense(self, t: int, inp) -> None:
        exe = self.exe
        exe.ingest(msg.PowerStatus(t, float(inp.soc)))
        exe.ingest(msg.NavStatus(t, bool(inp.observable), inp.lat_deg, inp.lon_deg))
        exe.ingest(msg.LinkStatus(t, bool(inp.contact), float(inp.rate_bps if inp.contact else 0)))

    def _run_until(self, t_end: int, inp) -> None:
        """Run the executive to `t_end`, re-sampling the (held) sensors on the way."""
        exe = self.exe
        t = exe.t_ns
        while t + SENSOR_PERIOD_NS < t_end:
            t += SENSOR_PERIOD_NS
            exe.update(t - 1)
            self._sense(t, inp)
        if t_end > exe.t_ns:
            exe.update(t_end)

    def catch_up(self, t_ns: int) -> None:
        """Run the software up to `t_ns` with the sensors as they last read (the host calls
        this before a fault strikes at t_ns + 1, so it strikes the software as of then)."""
        if not self.off:
            self._run_until(t_ns, self._held)

    def _observation(self, f) -> msg.Observation:
        rid = getattr(f, "request_id", -1)
        return msg.Observation(
            obs_id=int(f.obs_id),
            t_ns=int(f.t_ns),
            wavelength_um=self.wavelength_um,
            reflectance=np.asarray(f.reflectance, dtype=np.float64),
            error=None if f.error is None else np.asarray(f.error, dtype=np.float64),
            snr=float(f.snr_median),
            lat_deg=float(f.lat_deg),
            lon_deg=float(f.lon_deg),
            integration_scale=float(getattr(f, "integration_scale", 1.0)),
            request_id=None if rid is None or rid < 0 else int(rid),
            n_saturated=int(getattr(f, "n_saturated", 0)),
        )

    # --- outputs -----------------------------------------------------------------------------

    def _transmit(self, t: int, inp: OnboardInputs) -> list[bytes]:
        if not inp.contact or inp.radio_bytes <= 0:
            self._credit = 0.0
            return []
        self._credit = min(self._credit + inp.radio_bytes, inp.radio_bytes + CREDIT_CAP_PACKETS)
        packets = self.exe.transmit(t, int(self._credit))
        sent = sum(len(p) for p in packets)
        self._credit -= sent
        self.transmitted_bytes += sent
        self.transmitted_packets += len(packets)
        return packets

    def _ledger_now(self) -> tuple[int, int, int, int, int]:
        tm, prod = self.exe.mass.tm, self.exe.mass.products
        removed = dict(prod.removed_bytes)
        repackaged = removed.pop("packetised", 0)
        return (
            tm.appended_bytes + tm.scrub_added_bytes + prod.added_bytes,
            sum(removed.values()) + tm.scrub_removed_bytes,
            prod.refused_bytes + tm.refused_bytes,
            tm.acked_bytes,
            repackaged,
        )

    def _outputs(self, t: int, packets: list[bytes], inp: OnboardInputs) -> OnboardOutputs:
        exe = self.exe
        now = self._ledger_now()
        delta = StorageDelta(*(a - b for a, b in zip(now, self._ledger, strict=True)))
        self._ledger = now
        results, self._new_results = tuple(self._new_results), []
        lost_total = self.lost_off + self.frames_in - self.processed - len(exe.science.queue)
        lost, self._lost_reported = lost_total - self._lost_reported, lost_total
        timeout_ns = int(exe.params["auto.reobs_timeout_s"] * NS_PER_S)
        requests = tuple(
            LookRequest(r.request_id, r.t_ns, r.lat_deg, r.lon_deg, r.integration_scale,
                        r.source_obs_id, r.t_ns + timeout_ns)
            for r in exe.pop_requests()
        )  # fmt: skip
        new_events = self.events[self._events_sent :]
        self._events_sent = len(self.events)
        # a mode change often leads to another at the next cycle (DOWNLINK → IDLE → SURVEY):
        # the world must look again one step later rather than skip over it
        self._settling = any(e.id == Ev.MODE_CHANGED for e in new_events)
        records = tuple(
            (SEVERITY_TEXT[e.severity], describe_event(e)) for e in new_events
            if e.id not in QUIET_EVENTS
        )  # fmt: skip
        sent = sum(len(p) for p in packets)
        mode = "SAFE" if self.off else exe.mode.name
        return OnboardOutputs(
            mode=mode,
            results=results,
            cpu_s=len(results) * self.cpu_s_per_spectrum,
            tx_s=sent * 8 / inp.rate_bps if inp.rate_bps > 0 else 0.0,
            lost=lost,
            packets=tuple(packets),
            requests=requests,
            instrument_on=bool(exe.instrument.power_on) and not self.off,
            integration_scale=float(exe.instrument.integration_scale),
            storage=delta,
            event_records=records,
        )

    # --- what the simulator asks between steps -----------------------------------------------

    def has_sendable(self) -> bool:
        return not self.off and self.exe.mass.tm.unsent > 0

    def next_event_ns(self) -> int:
        """Earliest time the executive does something on its own that the world must see at
        once (a time-tagged command, a re-observation timeout, an instrument restart, the
        end of a hang); a large number when none is pending."""
        exe = self.exe
        times = [2**62]
        if exe.schedule.activities and exe.schedule.enabled:
            times.append(exe.schedule.activities[0].release_ns)
        timeout_ns = int(exe.params["auto.reobs_timeout_s"] * NS_PER_S)
        times += [p.request.t_ns + timeout_ns + 1 for p in exe.autonomy.pending.values()]
        if exe.instrument.restart_at_ns is not None:
            times.append(exe.instrument.restart_at_ns + exe.config.fast_period_ns)
        if exe.scheduler.busy_until_ns > exe.t_ns + exe.config.fast_period_ns:  # a hang
            times.append(min(exe.scheduler.busy_until_ns, exe.watchdog.deadline_ns) + 1)
        if exe.science.queue or self._settling:
            times.append(exe.t_ns)
        return min(times)

    @property
    def used_bytes(self) -> int:
        return self.exe.mass.used_bytes()

    @property
    def removed_by_reason(self) -> dict[str, int]:
        """Bytes that left mass memory other than by acknowledged downlink, by reason."""
        tm, prod = self.exe.mass.tm, self.exe.mass.products
        out = dict(prod.removed_bytes)
        out["packet scrubbed (replaced by an event)"] = tm.scrub_removed_bytes
        out["refused (no room)"] = prod.refused_bytes + tm.refused_bytes
        return {k: v for k, v in sorted(out.items()) if v}

    @property
    def queue(self):
        return self.exe.science.queue

    @property
    def store(self):
        return self.exe.mass.products.items

    @property
    def mode(self) -> Mode:
        return self.exe.mode
