"""Electrical power: solar array, battery, loads per mode, with an exact energy ledger.

Array output P = S₀/r² · area · efficiency · cos θ, zero in eclipse. The angle depends on
the attitude the mode commands (body-fixed array on the −Z face; instrument on +Z, antenna
on −Z): SURVEY and PROSPECT point +Z at nadir (array faces the zenith, cos θ = cos of the solar
incidence at the sub-spacecraft point), DOWNLINK points −Z at Earth (cos θ = cos of the
Sun–asteroid–Earth angle), IDLE and SAFE point the array at the Sun. A sun-tracking array
always has cos θ = 1. Slews are instantaneous.

Loads: the bus always; survival heaters in IDLE/SAFE; the spectrometer in SURVEY/PROSPECT; the
transmitter for the seconds it actually sent; the computer's extra power for the seconds
the classifier ran (its compute time is a load). The battery charges with efficiency η_c
and delivers with η_d; surplus that cannot be stored is spilled (shunted), demand that
cannot be met is unserved (and browns out the computer).

Each interval is integrated sample by sample on the step grid, so a skipped quiet stretch
gives the same energy as stepping through it. The ledger (`ledger`) balances exactly:
battery change = charged − discharged − fault losses; solar = to loads + to charging +
spilled; demand = from solar + from battery + unserved.
"""

from __future__ import annotations

import math

import numpy as np

from firmware.onboard import OBSERVE_HYSTERESIS
from sim.bus import FOREVER_NS, MessageBus, Module
from sim.ephemeris import Ephemeris
from sim.faults import active_faults
from sim.messages import Event, PowerState
from sim.radiometry import SOLAR_CONSTANT_W_M2

J_PER_WH = 3600.0
LEDGER_KEYS = ("solar_j", "demand_j", "from_solar_j", "from_battery_j", "unserved_j",
               "charge_drawn_j", "charge_in_j", "discharge_out_j", "spilled_j", "fault_loss_j",
               "cpu_j", "tx_j")  # fmt: skip


