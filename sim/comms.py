"""Ground stations, pass windows and the downlink: who can hear the spacecraft, when, how fast.

A station hears the target while it is above its elevation mask. The target's direction
from Earth is fixed (scenario right ascension and declination); the station turns with the
Earth at the sidereal rate, GMST(t) = 280.46061837° + 360.98564736629° · d (d = days since
J2000.0; Meeus 1998, Eq. 12.4, without the T² terms), so each station's visibility is one
analytic window per sidereal day. Scheduled allocations (`[[ground.passes]]`, DSN-like,
optionally repeating) are cut to the station's visibility; with none scheduled, every
visibility window is a pass. During a pass the link is up unless the asteroid hides the
spacecraft from Earth or a `missed_pass` fault has the station down. The spacecraft cannot
see a station outage: it expects contact (`LinkState.expected`) whenever a pass is scheduled
and Earth is in view, and store-and-forward flight software transmits into the void.

Rate: `rate_bps_at_1au` / d² (free-space loss ∝ d²), capped at `max_rate_bps`. Data reach
the ground one light time later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from sim.bus import FOREVER_NS, MessageBus, Module
from sim.ephemeris import Ephemeris
from sim.faults import active_faults
from sim.messages import Event, LinkState
from sim.radiometry import light_time_s
from sim.timebase import NS_PER_DAY, NS_PER_S

J2000 = datetime(2000, 1, 1, 12, 0, 0, tzinfo=UTC)
SIDEREAL_DEG_PER_DAY = 360.98564736629  # Meeus 1998, Eq. 12.4


@dataclass
class PassWindow:
    pass_id: int
    station: str
    start_ns: int
    end_ns: int
    contact_s: float = 0.0
    bytes_sent: int = 0
    outage: bool = False
    notes: list[str] = field(default_factory=list)


def gmst_deg(epoch: datetime, t_s: float) -> float:
    d = (epoch - J2000).total_seconds() / 86400.0 + t_s / 86400.0
    return (280.46061837 + SIDEREAL_DEG_PER_DAY * d) % 360.0


def visibility_windows(epoch: datetime, t_end_ns: int, station: dict, ra_deg: float,
                       dec_deg: float) -> list[tuple[int, int]]:  # fmt: skip
    """[start, end) ns windows in [0, t_end) with the target above the station's mask."""
    phi, dec = math.radians(station["latitude_deg"]), math.radians(dec_deg)
    denom = math.cos(phi) * math.cos(dec)
    num = math.sin(math.radians(station["elevation_mask_deg"])) - math.sin(phi) * math.sin(dec)
    if abs(denom) < 1e-12:
        return [(0, t_end_ns)] if num <= 0 else []
    c0 = num / denom
    if c0 <= -1:
        return [(0, t_end_ns)]
    if c0 >= 1:
        return []
    h0 = math.degrees(math.acos(c0))  # half-width of the window in hour angle
    rate_deg_s = SIDEREAL_DEG_PER_DAY / 86400.0
    h_start = (gmst_deg(epoch, 0.0) + station["longitude_deg"] - ra_deg) % 360.0  # hour angle at t=0
    # time until the hour angle reaches −h0 (rise), measured forward
    to_rise_s = ((-h0 - h_start) % 360.0) / rate_deg_s
    period_s = 360.0 / rate_deg_s
    width_s = 2 * h0 / rate_deg_s
    windows = []
    rise = to_rise_s - period_s  # the previous rise may still be in progress at t=0
    while rise * NS_PER_S < t_end_ns:
        a, b = round(rise * NS_PER_S), round((rise + width_s) * NS_PER_S)
        if b > 0:
            windows.append((max(a, 0), min(b, t_end_ns)))
        rise += period_s
    return [w for w in windows if w[1] > w[0]]


def plan_passes(config: dict, t_end_ns: int, notes: list[str] | None = None) -> list[PassWindow]:
    """Contact windows; `notes` collects allocations cut short or lost to visibility."""
    notes = [] if notes is None else notes
    g, t = config["ground"], config["target"]
    epoch = config["mission"]["epoch"]
    vis = {s["name"]: visibility_windows(epoch, t_end_ns, s, t["right_ascension_deg"], t["declination_deg"])
           for s in g["stations"]}  # fmt: skip
    raw: list[tuple[int, int, str]] = []
    if g["passes"]:
        for ps in g["passes"]:
            start = ps["start"]
            while start < t_end_ns:
                a, b = start, min(start + ps["duration"], t_end_ns)
                usable = 0
                for va, vb in vis[ps["station"]]:
                    lo, hi = max(a, va), min(b, vb)
                    if hi > lo:
                        raw.append((lo, hi, ps["station"]))
                        usable += hi - lo
                if usable < b - a:
                    notes.append(f"allocation at {ps['station']} from t={a / NS_PER_S:.0f} s: target above "
                                 f"the mask for {usable / NS_PER_S:.0f} of {(b - a) / NS_PER_S:.0f} s")  # fmt: skip
                if not ps["repeat"]:
                    break
                start += ps["repeat"]
    else:
        raw = [(a, b, name) for name, ws in vis.items() for a, b in ws]
    raw.sort()
    return [PassWindow(i, st, a, b) for i, (a, b, st) in enumerate(raw)]


