"""Print one summary table from a pytest-benchmark JSON (default .benchmarks/latest.json):
spectra/s per implementation, speed-up over numpy, fraction of the memory floor, peers, JIT
cost, peak memory and scaling exponents. `make bench` runs it after the suite."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numba
import numpy as np


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _fmt_rate(r: float) -> str:
    return f"{r / 1e6:.2f} M/s" if r >= 1e6 else f"{r / 1e3:.1f} k/s"


def summarise(path: Path) -> str:
    data = json.loads(path.read_text())
    rows = defaultdict(dict)  # (group, n) -> impl -> median s
    extra = {}
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        key = (b["group"], info.get("n_spectra"), info.get("n_bands"))
        # the floor is the best the machine can do: its fastest round; everything else: median
        stat = "min" if b["group"].startswith("floor") else "median"
        rows[key][info.get("impl", b["name"])] = b["stats"][stat]
        extra[(b["group"], info.get("impl"), info.get("n_spectra"), info.get("n_bands"))] = info
    out = [f"Machine: {_cpu()}, {os.cpu_count()} cores, numba {numba.__version__} "
           f"({numba.config.NUMBA_NUM_THREADS} threads), numpy {np.__version__}, "
           f"Python {platform.python_version()}", ""]  # fmt: skip
    # the floor at each N: the fastest way measured to read the input once
    floor = {n: min(impls.values()) for (g, n, _b), impls in rows.items() if g.startswith("floor")}
    out.append("| stage | N | impl | spectra/s | × numpy | × numba-1t | % of read floor |")
    out.append("|---|---:|---|---:|---:|---:|---:|")
    for (group, n, _nb), impls in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if group.startswith(("floor", "peers", "jit", "memory", "scaling", "cube")):
            continue
        for impl in ("numpy", "numba-1t", "numba"):
            if impl not in impls:
                continue
            t = impls[impl]
            vs_np = f"{impls['numpy'] / t:.1f}" if "numpy" in impls else ""
            vs_1t = f"{impls['numba-1t'] / t:.2f}" if "numba-1t" in impls and impl == "numba" else ""
            fl = f"{floor[n] / t:.1%}" if n in floor else ""
            out.append(f"| {group} | {n:,} | {impl} | {_fmt_rate(n / t)} | {vs_np} | {vs_1t} | {fl} |")
    out += ["", "| reference | N | spectra/s | our full pipeline ÷ this |", "|---|---:|---:|---:|"]
    pipe = {n: impls.get("numba") for (g, n, _b), impls in rows.items() if g.startswith("bus-demeo")}
    for (group, n, _nb), impls in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if not group.startswith(("floor", "peers")):
            continue
        for impl, t in sorted(impls.items()):
            ours = pipe.get(n)
            ratio = f"{t / ours:.2f}" if ours else ""  # >1: our whole pipeline is faster
            label = impl if not group.startswith("floor") else f"{impl} (memory floor)"
            out.append(f"| {label} | {n:,} | {_fmt_rate(n / t)} | {ratio} |")
    out.append("")
    pipe_n = sorted(n for n, t in pipe.items() if t and n and n >= 1e4)
    if len(pipe_n) >= 2:
        k = np.polyfit(np.log([n for n in pipe_n]), np.log([pipe[n] for n in pipe_n]), 1)[0]
        out.append(f"Scaling with N (numba, N ≥ 10^4): time ∝ N^{k:.2f}")
    bands = sorted((nb, impls["numba"]) for (g, _n, nb), impls in rows.items() if g.startswith("scaling"))
    if len(bands) >= 2:
        k = np.polyfit(np.log([b for b, _ in bands]), np.log([t for _, t in bands]), 1)[0]
        out.append(f"Scaling with bands (N = 10^4, {bands[0][0]}–{bands[-1][0]} bands): time ∝ B^{k:.2f}")
    for (g, _impl, n, _nb), info in extra.items():
        if g.startswith("jit"):
            out.append(f"JIT, first call (N={n}) in a fresh process: empty cache "
                       f"{info['cold_first_call_s']:.2f} s, warm cache {info['warm_first_call_s']:.3f} s "
                       f"(+ import {info['warm_import_s']:.2f} s)")  # fmt: skip
        if g.startswith("memory"):
            out.append(f"Peak memory of classify_batch (N={n:,}, float32 × {_nb}): "
                       f"{info['peak_extra_bytes'] / 1e6:.0f} MB extra = {info['peak_ratio']:.2f} × the input "
                       f"({info['input_bytes'] / 1e6:.0f} MB)")  # fmt: skip
        if g.startswith("cube"):
            t = rows[(g, n, _nb)]["numba"]
            out.append(f"Image cube {info['cube']} (BIP) classified per pixel: {t:.2f} s = {_fmt_rate(n / t)}")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(".benchmarks/latest.json")
    if not path.exists():
        print(f"{path}: no benchmark results; run `make bench` first", file=sys.stderr)
        return 1
    print(summarise(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
