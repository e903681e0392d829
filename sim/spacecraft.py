"""Spacecraft modules: orbit and geometry publishers, the flight computer seam, mass memory.

`FlightComputer` is the one module the mission loop talks to about onboard software. It
turns bus messages into `firmware.onboard.OnboardInputs`, calls `onboard.step(...)` and
turns the outputs back into messages. Anything with `reset(t_ns)`, `step(inputs)`,
`has_sendable()` and `used_bytes` can sit behind it: the simple loop of `firmware.onboard`
or the flight executive (`firmware.fsw.computer.FswComputer`, which also offers
`next_event_ns()` and talks to the ground in CCSDS packets).
"""

from __future__ import annotations

from firmware.fsw.pus import Apid
from sim.bus import FOREVER_NS, MessageBus, Module
from sim.ephemeris import Ephemeris
from sim.messages import (
    Classification,
    ComputerState,
    Downlinked,
    Event,
    Geometry,
    LookRequestMsg,
    ModeCmd,
    OrbitState,
    StorageOps,
    StorageState,
)
from sim.timebase import NS_PER_S
from sim.upsets import flip_model_bits, flip_stored_bits

UVLO_RESTART_SOC = 0.05  # after a brown-out the EPS re-enables the computer's rail above 5 %


class OrbitModule(Module):
    name = "orbit"

    def __init__(self, bus: MessageBus, eph: Ephemeris) -> None:
        super().__init__(bus)
        self.eph = eph

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        g = self.eph.at(t_ns // self.eph.step_ns)
        self.bus.publish("orbit", OrbitState(
            t_ns, float(g["x_m"]), float(g["y_m"]), float(g["z_m"]),
            float(g["vx_m_s"]), float(g["vy_m_s"]), float(g["vz_m_s"]), float(g["energy"]),
        ))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        return FOREVER_NS  # analytic: any time can be reached in one update


class GeometryModule(Module):
    name = "geometry"

    def __init__(self, bus: MessageBus, eph: Ephemeris) -> None:
        super().__init__(bus)
        self.eph = eph

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        g = self.eph.at(t_ns // self.eph.step_ns)
        self.bus.publish("geometry", Geometry(
            t_ns, float(g["sub_lat_deg"]), float(g["sub_lon_deg"]), float(g["altitude_m"]),
            float(g["incidence_deg"]), 0.0, float(g["incidence_deg"]), bool(g["observable"]),
            bool(g["eclipse"]), bool(g["earth_occulted"]),
        ))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        return FOREVER_NS


class FlightComputer(Module):
    """The flight computer: hosts the onboard software, models its processor and memories.

    Faults aimed at it (`target = "computer"`): a CPU hang (the software gets a `stall_ns`;
    software without a watchdog model simply stops stepping until the hang ends, losing the
    frames meanwhile), upsets in the model constants or in stored data (`sim.upsets`).
    Telecommands on their way up are held until their arrival time.
    """

    name = "computer"

    def __init__(self, bus: MessageBus, onboard, t_end_ns: int, inputs_type, rng=None) -> None:
        super().__init__(bus)
        self.onboard = onboard
        self.t_end_ns = t_end_ns
        self.inputs_type = inputs_type
        self.rng = rng
        self.packet_software = hasattr(onboard, "next_event_ns")  # talks CCSDS (the executive)
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.onboard.reset(t_ns)
        self.mode = "IDLE"
        self.lost = 0
        self.classified = 0
        self.mode_time_ns: dict[str, int] = {}
        self.tc_pending: list = []
        self.hung_until = -1
        self.off = False  # the bus could not hold the computer up
        self._contact_before = False
        self.upsets: list[dict] = []
        self.bus.publish("mode", ModeCmd(t_ns, self.mode, False))

    def _faults(self, t_ns: int) -> int:
        """Apply fault onsets aimed at the computer; returns a stall to pass on (ns)."""
        stall = 0
        for f in self.bus.drain("fault", self.name):
            if f.target != self.name or not f.active:
                continue
            if f.kind == "cpu_hang":
                stall = max(stall, f.until_ns - t_ns)
                if not self.packet_software:
                    self.hung_until = f.until_ns
                what = [f"processor hangs for {(f.until_ns - t_ns) / NS_PER_S:.0f} s"]
            elif f.kind == "model_upset":
                what = flip_model_bits(self.rng, f.param("bits"), f.param("array"))
            else:  # storage_upset
                what = flip_stored_bits(self.onboard, self.rng, f.param("bits"), f.param("region"))
            self.upsets.append({"t_s": t_ns / NS_PER_S, "fault_id": f.fault_id, "kind": f.kind, "hit": what})
            for text in what:
                self.bus.publish("event", Event(t_ns, "faults", "warning", f"{f.kind}: {text}"))
        return stall

    def update(self, t_ns: int) -> None:
        prev = self.t_ns
        super().update(t_ns)
        self.mode_time_ns[self.mode] = self.mode_time_ns.get(self.mode, 0) + (t_ns - prev)
        catch_up = getattr(self.onboard, "catch_up", None)
        if catch_up is not None:  # run the software to just before now: faults strike at t_ns
            catch_up(t_ns - 1)
        stall = self._faults(t_ns)
        self.tc_pending += self.bus.drain("uplink", self.name)
        arrived = [m.raw for m in self.tc_pending if m.arrive_ns <= t_ns]
        self.tc_pending = [m for m in self.tc_pending if m.arrive_ns > t_ns]
        frames = self.bus.drain("frame", self.name)
        power, link, geo = self.bus.read("power"), self.bus.read("link"), self.bus.read("geometry")
        if t_ns < self.hung_until:  # software without a watchdog: frozen until the hang ends
            self.lost += len(frames)
            self._publish_state(t_ns, 0.0, 0.0, 0)
            return
        # under-voltage lock-out with hysteresis: no boot on a battery that browns out again
        bus_reset = bool(power and power.brownout)
        self.off = bus_reset or (self.off and power is not None and power.soc < UVLO_RESTART_SOC)
        dt_s = (t_ns - prev) / NS_PER_S
        budget = 0
        if self.mode == "DOWNLINK" and link is not None and link.in_pass:
            budget = int(link.rate_bps * dt_s / 8)
        contact = bool(link and link.expected)
        # the radio carries data only over an interval spent in contact (passes are stepped finely)
        carried = contact and self._contact_before
        self._contact_before = contact
        inp = self.inputs_type(
            t_ns=t_ns, frames=tuple(frames), soc=power.soc if power else 1.0,
            bus_reset=self.off, observable=bool(geo and geo.observable),
            link_up=bool(link and link.in_pass), window_open=bool(link and link.window_open),
            rate_bps=link.rate_bps if link else 0.0, downlink_budget_bytes=budget,
            final=t_ns >= self.t_end_ns, contact=contact,
            radio_bytes=int(link.rate_bps * dt_s / 8) if carried else 0, uplink=tuple(arrived),
            stall_ns=stall, lat_deg=geo.sub_lat_deg if geo else float("nan"),
            lon_deg=geo.sub_lon_deg if geo else float("nan"),
        )  # fmt: skip
        out = self.onboard.step(inp)
        self.lost += out.lost
        for r in out.results:
            self.classified += 1
            self.bus.publish("classification", Classification(
                t_ns, r.obs_id, r.cls, r.complex, r.verdict, r.value, r.reason))  # fmt: skip
        for text in out.events:
            self.bus.publish("event", Event(t_ns, self.name, "warning", text))
        for severity, text in out.event_records:
            self.bus.publish("event", Event(t_ns, "fsw", severity, text))
        if out.mode != self.mode and not self.packet_software:  # the executive reports its own
            self.bus.publish("event", Event(t_ns, self.name, "info", f"mode {self.mode} → {out.mode}"))
        self.mode = out.mode
        on = out.mode == "SURVEY" if out.instrument_on is None else out.instrument_on
        self.bus.publish("mode", ModeCmd(t_ns, out.mode, on, out.integration_scale))
        for r in out.requests:
            self.bus.publish("reobs", LookRequestMsg(t_ns, r.request_id, r.lat_deg, r.lon_deg,
                                                     r.integration_scale, r.source_obs_id, r.expires_ns))  # fmt: skip
        owlt_ns = round(link.owlt_s * NS_PER_S) if link else 0
        for p in out.sent:
            self.bus.publish("downlink", Downlinked(t_ns, p.product_id, p.kind, p.obs_id, p.n_bytes, t_ns + owlt_ns, p.payload))
        for raw in out.packets:
            apid, seq = ((raw[0] & 0x07) << 8) | raw[1], ((raw[2] & 0x3F) << 8) | raw[3]
            kind = Apid(apid).name if apid in Apid._value2member_map_ else f"{apid:#05x}"
            self.bus.publish("downlink", Downlinked(t_ns, seq, kind, -1, len(raw), t_ns + owlt_ns, raw))
        d = out.storage_delta()
        self.bus.publish("storage_ops", StorageOps(t_ns, d.written, d.deleted, d.refused, d.downlinked, d.repackaged))
        sent_bytes = sum(p.n_bytes for p in out.sent) + sum(len(raw) for raw in out.packets)
        self._publish_state(t_ns, out.cpu_s, out.tx_s, sent_bytes)

    def _publish_state(self, t_ns: int, cpu_s: float, tx_s: float, sent_bytes: int) -> None:
        self.bus.publish("computer", ComputerState(
            t_ns, self.mode, cpu_s, len(getattr(self.onboard, "queue", ())), self.lost,
            tx_s, sent_bytes, len(getattr(self.onboard, "store", ())),
        ))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        wake = min((m.arrive_ns for m in self.tc_pending), default=FOREVER_NS)
        if t_ns < self.hung_until:
            wake = min(wake, self.hung_until)
        link = self.bus.read("link")
        if self.packet_software:
            if link is not None and link.window_open:
                return t_ns  # a pass: telemetry flows, acknowledgements and commands arrive
            return min(wake, max(t_ns, self.onboard.next_event_ns()))
        if link is not None and link.window_open and self.onboard.has_sendable():
            return t_ns
        return wake


class Storage(Module):
    """The mass-memory device: capacity and byte counters (the catalogue is the software's)."""

    name = "storage"

    def __init__(self, bus: MessageBus, capacity_bytes: int) -> None:
        super().__init__(bus)
        self.capacity = capacity_bytes
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.used = self.produced = self.downlinked = self.deleted = self.refused = 0
        self.repackaged = 0
        self.peak = 0

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        ops = self.bus.read("storage_ops")
        if ops is not None and ops.t_ns == t_ns:
            self.produced += ops.written + ops.refused
            self.refused += ops.refused
            self.deleted += ops.deleted
            self.downlinked += ops.downlinked
            self.repackaged += ops.repackaged
            self.used += ops.written - ops.deleted - ops.downlinked - ops.repackaged
            if self.used > self.capacity or self.used < 0:
                self.bus.publish("event", Event(t_ns, self.name, "error",
                                                f"store holds {self.used} bytes of {self.capacity}"))  # fmt: skip
            self.peak = max(self.peak, self.used)
        self.bus.publish("storage", StorageState(
            t_ns, self.used, self.capacity, self.produced, self.downlinked, self.deleted + self.refused,
            self.repackaged,
        ))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        return FOREVER_NS
