"""`assay hil …`: list ports, flash the harness, check a board, benchmark the link, run a vboard.

    assay hil ports                          serial ports (MicroPython boards marked) and
                                             the virtual targets available here
    assay hil flash --port P [--mpy] [--force] [--autostart]
    assay hil check --port P [--mpy] [--fmt int16|float32] [--spectra DIR] [--limit N] [--json F]
                                             flash, start, INFO, parity on the developer
                                             VIS-NIR spectra; exit 1 below 99 % or on link loss
    assay hil bench --port P                 throughput of large frames, round-trip latency
    assay hil soak --port P [--ber 1e-3] [--drop p] [--insert p] [--burst p] [--requests N]
                                             ECHOs through injected faults; exit 1 on any
                                             undetected corruption
    assay hil vboard [--fs DIR] [--link PATH] [--heap 192K] [--baud 115200]
                                             a virtual board for mpremote / a terminal

Heavy imports happen inside the handlers: `assay classify` never loads the serial stack.
"""

from __future__ import annotations

import argparse
import json
import sys

# USB vendor IDs of boards that run MicroPython (pyserial reports them on real ports)
KNOWN_VIDS = {
    0x2E8A: "Raspberry Pi (RP2040/RP2350)", 0x303A: "Espressif (native USB)",
    0x10C4: "Silicon Labs CP210x (ESP32 boards)", 0x1A86: "WCH CH340 (ESP32 boards)",
    0x0403: "FTDI", 0x0D28: "ARM DAPLink (BBC micro:bit)", 0xF055: "MicroPython (pyboard)",
}  # fmt: skip


def _port_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", default="vboard:",
                   help="device, pyserial URL, vboard: or qemu:microbit (default vboard:)")  # fmt: skip


def register(sub) -> None:
    hil = sub.add_parser("hil", help="hardware in the loop: MicroPython boards over serial",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    cmds = hil.add_subparsers(dest="hil_command", metavar="SUBCOMMAND")
    hil.set_defaults(func=lambda a: (hil.print_help(), 2)[1])

    p = cmds.add_parser("ports", help="list serial ports and virtual targets")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_ports)

    p = cmds.add_parser("flash", help="flash the harness (skips files whose sha256 matches)")
    _port_arg(p)
    p.add_argument("--mpy", action="store_true", help="precompile with mpy-cross (less RAM on the board)")
    p.add_argument("--force", action="store_true", help="write every file even if it matches")
    p.add_argument("--autostart", action="store_true", help="also write a main.py that serves at boot")
    p.set_defaults(func=cmd_flash)

    p = cmds.add_parser("check", help="flash, then run the parity suite and print a summary")
    _port_arg(p)
    p.add_argument("--mpy", action="store_true")
    p.add_argument("--fmt", choices=("int16", "float32"), default="int16")
    p.add_argument("--spectra", help="folder of raw spectra (default: the developer set)")
    p.add_argument("--limit", type=int, help="only the first N spectra")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    p.set_defaults(func=cmd_check)

    p = cmds.add_parser("bench", help="link throughput and latency")
    _port_arg(p)
    p.add_argument("--frame-bytes", type=int, default=2048)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = cmds.add_parser("soak", help="many ECHOs through injected line faults; counts wrong answers")
    _port_arg(p)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--ber", type=float, default=1e-3, help="bit-error rate (default 1e-3)")
    p.add_argument("--drop", type=float, default=0.0, help="per-byte drop probability")
    p.add_argument("--insert", type=float, default=0.0, help="per-byte insert probability")
    p.add_argument("--burst", type=float, default=0.0, help="garbage burst probability per chunk")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_soak)

    p = cmds.add_parser("vboard", help="run a virtual board until Ctrl-C (prints its port)")
    p.add_argument("--fs", help="host folder for the board's files (kept)")
    p.add_argument("--link", help="also expose the port under this path")
    p.add_argument("--heap", help="heap size, e.g. 192K")
    p.add_argument("--baud", type=int, help="throttle to this UART speed")
    p.add_argument("--lfs2", type=int, metavar="BYTES", help="littlefs2 image of this size")
    p.set_defaults(func=cmd_vboard)


def _fail(msg: str) -> int:
    print(f"assay hil: {msg}", file=sys.stderr)
    return 1


def cmd_ports(args) -> int:
    from serial.tools import list_ports

    from hil.qemu import missing as qemu_missing
    from hil.vboard import available as vboard_missing

    rows = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        board = KNOWN_VIDS.get(p.vid) if p.vid is not None else None
        rows.append({"port": p.device, "description": p.description, "hwid": p.hwid,
                     "vid": p.vid, "pid": p.pid, "serial_number": p.serial_number,
                     "likely_board": board})  # fmt: skip
    virtual = [{"port": "vboard:", "available": vboard_missing() is None, "note": vboard_missing() or "MicroPython Unix port"},
               {"port": "qemu:microbit", "available": qemu_missing() is None, "note": qemu_missing() or "QEMU micro:bit"}]  # fmt: skip
    if args.json:
        print(json.dumps({"serial": rows, "virtual": virtual}, indent=2))
        return 0
    print("serial ports:" if rows else "serial ports: none found")
    for r in rows:
        mark = f"  [{r['likely_board']}]" if r["likely_board"] else ""
        print(f"  {r['port']:<24} {r['description']}  {r['hwid']}{mark}")
    print("virtual targets:")
    for v in virtual:
        print(f"  {v['port']:<24} {'available' if v['available'] else 'unavailable'}: {v['note']}")
    return 0


