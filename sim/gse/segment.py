"""The ground segment in the mission loop: stations, archive, operations, on simulated time.

`GroundSegment` is the simulation module on the ground end of the space link when the flight
executive flies (`spacecraft.computer.kind = "fsw"`):
- downlink: every packet the spacecraft transmits while a station hears it (a pass, Earth in
  view, no station outage) reaches the ground one light time later and goes to a
  `GroundStation` (`sim.gse.ground`): archived (`telemetry.bin`), decoded, and acknowledged
  every `ground.ack_interval` while in contact — the spacecraft frees its store only then;
  packets sent into a missed pass are counted as unheard (the spacecraft will send them again);
- uplink: telecommands leave while a station is in contact and arrive one light time later
  (`Uplinked` messages); an `uplink_corruption` fault flips bits on the way;
- operations: the scenario's time-tagged `[[commands]]` and the `ground.procedure` run as
  small scripts on simulated time (`sim.gse.ops`): each waits for contact, sends, waits for
  the verification reports, resends a command the spacecraft refused for a bad CRC.

The same `GroundStation` offers the blocking API (`send_and_wait`, `await_event`, `latest`,
`await_hk`) to a script that drives the mission from outside (`Mission.start()` then the
script; `SimLink` moves the engine).
"""

from __future__ import annotations

import numpy as np

from sim.bus import FOREVER_NS, MessageBus, Module
from sim.faults import active_faults
from sim.gse.archive import MemoryArchive
from sim.gse.ground import CommandTimeout, GroundStation
from sim.gse.ops import Operations
from sim.messages import Event, Uplinked
from sim.timebase import NS_PER_S


class SimLink:
    """The link interface `GroundStation` expects (see `sim.gse.link`), on the mission."""

    def __init__(self, segment: GroundSegment) -> None:
        self.segment = segment
        self.engine = None  # set by the mission once its engine exists
        self.downlink_sink = None
        self.step_hooks: list = []

    @property
    def now_ns(self) -> int:
        return max(self.segment.t_ns, 0)

    @property
    def step_ns(self) -> int:
        return self.engine.step_ns

    def next_stop_ns(self, deadline_ns: int) -> int:
        if self.engine.done:
            raise CommandTimeout(f"the mission ended at t={self.engine.now_ns / NS_PER_S:.0f} s")
        return min(self.engine.next_ns, deadline_ns)

    def run_until(self, t_ns: int) -> None:
        self.engine.advance(t_ns)

    def uplink(self, raw: bytes) -> bool:
        return self.segment.uplink(raw)

    def ground_contact(self) -> bool:
        return self.segment.contact


class GroundSegment(Module):
    name = "ground"

    def __init__(self, bus: MessageBus, config: dict, comms, epoch_unix_ms: int,
                 rng: np.random.Generator) -> None:  # fmt: skip
        super().__init__(bus)
        self.config = config
        self.comms = comms
        self.epoch_unix_ms = epoch_unix_ms
        self.rng = rng
        self.link = SimLink(self)
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.t_ns = -1  # nothing received yet: the first update is at t = 0
        g = self.config["ground"]
        self.link.step_hooks.clear()
        self.archive = MemoryArchive()
        self.station = GroundStation(
            self.link, archive=self.archive, epoch_unix_ms=self.epoch_unix_ms,
            auto_ack_s=g["ack_interval"] / NS_PER_S,
        )  # fmt: skip
        self.ops = Operations(self.station, self.config, self.link)
        self.in_flight: list[tuple[int, int, bytes]] = []  # (arrival, order, raw)
        self._order = 0
        self.contact = False
        self.faults: dict = {}
        self.stats = {"tm_transmitted": 0, "tm_unheard": 0, "bytes_unheard": 0, "tm_received": 0,
                      "bytes_received": 0, "tc_sent": 0, "tc_corrupted": 0, "tc_bytes": 0}  # fmt: skip
        self.uplink_arrivals: list[int] = []

    # --- the space link, ground end -----------------------------------------------------------

    def uplink(self, raw: bytes) -> bool:
        """Send a TC now; False (nothing sent) without a station in contact."""
        if not self.contact:
            return False
        raw = bytes(raw)
        corrupted = False
        for f in self.faults.values():
            if f.kind == "uplink_corruption" and self.rng.random() < f.param("probability"):
                b = bytearray(raw)
                for bit in self.rng.integers(len(b) * 8, size=f.param("bits")):
                    b[int(bit) // 8] ^= 1 << (int(bit) % 8)
                raw, corrupted = bytes(b), True
        link = self.bus.read("link")
        owlt_ns = round(link.owlt_s * NS_PER_S) if link else 0
        self.bus.publish("uplink", Uplinked(self.t_ns, self.t_ns + owlt_ns, corrupted, raw))
        self.uplink_arrivals.append(self.t_ns + owlt_ns)  # the spacecraft must not be skipped past it
        self.stats["tc_sent"] += 1
        self.stats["tc_bytes"] += len(raw)
        self.stats["tc_corrupted"] += corrupted
        if corrupted:
            self.bus.publish("event", Event(self.t_ns, self.name, "warning",
                                            "uplink_corruption: a telecommand was damaged on the way up"))  # fmt: skip
        return True

    def update(self, t_ns: int) -> None:
        super().update(t_ns)
        link = self.bus.read("link")
        self.contact = bool(link and link.in_pass)
        active_faults(self.bus, self.name, self.faults, self.name)
        for msg in self.bus.drain("downlink", self.name):
            self.stats["tm_transmitted"] += 1
            if link is not None and link.pass_id >= 0:
                self.comms.windows[link.pass_id].bytes_sent += msg.n_bytes
            if not self.contact:  # transmitted into a missed pass: nobody hears it
                self.stats["tm_unheard"] += 1
                self.stats["bytes_unheard"] += msg.n_bytes
                continue
            self._order += 1
            self.in_flight.append((msg.arrive_ns, self._order, msg.payload))
        if self.in_flight:
            self.in_flight.sort()
            while self.in_flight and self.in_flight[0][0] <= t_ns:
                arrive, _, raw = self.in_flight.pop(0)
                self.stats["tm_received"] += 1
                self.stats["bytes_received"] += len(raw)
                self.station.receive(raw, arrive)
        self.ops.step(t_ns)
        for hook in self.link.step_hooks:
            hook(t_ns)

    def quiet_until_ns(self, t_ns: int) -> int:
        wake = self.ops.wake_ns(t_ns)
        if self.in_flight:
            wake = min(wake, self.in_flight[0][0])
        self.uplink_arrivals = [a for a in self.uplink_arrivals if a > t_ns]
        if self.uplink_arrivals:
            wake = min(wake, self.uplink_arrivals[0])
        return max(wake, t_ns) if wake < FOREVER_NS else FOREVER_NS

    # --- accounting ---------------------------------------------------------------------------

    def counts_on_ground(self) -> dict[int, set[int]]:
        """Unwrapped sequence counts received per APID (duplicates once)."""
        return {apid: set(track.seen) for apid, track in self.station.decoder.tracks.items()}
