"""Fault detection, isolation and recovery.

Each fault: how it is detected → the response → how the spacecraft recovers.

- BATTERY_LOW: PMON 1, SoC below `mon.battery_low_soc` → SAFE (latched) → command:
  CLEAR_FAULTS once the SoC is back, then SET_MODE.
- SPECTROMETER_TEMP: PMON 2, outside `mon.temp_low_c`…`mon.temp_high_c` → instrument off,
  SAFE (latched) → command.
- STORAGE_HIGH: PMON 3, fill above `mon.storage_high_frac` → discard the least valuable
  products → automatic when PMON 3 clears.
- OBC_TEMP: PMON 4 → SAFE (latched) → command.
- SPECTROMETER_STUCK: `fdir.stuck_identical` identical (or flat) readings → power-cycle the
  instrument, up to `fdir.max_retries`, then SAFE → automatic on the next good reading;
  command once latched.
- SPECTROMETER_SATURATED: ≥ `fdir.saturation_frac` bands at full scale → halve the
  integration (retry), then SAFE → automatic on the next good reading.
- SPECTROMETER_NOISY: SNR estimate below `fdir.noisy_min_snr` → spectra kept out of science,
  integration doubled (retry) → automatic when the SNR is back.
- MODEL_CORRUPTED: sha256 of the model constants ≠ the golden checksum (checked before every
  batch and every `fdir.model_check_period_s`) → reload from the seed store (retry), then
  SAFE → automatic after a good reload; command (RELOAD_MODEL, CLEAR_FAULTS) once latched.
- WATCHDOG_RESET: boot after the watchdog fired → boot into SAFE (latched) → command.
- Upsets in stored data: the memory scrub of the slow rate group (`storage.Storage.scrub`)
  checks every stored packet's CRC-16 and product's CRC-32 → a damaged packet is replaced by
  a STORED_DATA_CORRUPTED report under the same APID and count, a damaged product dropped →
  nothing to recover: the downlink streams keep flowing.

Latched faults keep the spacecraft out of science modes (mode guard `no_fault`) until the
ground sends CLEAR_FAULTS, which clears only faults whose condition has gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from firmware.fsw.events import Ev, EventLog, EventRecord
from firmware.fsw.health import ModelMemory, constant, identical, saturated_fraction, snr_estimate
from firmware.fsw.modes import Mode, Reason


class Fault(IntEnum):
    BATTERY_LOW = 0
    SPECTROMETER_TEMP = 1
    STORAGE_HIGH = 2
    OBC_TEMP = 3
    SPECTROMETER_STUCK = 4
    SPECTROMETER_SATURATED = 5
    SPECTROMETER_NOISY = 6
    MODEL_CORRUPTED = 7
    WATCHDOG_RESET = 8


class Action(IntEnum):
    SAFE_MODE = 1
    RELOAD_MODEL = 2
    POWER_CYCLE_INSTRUMENT = 3
    REDUCE_INTEGRATION = 4
    PURGE_LOW_VALUE = 5
    INCREASE_INTEGRATION = 6
    INSTRUMENT_OFF = 7


PMON_FAULT = {
    1: Fault.BATTERY_LOW,
    2: Fault.SPECTROMETER_TEMP,
    3: Fault.STORAGE_HIGH,
    4: Fault.OBC_TEMP,
}
INSTRUMENT_FAULTS = {
    Fault.SPECTROMETER_STUCK,
    Fault.SPECTROMETER_SATURATED,
    Fault.SPECTROMETER_TEMP,
}
MIN_INTEGRATION, MAX_INTEGRATION = 1 / 8, 4.0


@dataclass
class Instrument:
    """Commanded state of the spectrometer (read by the simulator)."""

    power_on: bool = False
    integration_scale: float = 1.0
    restart_at_ns: int | None = None


class Fdir:
    def __init__(
        self,
        *,
        params,
        events: EventLog,
        model: ModelMemory,
        instrument: Instrument,
        request_mode: Callable[[Mode, Reason, int], object],
        in_violation: Callable[[int], bool],
        purge: Callable[[int], int],
    ):
        self._params, self._events, self.model, self.instrument = params, events, model, instrument
        self._request_mode, self._in_violation, self._purge = request_mode, in_violation, purge
        self.active: set[Fault] = set()
        self.latched: set[Fault] = set()
        self.attempts: dict[Fault, int] = {}
        self.detections: dict[Fault, int] = {}
        self._prev: np.ndarray | None = None
        self._repeats = 0
        self.last_reject = ""  # why check_observation refused the last spectrum it refused
        self.model_verified = False
        events.subscribe(self._on_event)

    # --- bookkeeping -----------------------------------------------------------------------

    @property
    def bitmask(self) -> int:
        return sum(1 << f for f in self.active | self.latched)

    def _detect(self, fault: Fault) -> bool:
        """Mark `fault` active; True on a new detection."""
        new = fault not in self.active
        if new:
            self.active.add(fault)
            self.detections[fault] = self.detections.get(fault, 0) + 1
        return new

    def _respond(self, fault: Fault, action: Action, t_ns: int) -> None:
        n = self.attempts.get(fault, 0) + 1
        self.attempts[fault] = n
        self._events.raise_(t_ns, Ev.FDIR_RESPONSE, fault=fault, action=action, attempt=min(n, 255))

    def _recover(self, fault: Fault, t_ns: int) -> None:
        """The fault's condition is gone (a retry may have cleared `active` already)."""
        if fault in self.active or self.attempts.get(fault):
            self.active.discard(fault)
            self.attempts.pop(fault, None)
            if fault not in self.latched:
                self._events.raise_(t_ns, Ev.FDIR_RECOVERED, fault=fault)

    def safe(self, fault: Fault, t_ns: int) -> None:
        """Latch `fault` and go to SAFE."""
        self.latched.add(fault)
        self._respond(fault, Action.SAFE_MODE, t_ns)
        self._events.raise_(t_ns, Ev.SAFE_MODE_ENTERED, fault=fault)
        self._request_mode(Mode.SAFE, Reason.FDIR, t_ns)

    def _retries_left(self, fault: Fault) -> bool:
        return self.attempts.get(fault, 0) < self._params["fdir.max_retries"]

    # --- detections ------------------------------------------------------------------------

    def on_boot(self, t_ns: int, watchdog: bool) -> None:
        if watchdog:
            self._detect(Fault.WATCHDOG_RESET)
            self.latched.add(Fault.WATCHDOG_RESET)

    def _on_event(self, rec: EventRecord) -> None:
        if rec.id not in (Ev.MONITOR_ALARM, Ev.MONITOR_CLEARED):
            return
        fault = PMON_FAULT.get(rec.values["pmon_id"])
        if fault is None:
            return
        if rec.id == Ev.MONITOR_CLEARED:
            self._recover(fault, rec.t_ns)
            return
        if not self._detect(fault):
            return
        if fault == Fault.STORAGE_HIGH:
            self._respond(fault, Action.PURGE_LOW_VALUE, rec.t_ns)
            target = int(self._params["mon.storage_high_frac"] * 0.9 * 1e6)  # ppm of capacity
            self._purge(target)
            return
        if fault == Fault.SPECTROMETER_TEMP:
            self._respond(fault, Action.INSTRUMENT_OFF, rec.t_ns)
            self.instrument.power_on = False
        self.safe(fault, rec.t_ns)

    def check_observation(self, obs, t_ns: int) -> bool:
        """Saturated / stuck / noisy checks on one observation. True when it is usable.
        Saturation first: a saturated reading is flat and repeats, but is not a stuck one."""
        # an observation taken before the last integration change says nothing about the new
        # setting: no second response to a saturated (noisy) reading taken longer (shorter)
        commanded, eps = self.instrument.integration_scale, 1e-9
        requested = obs.request_id is not None  # a re-observation's longer integration is by design
        longer, shorter = (
            obs.integration_scale > commanded + eps,
            obs.integration_scale < commanded - eps,
        )
        frac = saturated_fraction(
            obs.counts_dn, obs.full_scale_dn, obs.n_saturated, len(obs.reflectance)
        )
        if frac >= self._params["fdir.saturation_frac"]:
            if (requested or not longer) and Fault.SPECTROMETER_SATURATED not in self.latched:
                self._saturated(obs, frac, t_ns)
            self.last_reject = f"saturated ({frac:.0%} of bands at full scale)"
            return False
        self._recover(Fault.SPECTROMETER_SATURATED, t_ns)
        data = obs.counts_dn if obs.counts_dn is not None else np.asarray(obs.reflectance)
        repeat = identical(self._prev, data) or constant(data)
        self._prev = np.array(data, copy=True)  # kept across a power cycle: still stuck = same data
        self._repeats = self._repeats + 1 if repeat else 0
        if repeat:
            if self._repeats >= self._params["fdir.stuck_identical"] - 1:
                self._stuck(obs, t_ns)
            self.last_reject = "repeated or flat reading (stuck spectrometer)"
            return False  # a repeated reading carries no new information
        self._recover(Fault.SPECTROMETER_STUCK, t_ns)
        snr = snr_estimate(np.asarray(obs.reflectance, dtype=np.float64))
        if snr == snr and snr < self._params["fdir.noisy_min_snr"]:
            if (requested or not shorter) and self._detect(Fault.SPECTROMETER_NOISY):
                self._events.raise_(t_ns, Ev.SPECTRUM_NOISY, obs_id=obs.obs_id, snr_est=snr)
                scale = self.instrument.integration_scale
                if self._retries_left(Fault.SPECTROMETER_NOISY) and scale < MAX_INTEGRATION:
                    self._respond(Fault.SPECTROMETER_NOISY, Action.INCREASE_INTEGRATION, t_ns)
                    self.instrument.integration_scale = min(MAX_INTEGRATION, scale * 2)
                    self.active.discard(Fault.SPECTROMETER_NOISY)  # judged again at the new setting
            self.last_reject = (
                f"noisy (SNR estimate {snr:.1f} < {self._params['fdir.noisy_min_snr']:g})"
            )
            return False
        self._recover(Fault.SPECTROMETER_NOISY, t_ns)
        return True

    def _saturated(self, obs, frac: float, t_ns: int) -> None:
        self._detect(Fault.SPECTROMETER_SATURATED)
        self._events.raise_(t_ns, Ev.SPECTROMETER_SATURATED, obs_id=obs.obs_id, frac_saturated=frac)
        scale = self.instrument.integration_scale
        if self._retries_left(Fault.SPECTROMETER_SATURATED) and scale > MIN_INTEGRATION:
            self._respond(Fault.SPECTROMETER_SATURATED, Action.REDUCE_INTEGRATION, t_ns)
            self.instrument.integration_scale = max(MIN_INTEGRATION, scale / 2)
        else:
            self.safe(Fault.SPECTROMETER_SATURATED, t_ns)

    def _stuck(self, obs, t_ns: int) -> None:
        if not self._detect(Fault.SPECTROMETER_STUCK):
            return
        self._events.raise_(
            t_ns, Ev.SPECTROMETER_STUCK, obs_id=obs.obs_id, identical=min(self._repeats + 1, 65535)
        )
        if self._retries_left(Fault.SPECTROMETER_STUCK):
            self._respond(Fault.SPECTROMETER_STUCK, Action.POWER_CYCLE_INSTRUMENT, t_ns)
            self.instrument.power_on = False
            self.instrument.restart_at_ns = t_ns  # back on at the next fast cycle
            self.active.discard(Fault.SPECTROMETER_STUCK)  # detected again if the retry fails
            self._repeats = 0
        else:
            self.safe(Fault.SPECTROMETER_STUCK, t_ns)

    def check_model(self, t_ns: int) -> bool:
        """Verify the classifier's constants; repair them if corrupted. True when usable."""
        if Fault.MODEL_CORRUPTED in self.latched:
            return False
        if self.model.verify():
            self.model_verified = True
            self._recover(Fault.MODEL_CORRUPTED, t_ns)
            return True
        self._detect(Fault.MODEL_CORRUPTED)
        short = ModelMemory.short
        self._events.raise_(
            t_ns,
            Ev.MODEL_CORRUPTED,
            expected=short(self.model.golden),
            actual=short(self.model.current()),
        )
        while self._retries_left(Fault.MODEL_CORRUPTED) or not self.attempts.get(
            Fault.MODEL_CORRUPTED
        ):
            self._respond(Fault.MODEL_CORRUPTED, Action.RELOAD_MODEL, t_ns)
            ok = self.model.reload()
            self._events.raise_(
                t_ns, Ev.MODEL_RELOADED, ok=int(ok), checksum=short(self.model.current())
            )
            if ok:
                self._recover(Fault.MODEL_CORRUPTED, t_ns)
                return True
        self.model_verified = False
        self.safe(Fault.MODEL_CORRUPTED, t_ns)
        return False

    # --- recovery by command ---------------------------------------------------------------

    def still_present(self, fault: Fault) -> bool:
        pmon = next((p for p, f in PMON_FAULT.items() if f == fault), None)
        if pmon is not None:
            return self._in_violation(pmon)
        if fault == Fault.MODEL_CORRUPTED:
            return not self.model.verify()
        return False

    def clear(self, t_ns: int) -> list[Fault]:
        """CLEAR_FAULTS: unlatch every fault whose condition has gone; returns those left."""
        cleared = 0
        for fault in sorted(self.latched):
            if not self.still_present(fault):
                self.latched.discard(fault)
                self.active.discard(fault)
                self.attempts.pop(fault, None)
                cleared |= 1 << fault
                self._events.raise_(t_ns, Ev.FDIR_RECOVERED, fault=fault)
        if cleared & (1 << Fault.SPECTROMETER_SATURATED | 1 << Fault.SPECTROMETER_NOISY):
            self.instrument.integration_scale = 1.0
        if cleared & (1 << Fault.MODEL_CORRUPTED):
            self.model_verified = self.model.verify()
        self._events.raise_(t_ns, Ev.FAULTS_CLEARED, faults=cleared)
        return sorted(self.latched)

    def instrument_ok(self) -> bool:
        return not (self.latched & INSTRUMENT_FAULTS)
