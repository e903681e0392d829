"""Flight software: the executive, CCSDS/PUS-C telemetry and telecommands, FDIR, autonomy.

    from firmware.fsw.executive import Executive
    exe = Executive()            # fresh NVM and mass memory; pass nvm=/mass= to keep them
    exe.reset(0)                 # boot at t = 0 ns
    exe.ingest(PowerStatus(...)); exe.receive_tc(raw_tc, t_ns)
    exe.update(t_ns)             # run the rate groups up to t_ns
    packets = exe.transmit(t_ns, budget_bytes)

Modules: `pus` (the only user of `spacepackets`), `commands` (the command dictionary),
`dispatcher` (PUS 1), `housekeeping` (3), `events` (5), `services` (8, 17, 20, 140 and the
bindings of all), `schedule` (11), `monitoring` (12), `transfer` (13), `modes`, `rategroups`
(and the watchdog), `params` (PUS 20, in NVM), `store` (telemetry store in mass memory),
`storage` (admission and eviction policy), `products`, `fdir`, `health`, `autonomy`,
`science` (the per-cycle pipeline), `messages` (the typed interface to the simulator),
`executive`, `seam` (the host ↔ onboard-software types) and `computer` (the executive as the
flight computer of the mission simulator, behind that seam). The ground side is `sim.gse`.
"""
