"""A stand-alone bench for the flight software: a scripted world, a link and a ground station.

Until the mission loop flies the executive, this is where it runs on its own — like F´'s
reference deployment: real spectra (any files `firmware.reader` reads) come out of a scripted
spectrometer, the battery and temperatures are settable, and the spectrometer faults (stuck,
saturated, noisy) are switches; `Loopback` carries packets to a `GroundStation` that archives
and decodes them. Tests build on it; `python -m sim.gse.standalone` writes a telemetry archive
to look at with `assay decode`.

The flight software sees only the typed messages of `firmware.fsw.messages`, here or in the
simulator.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from firmware.fsw.executive import Executive
from firmware.fsw.messages import Observation, PowerStatus, ThermalStatus
from firmware.fsw.params import Nvm
from firmware.fsw.store import MassMemory
from sim.gse.archive import ArchiveWriter
from sim.gse.ground import GroundStation
from sim.gse.link import Loopback, Pass

S = 1_000_000_000
FULL_SCALE_DN = 65535  # 16-bit ADC
NOMINAL_FILL = 0.15  # peak counts at nominal integration, as a fraction of full scale


@cache
def _read_first(path: str):
    from firmware.reader import read_spectra

    return read_spectra(path)[0]


@dataclass
class Environment:
    """Called by the link every step: sensor messages and, when the spectrometer is on and an
    observation is due, one `Observation` (answering a pending re-observation first)."""

    exe: Executive
    files: list[str]
    load: Callable[[str], object] = field(default=None, repr=False)  # file → Spectrum
    obs_period_s: float = 10.0
    soc: float = 0.8
    spectrometer_c: float = 10.0
    obc_c: float = 25.0
    faults: set[str] = field(default_factory=set)  # "stuck", "saturated", "noisy"
    mute: set[str] = field(
        default_factory=set
    )  # sensors that stopped reporting: "power", "thermal"
    seed: int = 0
    obs_id: int = 0
    next_obs_ns: int = 0
    sent: list[Observation] = field(default_factory=list)
    source_of: dict[int, int] = field(default_factory=dict)  # obs ID → index into files
    inject: list[tuple[int, object]] = field(default_factory=list)  # (t_ns, message) one-offs
    reobs_file: str | None = None  # what a re-observation sees (default: the same target again)

    def __post_init__(self):
        self._rng = np.random.default_rng(self.seed)
        if self.load is None:
            self.load = _read_first
        self._pending = []

    def __call__(self, t_ns: int) -> list:
        out = []
        if "power" not in self.mute:
            out.append(PowerStatus(t_ns, self.soc, 6.6 + 1.8 * self.soc))
        if "thermal" not in self.mute:
            out.append(ThermalStatus(t_ns, self.spectrometer_c, self.obc_c))
        out += [m for t, m in self.inject if t == t_ns]
        self._pending += self.exe.pop_requests()
        state = self.exe.instrument_state
        if state.power_on and t_ns >= self.next_obs_ns:
            self.next_obs_ns = t_ns + int(self.obs_period_s * S)
            out.append(self.observe(t_ns, state.integration_scale))
        return out

    def observe(self, t_ns: int, scale: float) -> Observation:
        request = self._pending.pop(0) if self._pending else None
        files = self.files
        if request is not None:
            k = self.source_of.get(request.source_obs_id, 0)
            if self.reobs_file is not None:
                files, k = [self.reobs_file], 0
            scale, snr = request.integration_scale, 200.0
        else:
            k = self.obs_id % len(self.files)
            snr = 100.0
        if "stuck" in self.faults and self.sent:
            last = self.sent[-1]
            obs = Observation(
                self.obs_id,
                t_ns,
                last.wavelength_um,
                last.reflectance,
                last.error,
                last.counts_dn,
                FULL_SCALE_DN,
                last.snr,
                last.lat_deg,
                last.lon_deg,
                scale,
            )
        else:
            s = self.load(files[k])
            refl = s.reflectance.copy()
            if "noisy" in self.faults:
                refl *= 1 + self._rng.normal(0, 0.2, refl.size)
                refl = np.abs(refl) + 1e-3
                snr = 5.0
            gain = 20.0 if "saturated" in self.faults else 1.0
            counts = np.minimum(
                np.round(refl / refl.max() * NOMINAL_FILL * FULL_SCALE_DN * scale * gain),
                FULL_SCALE_DN,
            )
            obs = Observation(
                self.obs_id,
                t_ns,
                s.wavelength_um,
                refl,
                s.error,
                counts.astype(np.uint16),
                FULL_SCALE_DN,
                snr,
                5.0,
                (self.obs_id * 7.0) % 360,
                scale,
                request.request_id if request is not None else None,
            )
        self.source_of[self.obs_id] = (
            k if files is self.files else self.source_of.get(request.source_obs_id, 0)
        )
        self.obs_id += 1
        self.sent.append(obs)
        return obs


@dataclass
class World:
    exe: Executive
    env: Environment
    link: Loopback
    ground: GroundStation

    def run(self, seconds: float) -> None:
        self.link.run_until(self.link.now_ns + int(seconds * S))


def make_world(
    files,
    *,
    load: Callable[[str], object] | None = None,
    passes: list[Pass] | None = None,
    archive=None,
    light_time_s: float = 1.0,
    rate_bps: float = 64_000.0,
    drop_prob: float = 0.0,
    corrupt_prob: float = 0.0,
    uplink_corrupt_prob: float = 0.0,
    seed: int = 0,
    obs_period_s: float = 10.0,
    capacity_bytes: int = 4 << 20,
    auto_ack_s: float | None = 20.0,
    params: dict | None = None,
    start: bool = True,
) -> World:
    exe = Executive(nvm=Nvm(), mass=MassMemory(capacity_bytes))
    for name, value in (params or {}).items():
        exe.params.set(name, value)
    env = Environment(exe, list(files), load, obs_period_s=obs_period_s, seed=seed)
    link = Loopback(
        exe,
        light_time_ns=int(light_time_s * S),
        rate_bps=rate_bps,
        passes=passes,
        environment=env,
        drop_prob=drop_prob,
        corrupt_prob=corrupt_prob,
        uplink_corrupt_prob=uplink_corrupt_prob,
        seed=seed,
    )
    ground = GroundStation(
        link, archive=ArchiveWriter(archive) if archive else None, auto_ack_s=auto_ack_s
    )
    if start:
        link.start(0)
    return World(exe, env, link, ground)


def main(argv: list[str] | None = None) -> int:
    """Fly the flight software for a few simulated hours over the example spectra shipped in
    `seeds/examples/` and write the ground's raw archive."""
    seeds = Path(__file__).resolve().parents[2] / "seeds" / "examples"
    p = argparse.ArgumentParser(prog="python -m sim.gse.standalone", description=main.__doc__)
    p.add_argument("--out", type=Path, default=Path("runs/fsw-standalone"))
    p.add_argument("--hours", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    files = sorted(str(f) for f in seeds.glob("a*.txt") if "sp258" not in f.name)  # NIR-only out
    passes = [
        Pass(int((h + 0.8) * 3600 * S), int((h + 1) * 3600 * S)) for h in range(int(args.hours))
    ]
    archive = args.out / "telemetry.bin"
    w = make_world(files, passes=passes, archive=archive, seed=args.seed, drop_prob=0.01)
    w.run(args.hours * 3600)
    w.ground.archive.close()
    print(f"{archive}: {w.ground.archive.packets} packets, {w.ground.archive.bytes} bytes; "
          f"link {w.link.stats}; autonomy {w.exe.autonomy.stats}")  # fmt: skip
    print(f"decode it with: assay decode {archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