class GroundLink(Module):
    name = "comms"

    def __init__(self, bus: MessageBus, config: dict, eph: Ephemeris, t_end_ns: int) -> None:
        super().__init__(bus)
        g, t = config["ground"], config["target"]
        self.eph = eph
        self.step_ns = config["mission"]["step"]
        self.notes: list[str] = []
        self.windows = plan_passes(config, t_end_ns, self.notes)
        self.rate_bps = min(g["max_rate_bps"], g["rate_bps_at_1au"] / t["earth_distance_au"] ** 2)
        self.owlt_s = light_time_s(t["earth_distance_au"])
        self._bounds = np.array(sorted({w.start_ns for w in self.windows} | {w.end_ns for w in self.windows}),
                                dtype=np.int64)  # fmt: skip
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.faults: dict = {}
        self.current: PassWindow | None = None
        for w in self.windows:
            w.contact_s, w.bytes_sent, w.outage = 0.0, 0, False
        self._notes_pending = True

    def window_at(self, t_ns: int) -> PassWindow | None:
        for w in self.windows:
            if w.start_ns <= t_ns < w.end_ns:
                return w
            if w.start_ns > t_ns:
                break
        return None

    def update(self, t_ns: int) -> None:
        prev = self.t_ns
        super().update(t_ns)
        if t_ns > prev:
            self._account_contact(prev, t_ns)  # with the outages that held during (prev, t]
        active_faults(self.bus, self.name, self.faults, self.name)
        if self._notes_pending:
            self._notes_pending = False
            for text in self.notes:
                self.bus.publish("event", Event(t_ns, self.name, "warning", text))
        w = self.window_at(t_ns)
        if w is not self.current:
            if self.current is not None:
                self._close(t_ns, self.current)
            if w is not None:
                self.bus.publish("event", Event(t_ns, self.name, "info", f"pass {w.pass_id} opens ({w.station})"))
            self.current = w
        up = expected = False
        if w is not None:
            down = [f for f in self.faults.values() if f.param("station") in ("", w.station)]
            if down:
                w.outage = True
            occulted = bool(self.eph.at(t_ns // self.step_ns)["earth_occulted"])
            expected = not occulted
            up = not down and expected
        self.bus.publish("link", LinkState(
            t_ns, up, w is not None, expected, w.pass_id if w else -1, w.station if w else "",
            self.rate_bps if expected else 0.0, self.owlt_s,
        ))  # fmt: skip

    def _account_contact(self, prev_ns: int, t_ns: int) -> None:
        """Contact seconds in (prev, t]: grid samples inside a window, not occulted, station up."""
        for w in self.windows:
            if w.start_ns >= t_ns:
                break
            lo, hi = max(prev_ns, w.start_ns), min(t_ns, w.end_ns - 1)
            if hi <= lo or any(f.param("station") in ("", w.station) for f in self.faults.values()):
                continue
            k0, k1 = lo // self.step_ns + 1, hi // self.step_ns + 1
            if k1 > k0:
                n_up = int(np.count_nonzero(~self.eph.column("earth_occulted", k0, k1)))
                w.contact_s += n_up * self.step_ns / NS_PER_S

    def _close(self, t_ns: int, w: PassWindow) -> None:
        state = "missed (station outage)" if w.outage and w.contact_s == 0 else "closes"
        self.bus.publish("event", Event(t_ns, self.name, "warning" if "missed" in state else "info",
                                        f"pass {w.pass_id} {state}: {w.contact_s:.0f} s of contact, "
                                        f"{w.bytes_sent} bytes"))  # fmt: skip

    def quiet_until_ns(self, t_ns: int) -> int:
        i = int(np.searchsorted(self._bounds, t_ns, side="right"))
        return int(self._bounds[i]) if i < self._bounds.size else FOREVER_NS

    def passes_per_day(self, t_end_ns: int) -> float:
        return len(self.windows) / max(t_end_ns / NS_PER_DAY, 1e-9)
