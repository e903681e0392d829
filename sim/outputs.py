"""Write a run directory: report.json, recordings/*.csv, plots/*.png, scenario.toml, timing.json.

Every file except `timing.json` is a deterministic function of the scenario and seed (the
determinism test hashes them all). `timing.json` holds what depends on the machine: wall
time and the achieved speed-up over real time. Onboard software with a `write_outputs(dir)
-> [relative paths]` or a `report() -> dict` method adds its own files and report section.

When the flight executive flies, the ground's raw archive goes to `telemetry.bin` (every
packet the ground handled, in order: telemetry as received, telecommands as sent; CCSDS
Space Packets back to back, readable by any CCSDS tool or `assay decode`) and its decoded
tables to `telemetry/*.csv` (packets, events, verification, housekeeping, science events,
products, …).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
from pathlib import Path

from sim.plots import write_plots
from sim.report import build_report, observation_table
from sim.timebase import NS_PER_S

TIMING_FILE = "timing.json"  # the only non-deterministic file of a run


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.9g}"
    return str(v)


def write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_fmt(v) for v in row])


def timing(mission) -> dict:
    sim_s = mission.scenario.duration_ns / NS_PER_S
    wall = mission.wall_s
    import numba

    base = mission.extra.get("baseline")
    extra = {"baseline_wall_s": round(base["wall_s"], 3)} if base else {}
    return {
        **extra,
        "wall_s": round(wall, 3), "simulated_s": sim_s,
        "speed_up_over_real_time": round(sim_s / wall, 1) if wall > 0 else None,
        "module_updates_per_wall_s": round(mission.stats.steps / wall, 1) if wall > 0 else None,
        "python": sys.version.split()[0], "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
    }  # fmt: skip


def write_telemetry(mission, out_dir: Path) -> list[str]:
    """telemetry.bin and the decoded tables (the ground station's own decoder)."""
    from sim.gse.tables import write_tables

    seg = mission.ground
    seg.archive.save(out_dir / "telemetry.bin")
    written = write_tables(seg.station.decoder, out_dir / "telemetry", ("csv",))
    return ["telemetry.bin", *sorted(str(p.relative_to(out_dir)) for p in written)]


def write_run(mission, out_dir: Path, plots: bool = True) -> dict:
    """Write everything; return the report dict."""
    out_dir = Path(out_dir)
    rec_dir = out_dir / "recordings"
    rec_dir.mkdir(parents=True, exist_ok=True)
    rows = observation_table(mission)
    report = build_report(mission, rows)
    files = ["report.json", "scenario.toml", TIMING_FILE]
    for name, rec in sorted(mission.recorders.items()):
        write_csv(rec_dir / f"{name}.csv", rec.fields, rec.rows)
        files.append(f"recordings/{name}.csv")
    if rows:
        write_csv(rec_dir / "observations.csv", list(rows[0]), (r.values() for r in rows))
    else:
        write_csv(rec_dir / "observations.csv", ["obs_id"], [])
    files.append("recordings/observations.csv")
    events = mission.bus.history("event")
    write_csv(rec_dir / "events.csv", ["t_s", "source", "severity", "text"],
              ((e.t_ns / NS_PER_S, e.source, e.severity, e.text) for e in events))  # fmt: skip
    files.append("recordings/events.csv")
    if plots:
        for p in write_plots(mission, rows, report, out_dir / "plots"):
            files.append(f"plots/{p.name}")
    # hook for richer flight software (e.g. a telemetry archive): its own files and report
    if getattr(mission, "packet_link", False):
        files += write_telemetry(mission, out_dir)
    onboard = mission.extra["onboard"]
    if hasattr(onboard, "write_outputs"):
        files += list(onboard.write_outputs(out_dir))
    if hasattr(onboard, "report"):
        report["onboard"]["details"] = onboard.report()
    (out_dir / "scenario.toml").write_text(mission.scenario.text, encoding="utf-8")
    report["files"] = sorted(files)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / TIMING_FILE).write_text(json.dumps(timing(mission), indent=1) + "\n", encoding="utf-8")
    return report