def cmd_flash(args) -> int:
    from firmware.errors import AssayError
    from hil.dut import Dut
    from hil.transport import open_transport

    try:
        with open_transport(args.port) as t:
            report = Dut(t).flash(mpy=args.mpy, force=args.force, autostart=args.autostart)
            for a in report.actions:
                print(f"  {a.action:<8} {a.name:<22} {a.size:>7} B  {a.sha256 or ''}")
            print(report.summary())
            if t.virtual:
                print("(a spawned board: its files vanish when this command ends)")
    except AssayError as exc:
        return _fail(str(exc))
    return 0


def cmd_check(args) -> int:
    from firmware.errors import AssayError
    from hil.dut import BoardClassifier
    from hil.parity import compare, grid_inputs, visnir_files
    from hil.transport import parse_port

    try:
        parse_port(args.port)  # a bad port string fails before the spectra are read
        files = visnir_files(args.spectra, args.limit)
        r41, detected, names = grid_inputs(files)
        with BoardClassifier(args.port, mpy=args.mpy, fmt=args.fmt) as bc:
            print(bc.flash_report.summary())
            info = bc.info
            print(f"board: {info['platform']} MicroPython {info.get('version')}, harness {info['firmware']}, "
                  f"free heap {info.get('mem_free')} B, model {info['model_sha'][:12]}")  # fmt: skip
            out = bc.classify(r41, detected)
    except (AssayError, FileNotFoundError) as exc:
        return _fail(str(exc))
    report = compare(r41, detected, names, out)
    print(report.summary())
    for d in report.disagreements:
        print("  " + d.line())
    s = report.link
    print(f"link: {s['requests']} requests, {s['answered']} answered, {s['failed']} failed, "
          f"{s['retries']} retries, {s['naks']} NAKs, {s['bad_frames']} bad frames, {s['resets']} resets")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report.to_dict(), fh, indent=2)
    return 0 if report.passed else 1


def cmd_bench(args) -> int:
    from firmware.errors import AssayError
    from hil import bench
    from hil.dut import Dut
    from hil.transport import open_transport

    try:
        with open_transport(args.port) as t:
            d = Dut(t)
            d.flash()
            d.start()
            from hil.parity import grid_inputs, visnir_files

            r41, det, _ = grid_inputs(visnir_files(limit=96))
            out = {"port": t.description, "baud": t.baud if t.line_limited else None,
                   "throughput": bench.throughput(d, args.frame_bytes, args.frames),
                   "latency": bench.latency(d), "classify": bench.classify_rate(d, r41, det)}  # fmt: skip
            d.stop()
    except AssayError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    tp, lat, cl = out["throughput"], out["latency"], out["classify"]
    print(out["port"])
    rate = (f"{100 * tp['fraction_of_line_rate']:.1f} % of the {out['baud']}-baud line rate"
            if out["baud"] else "no line rate: an unthrottled pty")  # fmt: skip
    print(f"throughput: {tp['frames']} × {tp['frame_bytes']} B echoed ({tp['echoed_ok']} ok) in "
          f"{tp['seconds']:.2f} s = {tp['payload_bytes_per_s']:.0f} B/s per direction = {rate} "
          f"(framing efficiency {100 * tp['framing_efficiency']:.1f} %)")  # fmt: skip
    print(f"classify: {cl['spectra']} spectra in BATCH requests: {cl['spectra_per_s']:.0f} spectra/s")
    print(f"latency: PING median {lat['ping_median_ms']:.2f} ms (p95 {lat['ping_p95_ms']:.2f}), "
          f"CLASSIFY median {lat['classify_median_ms']:.2f} ms (p95 {lat['classify_p95_ms']:.2f})")  # fmt: skip
    return 0


def cmd_soak(args) -> int:
    from firmware.errors import AssayError
    from hil.dut import Dut
    from hil.faults import FaultPlan, soak
    from hil.transport import open_transport

    plan = FaultPlan(ber=args.ber, drop_rate=args.drop, insert_rate=args.insert,
                     burst_rate=args.burst, seed=args.seed)  # fmt: skip
    try:
        with open_transport(args.port) as t:
            d = Dut(t, retries=20)
            d.flash()
            d.start()
            out = soak(d, plan, args.requests)
            d.stop()
    except AssayError as exc:
        return _fail(str(exc))
    print(json.dumps(out, indent=2))
    return 0 if out["undetected_wrong"] == 0 else 1


def cmd_vboard(args) -> int:
    from hil.vboard import main

    argv = []
    for flag in ("fs", "link", "heap", "baud", "lfs2"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag}", str(value)]
    return main(argv)
