"""The simulated CubeSat mission loop: `assay run` flies a spacecraft prospecting an asteroid.

    from sim.scenario import load_scenario
    from sim.mission import run_mission
    from sim.outputs import write_run
    mission = run_mission(load_scenario("default", seed=1))
    report = write_run(mission, "runs/default-1")

Layout (one idea per module):

- time and wiring: `timebase` (integer-ns clock, durations), `bus` (typed channels,
  recorders, the `Module` base), `messages` (every message type), `engine` (fixed step,
  skipping over quiet stretches, pacing);
- scenario: `schema` (declarative validator), `scenario_keys` (every key), `scenario`
  (TOML loading, overrides, per-module seeds);
- world: `ephemeris` (Kepler orbit, rotation, illumination, eclipses), `spectra` and
  `target` (real spectra → units → surface map), `radiometry`, `instrument` (the
  spectrometer), `pointing` (nadir and targeted looks), `power`, `comms` (ground stations,
  passes, link), `faults` (the schedule), `upsets` (bits flipped in the computer's memories);
- spacecraft and ground: `spacecraft` (orbit/geometry publishers, the flight computer hosting
  the onboard software behind the `firmware.fsw.seam` types, mass memory); the ground is
  `gse.segment` (stations, archive, acknowledgements, operations scripts) when the flight
  executive flies (`spacecraft.computer.kind = "fsw"`, the default) or `ground` (the simple
  loop's product receiver);
- results: `mission` (assembly, driving), `report`, `fsw_report` (the flight software's
  section, science return against send-everything), `fault_report` (detection → response →
  recovery per fault), `ledger` (budgets), `plots`, `outputs`, `cli`.
"""