class Power(Module):
    name = "power"

    def __init__(self, bus: MessageBus, config: dict, eph: Ephemeris) -> None:
        super().__init__(bus)
        self.p = p = config["spacecraft"]["power"]
        self.eph = eph
        self.step_ns = config["mission"]["step"]
        r_au = config["target"]["heliocentric_distance_au"]
        self.p_array_max_w = SOLAR_CONSTANT_W_M2 / r_au**2 * p["array_area_m2"] * p["array_efficiency"]
        self.cos_downlink = max(0.0, math.cos(math.radians(config["target"]["sun_earth_angle_deg"])))
        self.capacity_j = p["battery_capacity_wh"] * J_PER_WH
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.energy_j = self.p["battery_initial_soc"] * self.capacity_j
        self.initial_energy_j = self.energy_j
        self.ledger = dict.fromkeys(LEDGER_KEYS, 0.0)
        self.mode = "IDLE"  # mode in effect for the coming interval
        self.cpu_backlog_s = 0.0
        self.tx_backlog_s = 0.0
        self.faults: dict = {}
        self.brownout = False
        self.min_soc = self.soc
        self._applied: set[int] = set()
        self._last_demand = 0.0
        self._changed = False

    @property
    def soc(self) -> float:
        return self.energy_j / self.capacity_j

    def mode_load_w(self, mode: str) -> float:
        p = self.p
        load = p["load_bus_w"]
        if mode in ("IDLE", "SAFE"):
            load += p["load_heater_safe_w"]
        elif mode in ("SURVEY", "PROSPECT"):
            load += p["load_spectrometer_w"]
        return load

    def array_cos(self, mode: str, k0: int, k1: int) -> np.ndarray:
        n = k1 - k0
        if self.p["array_pointing"] == "sun_tracking" or mode in ("IDLE", "SAFE"):
            cos = np.ones(n)
        elif mode in ("SURVEY", "PROSPECT"):  # nadir (a PROSPECT slew is a few degrees)
            cos = np.maximum(self.eph.column("cos_i", k0, k1), 0.0)
        else:  # DOWNLINK
            cos = np.full(n, self.cos_downlink)
        return np.where(self.eph.column("eclipse", k0, k1), 0.0, cos)

    def update(self, t_ns: int) -> None:
        prev = self.t_ns
        super().update(t_ns)
        for fid, msg in list(active_faults(self.bus, self.name, self.faults, self.name).items()):
            self._brownout_onset(fid, msg)
        comp = self.bus.read("computer")
        # the radio sent these seconds in the interval just ended (a packet that did not fit
        # the interval's budget in full goes on into the next: carried as a backlog)
        self.tx_backlog_s += comp.tx_s if comp and comp.t_ns == t_ns else 0.0
        k0, k1 = prev // self.step_ns + 1, t_ns // self.step_ns + 1
        unserved_before = self.ledger["unserved_j"]
        if k1 > k0:
            self._integrate(k0, k1)
        undervoltage = self.ledger["unserved_j"] > unserved_before
        brownout_fault = any(m.kind == "battery_brownout" for m in self.faults.values())
        was = (self.brownout, self._band())
        self.brownout = brownout_fault or undervoltage
        if undervoltage:
            self.bus.publish("event", Event(t_ns, self.name, "error", "battery empty: load unserved, bus undervoltage"))
        # what the flight computer commanded now applies to the next interval
        mode_msg = self.bus.read("mode")
        if mode_msg is not None:
            self.mode = mode_msg.mode
        if comp is not None and comp.t_ns == t_ns:
            self.cpu_backlog_s += comp.cpu_s
        self.min_soc = min(self.min_soc, self.soc)
        # the flight computer reads this state at its next update: that step must not be skipped
        self._changed = (self.brownout, self._band()) != was
        L = self.ledger
        k = t_ns // self.step_ns
        solar_now = float(self.array_cos(self.mode, k, k + 1)[0]) * self.p_array_max_w
        dt = (t_ns - prev) / 1e9
        self.bus.publish("power", PowerState(
            t_ns, self.soc, self.energy_j / J_PER_WH, solar_now,
            (L["demand_j"] - self._last_demand) / dt if dt > 0 else self.mode_load_w(self.mode),
            L["solar_j"] / J_PER_WH, L["demand_j"] / J_PER_WH, L["unserved_j"] / J_PER_WH,
            self.brownout,
        ))  # fmt: skip
        self._last_demand = L["demand_j"]

    def _brownout_onset(self, fid: int, msg) -> None:
        if msg.kind != "battery_brownout" or fid in self._applied:
            return
        self._applied.add(fid)
        loss = msg.param("drop_fraction") * self.energy_j
        self.energy_j -= loss
        self.ledger["fault_loss_j"] += loss
        self.bus.publish("event", Event(msg.t_ns, self.name, "error",
                                        f"brown-out: {loss / J_PER_WH:.2f} Wh lost, bus reset"))  # fmt: skip

    def _integrate(self, k0: int, k1: int) -> None:
        p, L = self.p, self.ledger
        step_s = self.step_ns / 1e9
        n = k1 - k0
        interval_s = n * step_s
        solar_w = self.array_cos(self.mode, k0, k1) * self.p_array_max_w
        cpu_s = min(self.cpu_backlog_s, interval_s)
        self.cpu_backlog_s -= cpu_s
        tx_s = min(self.tx_backlog_s, interval_s)
        self.tx_backlog_s -= tx_s
        extra_w = (cpu_s * p["load_cpu_active_w"] + tx_s * p["load_radio_tx_w"]) / interval_s
        load_w = self.mode_load_w(self.mode) + extra_w
        L["cpu_j"] += cpu_s * p["load_cpu_active_w"]
        L["tx_j"] += tx_s * p["load_radio_tx_w"]
        eta_c, eta_d, cap = p["charge_efficiency"], p["discharge_efficiency"], self.capacity_j
        e = e_min = self.energy_j
        demand = load_w * step_s
        for s_w in solar_w.tolist():
            solar = s_w * step_s
            L["solar_j"] += solar
            L["demand_j"] += demand
            if solar >= demand:
                L["from_solar_j"] += demand
                room = cap - e
                stored = min((solar - demand) * eta_c, room)
                drawn = stored / eta_c
                e += stored
                L["charge_in_j"] += stored
                L["charge_drawn_j"] += drawn
                L["spilled_j"] += solar - demand - drawn
            else:
                L["from_solar_j"] += solar
                need = (demand - solar) / eta_d
                take = min(need, e)
                e -= take
                L["discharge_out_j"] += take
                L["from_battery_j"] += take * eta_d
                L["unserved_j"] += (need - take) * eta_d
                e_min = min(e_min, e)
        self.energy_j = e
        self.min_soc = min(self.min_soc, e_min / cap)

    def _band(self) -> int:
        """How many decision thresholds the state of charge is at or above."""
        p = self.p
        thresholds = (p["safe_soc"], p["min_soc_observe"], p["min_soc_observe"] + OBSERVE_HYSTERESIS, p["resume_soc"])
        return sum(self.soc >= x for x in thresholds)

    def quiet_until_ns(self, t_ns: int) -> int:
        """No decision threshold can be crossed before this; none was crossed unseen."""
        if self._changed:
            return t_ns
        p = self.p
        e = self.energy_j
        drain_w = (self.mode_load_w(self.mode) + p["load_cpu_active_w"] + p["load_radio_tx_w"]) / p["discharge_efficiency"]
        fill_w = self.p_array_max_w * p["charge_efficiency"]
        if self.cpu_backlog_s > 0 or self.tx_backlog_s > 0:
            return t_ns
        horizon_s = math.inf
        # the thresholds the flight software decides on, and empty (undervoltage)
        for soc in (p["safe_soc"], p["min_soc_observe"], p["min_soc_observe"] + OBSERVE_HYSTERESIS, p["resume_soc"], 0.0):
            thr = soc * self.capacity_j
            if thr < e and drain_w > 0:
                horizon_s = min(horizon_s, (e - thr) / drain_w)
            elif thr > e and fill_w > 0:
                horizon_s = min(horizon_s, (thr - e) / fill_w)
        if math.isinf(horizon_s):
            return FOREVER_NS
        return t_ns + int(horizon_s * 1e9)
