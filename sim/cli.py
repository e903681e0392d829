"""`assay run` and `assay scenarios`.

    assay run [SCENARIO] [--seed N] [--out DIR] [--duration 6h] [--speed X] [--quiet]
              [--set instrument.noise=false ...] [--no-plots]
    assay scenarios [--keys]

SCENARIO is a shipped name (`assay scenarios` lists them) or a path to a .toml file.
Outputs go to `runs/<scenario>-<seed>/` unless `--out` says otherwise. Heavy imports (numba,
matplotlib) happen inside the commands so that `assay --help` stays instant.
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("run", help="fly a simulated prospecting mission and write its report",
                       description="Fly a simulated CubeSat mission at an asteroid: orbit, "
                       "illumination, spectrometer, power, storage, ground passes and faults, "
                       "with the onboard spectral core classifying every observation.")  # fmt: skip
    p.add_argument("scenario", nargs="?", default="default", help="shipped scenario name or .toml path (default: default)")
    p.add_argument("--seed", type=int, help="master seed (default: the scenario's)")
    p.add_argument("--out", type=Path, help="output directory (default: runs/<scenario>-<seed>/)")
    p.add_argument("--duration", help="simulated time, e.g. '6 h', '2 d', '3600' (s)")
    p.add_argument("--speed", type=float, help="pace simulated time at X × wall time (1 = real time); default: as fast as possible")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. --set instrument.noise=false (TOML value)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary (for scripts)")
    p.set_defaults(func=cmd_run)
    s = sub.add_parser("scenarios", help="list the shipped mission scenarios")
    s.add_argument("--keys", action="store_true", help="print every scenario key with its default and meaning")
    s.set_defaults(func=cmd_scenarios)


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: write KEY=VALUE, e.g. --set instrument.noise=false")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string
        out[key.strip()] = value
    return out


def cmd_scenarios(args) -> int:
    from sim.scenario import list_scenarios

    if args.keys:
        from sim.scenario_keys import SCHEMA
        from sim.schema import describe

        for key, default, doc in describe(SCHEMA):
            print(f"{key:48s} {default:>14s}  {doc}")
        return 0
    rows = list_scenarios()
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        print(f"{r['name']:{width}s}  {r['duration']:>6s}  {r['description']}")
    return 0


def cmd_run(args) -> int:
    from firmware.errors import AssayError
    from sim.scenario import load_scenario
    from sim.target import SurfaceError

    try:
        overrides = parse_overrides(args.overrides)
        scenario = load_scenario(args.scenario, seed=args.seed, duration=args.duration, overrides=overrides)
        out = args.out or Path("runs") / f"{scenario.name}-{scenario.seed}"
        return _fly(scenario, out, args)
    except (AssayError, SurfaceError, ValueError) as exc:
        print(f"assay run: error: {exc}", file=sys.stderr)
        return 2


def _fly(scenario, out: Path, args) -> int:
    from sim.mission import run_mission
    from sim.outputs import TIMING_FILE, write_run

    show_bar = not args.quiet and sys.stdout.isatty()
    if not args.quiet and not show_bar:
        print(f"assay run: {scenario.name} (seed {scenario.seed}) → {out}", flush=True)
    if show_bar:
        mission, wall = _with_progress(scenario, args.speed)
    else:
        t0 = time.perf_counter()
        mission = run_mission(scenario, speed=args.speed)
        wall = time.perf_counter() - t0
    report = write_run(mission, out, plots=not args.no_plots)
    if not args.quiet:
        _summary(report, mission, out, wall, TIMING_FILE)
    return 0


def _fsw_lines(report: dict, out: Path) -> list[str]:
    f = report["fsw"]
    tel, sci, cmd = f["telemetry"], f["science"], f["commands"]
    per = tel["per_apid"]
    gen = sum(a["generated"] for a in per.values())
    ground = sum(a["on_ground"] for a in per.values())
    lost = sum(a["lost"] for a in per.values())
    faults = [x for x in report["faults"] if "detected" in x]
    detected = sum(x["detected"] is not None for x in faults)
    recovered = sum(x.get("recovered") is not None for x in faults)
    lines = [
        f"flight software: {f['boots']} boot(s), {f['modes']['changes']} mode changes, ends in "
        f"{f['modes']['final']} · commands: {cmd['on_board']['completed']} completed, "
        f"{cmd['on_board']['rejected']} rejected, {cmd['on_board']['failed']} failed",
        f"science: {sci['science_events']} science events, {sci['finds']} finds → {sci['reobs_requests']} "
        f"PROSPECT looks ({sci['confirmed']} confirmed), {sci['redundant_raw']} redundant spectra kept off the link",
        f"telemetry: {gen} packets generated, {ground} on the ground, {gen - ground - lost} still on board, "
        f"{lost} lost · {tel['retransmitted_packets']} retransmitted · {out / 'telemetry.bin'}",
    ]
    if faults:
        lines.append(f"faults: {len(faults)} injected, {detected} detected, {recovered} recovered (report.json: faults)")
    ret = f["science_return"]
    a = ret["autonomy"]
    if "factor" in ret:
        b = ret["send_everything"]
        times = "—" if ret["factor"] is None else f"×{ret['factor']:.1f}"
        lines.append(f"science events per MB downlinked: autonomy {a['events_per_mb']:,.0f} vs send-everything "
                     f"{b['events_per_mb']:,.0f} → {times}")
    else:
        lines.append(f"science events per MB downlinked: {a['events_per_mb']:,.0f} "
                     f"({a['science_events_on_ground']} events known on the ground)")
    return lines


def _with_progress(scenario, speed):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.mission import run_mission
    from sim.timebase import fmt_duration

    total = scenario.duration_ns
    t0 = time.perf_counter()
    state = {"last": 0.0}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[sim]}"),
               TextColumn("×{task.fields[speed]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(f"{scenario.name} seed {scenario.seed}", total=total, sim="", speed="—")

        def progress(t_ns: int) -> None:
            now = time.perf_counter()
            if now - state["last"] < 0.1 and t_ns < total:
                return
            state["last"] = now
            rate = (t_ns / 1e9) / max(now - t0, 1e-9)
            bar.update(task, completed=t_ns, sim=f"{fmt_duration(t_ns)} / {fmt_duration(total)}", speed=f"{rate:,.0f}")

        mission = run_mission(scenario, speed=speed, progress=progress)
        progress(total)
    return mission, time.perf_counter() - t0


def _summary(report: dict, mission, out: Path, wall_s: float, timing_file: str) -> None:
    acc = report["accuracy"]["overall"]
    obs = report["observations"]
    en, dl, pr = report["energy"], report["downlink"], report["prospecting"]
    sim_s = report["simulation"]["duration_s"]

    def pct(x):
        return "—" if x is None else f"{x:.1%}"

    lines = [
        f"scenario {report['scenario']['name']} · seed {report['seed']} · {sim_s / 3600:.1f} h simulated in "
        f"{mission.wall_s:.2f} s (×{sim_s / max(mission.wall_s, 1e-9):,.0f} real time; {timing_file})",
        f"observations {obs['taken']} · classified {obs['classified']} · lost {obs['lost_before_classification']}",
        f"accuracy vs surface truth: class {pct(acc['exact'])} · complex {pct(acc['complex'])}",
        f"finds: water {pr['water']['flagged']} flagged (precision {pct(pr['water']['precision'])}, recall "
        f"{pct(pr['water']['recall'])}) · metal {pr['metal']['flagged']} flagged (precision "
        f"{pct(pr['metal']['precision'])}, recall {pct(pr['metal']['recall'])})",
        f"battery: min {en['soc_min']:.0%}, end {en['soc_final']:.0%} · unserved {en['unserved_wh']:.2f} Wh",
        f"downlink: {dl['bytes_sent']:,} B sent ({pct(dl['sent_over_raw'])} of all raw spectra), "
        f"{dl['bytes_received_on_ground']:,} B on the ground",
        f"report: {out / 'report.json'}",
    ]  # fmt: skip
    if "fsw" in report:
        lines[-1:-1] = _fsw_lines(report, out)
    if not obs["taken"]:
        modes = ", ".join(f"{k} {v / 3600:.1f} h" for k, v in obs["time_in_mode_s"].items())
        lines.insert(2, "no observation was made: the footprint was never lit within "
                        f"instrument.max_incidence_deg while surveying (time in mode: {modes})")
    print("\n".join(lines))
