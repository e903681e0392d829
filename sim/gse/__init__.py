"""Ground support equipment: what the ground does with the flight software's packets.

`archive` (the raw `telemetry.bin`), `decode` (packets → rows and tables, live or offline),
`tables` (CSV/JSON), `cli` (`assay decode`), `ground` (the command API on simulated time:
`send_and_wait`, `await_event`, freshness-checked telemetry), `segment` (the ground segment
as a module of the mission loop), `ops` (operations scripts: time-tagged commands, the
safe-mode recovery), `link` (a stand-alone space link with passes, light time, losses),
`standalone` (a bench that flies the executive on its own), `metrics` (science events per
downlinked MB).
"""
