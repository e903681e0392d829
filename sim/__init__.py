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
  spectrometer), `power`, `comms` (ground stations, passes, link), `faults`;
- spacecraft and ground: `spacecraft` (orbit/geometry publishers, the flight-computer seam
  around `firmware.onboard`, mass memory), `ground` (receiver and product decoder);
- results: `mission` (assembly), `report`, `ledger` (budgets), `plots`, `outputs`, `cli`.

`sim/gse/` (ground support: telemetry archive and decoder) belongs to the flight-software work.
"""
