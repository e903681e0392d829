"""Spacecraft modules: orbit and geometry publishers, the flight computer seam, mass memory.

`FlightComputer` is the one module the mission loop talks to about onboard software. It
turns bus messages into `firmware.onboard.OnboardInputs`, calls `onboard.step(...)` and
turns the outputs back into messages. Anything with `reset(t_ns)`, `step(inputs)`,
`has_sendable()` and `used_bytes` can sit behind it — the simple loop of
`firmware.onboard` now, the flight executive of `firmware/fsw/` later.
"""

from __future__ import annotations

from sim.bus import FOREVER_NS, MessageBus, Module
from sim.ephemeris import Ephemeris
from sim.messages import (
    Classification,
    ComputerState,
    Downlinked,
    Event,
    Geometry,
    ModeCmd,
    OrbitState,
    StorageOps,
    StorageState,
)
from sim.timebase import NS_PER_S


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
    name = "computer"

    def __init__(self, bus: MessageBus, onboard, t_end_ns: int, inputs_type) -> None:
        super().__init__(bus)
        self.onboard = onboard
        self.t_end_ns = t_end_ns
        self.inputs_type = inputs_type
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.onboard.reset(t_ns)
        self.mode = "IDLE"
        self.lost = 0
        self.classified = 0
        self.mode_time_ns: dict[str, int] = {}
        self.bus.publish("mode", ModeCmd(t_ns, self.mode))

    def update(self, t_ns: int) -> None:
        prev = self.t_ns
        super().update(t_ns)
        self.mode_time_ns[self.mode] = self.mode_time_ns.get(self.mode, 0) + (t_ns - prev)
        frames = self.bus.drain("frame", self.name)
        power, link, geo = self.bus.read("power"), self.bus.read("link"), self.bus.read("geometry")
        budget = 0
        if self.mode == "DOWNLINK" and link is not None and link.in_pass:
            budget = int(link.rate_bps * (t_ns - prev) / NS_PER_S / 8)
        inp = self.inputs_type(
            t_ns=t_ns, frames=tuple(frames), soc=power.soc if power else 1.0,
            bus_reset=bool(power and power.brownout), observable=bool(geo and geo.observable),
            link_up=bool(link and link.in_pass), window_open=bool(link and link.window_open),
            rate_bps=link.rate_bps if link else 0.0, downlink_budget_bytes=budget,
            final=t_ns >= self.t_end_ns,
        )  # fmt: skip
        out = self.onboard.step(inp)
        self.lost += out.lost
        for r in out.results:
            self.classified += 1
            self.bus.publish("classification", Classification(
                t_ns, r.obs_id, r.cls, r.complex, r.verdict, r.value, r.reason))  # fmt: skip
        for text in out.events:
            self.bus.publish("event", Event(t_ns, self.name, "warning", text))
        if out.mode != self.mode:
            self.bus.publish("event", Event(t_ns, self.name, "info", f"mode {self.mode} → {out.mode}"))
        self.mode = out.mode
        self.bus.publish("mode", ModeCmd(t_ns, out.mode))
        owlt_ns = round(link.owlt_s * NS_PER_S) if link else 0
        for p in out.sent:
            self.bus.publish("downlink", Downlinked(t_ns, p.product_id, p.kind, p.obs_id, p.n_bytes, t_ns + owlt_ns, p.payload))
        sent_bytes = sum(p.n_bytes for p in out.sent)
        self.bus.publish("storage_ops", StorageOps(
            t_ns, sum(p.n_bytes for p in out.written), sum(p.n_bytes for p in out.deleted),
            sum(p.n_bytes for p in out.refused), sent_bytes,
        ))  # fmt: skip
        self.bus.publish("computer", ComputerState(
            t_ns, out.mode, out.cpu_s, len(getattr(self.onboard, "queue", ())), self.lost,
            out.tx_s, sent_bytes, len(getattr(self.onboard, "store", ())),
        ))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        link = self.bus.read("link")
        if link is not None and link.window_open and self.onboard.has_sendable():
            return t_ns
        return FOREVER_NS


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
        self.peak = 0

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        ops = self.bus.read("storage_ops")
        if ops is not None and ops.t_ns == t_ns:
            self.produced += ops.written + ops.refused
            self.refused += ops.refused
            self.deleted += ops.deleted
            self.downlinked += ops.downlinked
            self.used += ops.written - ops.deleted - ops.downlinked
            if self.used > self.capacity or self.used < 0:
                self.bus.publish("event", Event(t_ns, self.name, "error",
                                                f"store holds {self.used} bytes of {self.capacity}"))  # fmt: skip
            self.peak = max(self.peak, self.used)
        self.bus.publish("storage", StorageState(
            t_ns, self.used, self.capacity, self.produced, self.downlinked, self.deleted + self.refused,
        ))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        return FOREVER_NS
