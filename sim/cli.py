"""`assay run` and `assay scenarios`.

    assay run [SCENARIO] [--seed N] [--out DIR] [--duration 6h] [--speed X] [--quiet]
              [--set instrument.noise=false ...] [--no-plots]
              [--board PORT [--board-fallback unclassified|host] [--board-format int16|float32]
               [--board-mpy] [--board-retries N] [--board-ber RATE]]
    assay scenarios [--keys]

SCENARIO is a shipped name (`assay scenarios` lists them) or a path to a .toml file.
Outputs go to `runs/<scenario>-<seed>/` unless `--out` says otherwise. Heavy imports (numba,
matplotlib, the serial stack) happen inside the commands so that `assay --help` stays instant.

Processor in the loop (`--board PORT`, `hil.pil.BoardInTheLoop`): the flight software sends
every observation to a MicroPython board (flashed with the harness if its files differ) and
uses the board's answer; the host's answer is kept beside it. The run directory then has a
`board` section in report.json (board identity, spectra sent/answered/failed, every
disagreement with both answers), `recordings/board.csv` (every spectrum, both answers) and
the line-dependent counters and latency under `board` in timing.json. Exit status: 0, 2 when
the board cannot be reached (nothing flown), 3 when the mission flew but the board left
observations unanswered (they are unclassified, or carry the host's answer with
`--board-fallback host`; never a guess).
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from pathlib import Path

FALLBACKS = ("unclassified", "host")  # hil.pil.FALLBACKS (the serial stack loads on use only)
BOARD_FAILED_EXIT = 3


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
    b = p.add_argument_group("processor in the loop", "classify every observation on a MicroPython "
                             "board over serial (see `assay hil`); the host's answer is kept beside it")  # fmt: skip
    b.add_argument("--board", metavar="PORT", help="the board: a device (/dev/ttyACM0), a pyserial URL "
                   "(socket://host:port, rfc2217://…), vboard: (virtual board) or vboard:?baud=115200")  # fmt: skip
    b.add_argument("--board-fallback", choices=FALLBACKS, default="unclassified",
                   help="an observation the board did not answer: left unclassified (default), or "
                   "classified by the host and listed as a link failure")  # fmt: skip
    b.add_argument("--board-format", choices=("int16", "float32"), default="int16",
                   help="how spectra travel to the board (default int16, fixed point)")  # fmt: skip
    b.add_argument("--board-mpy", action="store_true", help="flash precompiled .mpy files (less RAM on the board)")
    b.add_argument("--board-retries", type=int, default=8, metavar="N",
                   help="resends of a request before it counts as unanswered (default 8)")
    b.add_argument("--board-ber", type=float, metavar="RATE",
                   help="inject bit errors at this rate on the line (tests the link handling; seeded by --seed)")  # fmt: skip
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

    board = None
    try:
        overrides = parse_overrides(args.overrides)
        scenario = load_scenario(args.scenario, seed=args.seed, duration=args.duration, overrides=overrides)
        out = args.out or Path("runs") / f"{scenario.name}-{scenario.seed}"
        board = open_board(args, scenario.seed)
        return _fly(scenario, out, args, board)
    except (AssayError, SurfaceError, ValueError) as exc:
        print(f"assay run: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if board is not None:
            board.close()


def open_board(args, seed: int):
    """The `--board` classifier (None without it); an unreachable board is an AssayError
    that names the port and what to try."""
    from firmware.errors import AssayError

    if args.board is None:
        if args.board_ber is not None:
            raise ValueError("--board-ber needs --board PORT (the line to inject errors on)")
        return None
    if args.board_ber is not None and not 0.0 <= args.board_ber < 0.5:
        raise ValueError(f"--board-ber {args.board_ber}: a bit-error rate is in [0, 0.5)")
    if not 0 <= args.board_retries <= 100:
        raise ValueError(f"--board-retries {args.board_retries}: give 0–100 resends")
    from hil.faults import FaultPlan
    from hil.pil import BoardInTheLoop

    faults = FaultPlan(ber=args.board_ber, seed=seed) if args.board_ber else None
    try:
        return BoardInTheLoop(args.board, fallback=args.board_fallback, faults=faults,
                              mpy=args.board_mpy, fmt=args.board_format, retries=args.board_retries)  # fmt: skip
    except (AssayError, OSError, RuntimeError) as exc:
        raise AssayError(
            f"--board {args.board}: cannot reach the board: {exc}\n  try: `assay hil ports` "
            f"(list ports), `assay hil check --port {args.board}` (flash and test the board), "
            "--board-mpy (a board short of RAM), or --board vboard: (the virtual board)"
        ) from exc


def _fly(scenario, out: Path, args, board=None) -> int:
    from sim.mission import run_mission
    from sim.outputs import TIMING_FILE, write_run

    show_bar = not args.quiet and sys.stdout.isatty()
    if not args.quiet and not show_bar:
        via = f" · classifying on the board at {args.board}" if board is not None else ""
        print(f"assay run: {scenario.name} (seed {scenario.seed}) → {out}{via}", flush=True)
    if show_bar:
        mission, wall = _with_progress(scenario, args.speed, board)
    else:
        t0 = time.perf_counter()
        mission = run_mission(scenario, speed=args.speed, classifier=board)
        wall = time.perf_counter() - t0
    report = write_run(mission, out, plots=not args.no_plots)
    section, link = write_board(out, report, board) if board is not None else (None, None)
    if not args.quiet:
        _summary(report, mission, out, wall, TIMING_FILE)
    if section is None:
        return 0
    if not args.quiet:
        print(board_line(section, link))
    if section["failed"]:
        used = "classified by the host" if section["fallback"] == "host" else "left unclassified"
        lost = f"; the board was lost: {section['lost']['why']}" if section["lost"] else ""
        print(f"assay run: {section['failed']} of {section['spectra']} observations were not answered "
              f"by the board ({used}{lost}); see report.json board.failures", file=sys.stderr)  # fmt: skip
        return BOARD_FAILED_EXIT
    return 0


def write_board(out: Path, report: dict, board) -> tuple[dict, dict]:
    """Add the board's part to a written run: the `board` section of report.json (after
    `onboard`), recordings/board.csv (every spectrum, both answers) and the line-dependent
    counters and latency under `board` in timing.json (the one file allowed to vary).
    Returns (that section, that timing entry)."""
    from hil.pil import ROW_KEYS
    from sim.outputs import TIMING_FILE, write_csv

    write_csv(out / "recordings" / "board.csv", list(ROW_KEYS), (r.values() for r in board.rows()))
    section = {**board.report(), "table": "recordings/board.csv",
               "link": "line- and clock-dependent: see timing.json (board)"}  # fmt: skip
    ordered: dict = {}
    for key, value in report.items():
        ordered[key] = value
        if key == "onboard":
            ordered["board"] = section
    ordered.setdefault("board", section)
    ordered["files"] = sorted({*report.get("files", []), "recordings/board.csv"})
    report.clear()
    report.update(ordered)
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    timing = json.loads((out / TIMING_FILE).read_text(encoding="utf-8"))
    timing["board"] = link = board.link_report()
    (out / TIMING_FILE).write_text(json.dumps(timing, indent=1) + "\n", encoding="utf-8")
    return section, link


def board_line(section: dict, timing: dict) -> str:
    """One line: who answered, how many, how they compare, how the line behaved."""
    info, link, lat = section["info"], timing["link"], timing["latency"]
    model = "model = host's" if section["model_matches_host"] else "MODEL DIFFERS FROM THE HOST'S"
    per = lat.get("per_spectrum_ms", {}).get("median")
    disagree = f"{section['disagree']} disagreement(s)" + (" (report.json: board.disagreements)" if section["disagree"] else "")
    return (f"board {section['port']} ({info.get('implementation')} {info.get('version')} on {info.get('platform')}, "
            f"harness {info.get('firmware')}, {model}): {section['spectra']} spectra, {section['answered']} answered, "
            f"{section['failed']} failed · {disagree} · link: {link['retries']} retries, {link['crc_errors']} CRC "
            f"errors, {link['naks']} NAKs, {link['resyncs']} resyncs, {link['resets']} resets, {link['timeouts']} "
            f"timeouts · latency {'—' if per is None else f'{per:.2f} ms'}/spectrum (median)")  # fmt: skip


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


def _with_progress(scenario, speed, board=None):
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

        mission = run_mission(scenario, speed=speed, progress=progress, classifier=board)
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
