"""Print one summary table from pytest-benchmark JSON files (default .benchmarks/latest.json).

Every stage group with spectra/s per implementation (numpy twin, numba on one thread, numba
on all threads), the speed-up over numpy, the 2-thread scaling, the ratio to the memory floor
(reading the input once, measured in the same run); then the issue-5 targets with the value
reached, the peers, the JIT cost and warm start, the peak memory, the scaling exponents and
the image cube. `make bench` runs it after the suite. Medians everywhere, except the floor:
its fastest round (the best the machine did).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numba
import numpy as np

from benchmarks.conftest import STEAL_MARK_SHARE, SYS_MARK_SHARE

SKIP = ("floor", "peers", "jit", "memory", "scaling", "cube")
SURVEY, STAGE, BDM = "survey:", "bus-demeo stage:", "bus-demeo:"
# the same pipelines writing into the previous call's arrays (`out=`): group "<pipeline> +
# REUSED ...", whose numpy twin is the one of group "<pipeline>: ..." (`_twin_group`)
REUSED = ", outputs reused"
SURVEY_OUT, STAGE_OUT = SURVEY[:-1] + REUSED, STAGE[:-1] + REUSED


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _rate(r: float | None) -> str:
    if r is None:
        return "–"
    return f"{r / 1e6:.2f} M/s" if r >= 1e6 else f"{r / 1e3:.1f} k/s"


def _load(data: dict):
    """(times[(group, n)][impl] = seconds, extra[(group, impl, n)] = extra_info)."""
    times, extra = defaultdict(dict), {}
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        n = info.get("n_spectra")
        stat = "min" if b["group"].startswith("floor") else "median"
        key = (b["group"], n) if not b["group"].startswith("scaling") else (b["group"], info.get("n_bands"))
        times[key][info.get("impl", b["name"])] = b["stats"][stat]
        extra[(b["group"], info.get("impl"), n)] = info
    return times, extra


def _twin_group(times, group):
    """The group holding `group`'s numpy twin: itself, or for an 'outputs reused' group the
    group of the same pipeline ('survey, outputs reused …' → 'survey: …')."""
    if REUSED not in group:
        return group
    prefix = group.split(REUSED)[0] + ":"
    return next((g for g, _ in times if g.startswith(prefix)), group)


def _numpy_time(times, group, n):
    """numpy's time at n, or scaled from the largest n' < n it ran at (marked †)."""
    group = _twin_group(times, group)
    if "numpy" in times.get((group, n), {}):
        return times[(group, n)]["numpy"], ""
    below = [m for (g, m), impls in times.items() if g == group and "numpy" in impls and m and m < n]
    if not below:
        return None, ""
    m = max(below)
    return times[(group, m)]["numpy"] * n / m, "†"


def _merge(paths: list[Path]) -> tuple[dict, list[str]]:
    """One result set from several runs: a benchmark of a later file replaces the same
    benchmark (by name) of an earlier one (e.g. the core groups re-run on a quieter machine)."""
    by_name, loads = {}, []
    for path in paths:
        data = json.loads(path.read_text())
        for b in data["benchmarks"]:
            by_name[b["fullname"]] = b
        load = data.get("machine_info", {}).get("assay_loadavg")
        if load:
            loads.append(f"{path.name}: {load}")
    return {"benchmarks": list(by_name.values())}, loads


def summarise(paths: list[Path] | Path) -> str:
    data, loads = _merge([paths] if isinstance(paths, Path) else list(paths))
    times, extra = _load(data)
    out = [f"Machine: {_cpu()}, {os.cpu_count()} cores, numba {numba.__version__} "
           f"({numba.config.NUMBA_NUM_THREADS} threads), numpy {np.__version__}, "
           f"Python {platform.python_version()}"]  # fmt: skip
    if loads:
        out.append("Load average (1 min) at start / end of each run: " + "; ".join(loads))
    floor = {n: min(impls.values()) for (g, n), impls in times.items() if g.startswith("floor")}
    out += ["", "| stage | N | numpy | numba 1 thread | numba all threads | × numpy | 2 threads ÷ 1 | × read floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (group, n), impls in sorted(times.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if group.startswith(SKIP) or not n:
            continue
        t_np, mark = _numpy_time(times, group, n)
        t1, t2 = impls.get("numba-1t"), impls.get("numba")
        best = t2 or t1
        vs_np = f"{t_np / best:.1f}{mark}" if t_np and best else ""
        scal = f"{t1 / t2:.2f}" if t1 and t2 else ""
        fl = f"{best / floor[n]:.1f}" if best and n in floor else ""
        s1, s2 = _disturbance_mark(extra, group, "numba-1t", n), _disturbance_mark(extra, group, "numba", n)
        out.append(f"| {group} | {n:,} | {_rate(n / t_np if t_np else None)}{mark} | "
                   f"{_rate(n / t1 if t1 else None)}{s1} | {_rate(n / t2 if t2 else None)}{s2} | "
                   f"{vs_np} | {scal} | {fl} |")  # fmt: skip
    out += ["", "† numpy not run at this N (too slow): its time per spectrum at the largest N it "
            "ran at. × read floor: time ÷ the time to read the input once (same run).",
            f"‡ timed while the hypervisor took ≥ {STEAL_MARK_SHARE:.0%} of the machine's CPU "
            f"(steal time, /proc/stat), § while the calls spent ≥ {SYS_MARK_SHARE:.0%} of it in "
            "the kernel (system time: fresh pages the host was slow to supply); the share "
            "follows. Such a time is inflated: re-run that benchmark alone "
            "(`pytest benchmarks/ -k ...`).", ""]  # fmt: skip
    out += _targets(times, extra, floor)
    out += _peers(times)
    out += _system(times, extra)
    return "\n".join(out)


def _disturbance_mark(extra, group, impl, n) -> str:
    """' ‡ 12%' when the timed calls ran under steal, ' § 15%' when they spent that share in
    the kernel (fresh pages; see `conftest.run`); both can apply."""
    info = extra.get((group, impl, n), {})
    steal, sys_ = info.get("steal_share"), info.get("sys_share")
    mark = f" ‡ {steal:.0%}" if steal is not None and steal >= STEAL_MARK_SHARE else ""
    return mark + (f" § {sys_:.0%}" if sys_ is not None and sys_ >= SYS_MARK_SHARE else "")


def _largest(times, prefix, impl="numba"):
    ns = [n for (g, n), impls in times.items() if g.startswith(prefix) and impl in impls and n]
    if not ns:
        return None, None, None
    n = max(ns)
    group = next(g for (g, m) in times if g.startswith(prefix) and m == n)
    return group, n, times[(group, n)]


def _targets(times, extra, floor):
    out = ["| issue-5 target | measured | met |", "|---|---|:---:|"]
    for prefix, label in ((SURVEY, "Bus-DeMeo + bands (fused)"), (SURVEY_OUT, "… outputs reused (out=)")):
        group, n, impls = _largest(times, prefix)
        if not impls:
            continue
        rate = n / impls["numba"]
        out.append(f"| {label} ≥ 1 M spectra/s, all threads | {_rate(rate)} at N={n:,}"
                   f"{_disturbance_mark(extra, group, 'numba', n)} | {'yes' if rate >= 1e6 else 'no'} |")  # fmt: skip
        t_np, mark = _numpy_time(times, group, n)
        if t_np:
            r = t_np / impls["numba"]
            out.append(f"| … and ≥ 40 × its numpy twin | {r:.1f}×{mark} | {'yes' if r >= 40 else 'no'} |")
    for prefix, label in ((STAGE, "Bus-DeMeo stage (classes only)"), (STAGE_OUT, "… outputs reused (out=)"),
                          (BDM, "Bus-DeMeo full report")):  # fmt: skip
        group, n, impls = _largest(times, prefix)
        if impls and n in floor:
            r = impls["numba"] / floor[n]
            out.append(f"| {label} within 5 × the memory floor | {r:.1f} × (floor {_rate(n / floor[n])}, "
                       f"N={n:,}) | {'yes' if r <= 5 else 'no'} |")  # fmt: skip
    for prefix in (SURVEY, STAGE):
        group, n, impls = _largest(times, prefix)
        if impls and "numba-1t" in impls:
            r = impls["numba-1t"] / impls["numba"]
            out.append(f"| {prefix[:-1]}: all threads ≥ 1.7 × one thread at N = 10^6 | {r:.2f} × at "
                       f"N={n:,} | {'yes' if r >= 1.7 and n >= 1e6 else ('no' if n >= 1e6 else 'N < 10^6')} |")  # fmt: skip
    for (g, impl, n), info in sorted(extra.items(), key=lambda kv: str(kv[0])):
        if g.startswith("memory"):
            r = info["peak_extra_bytes"] / info["input_bytes"]
            out.append(f"| {impl}: peak memory ≤ 2 × the input | {r:.2f} × extra over the input "
                       f"(N={n:,}) | {'yes' if r <= 2 else 'no'} |")  # fmt: skip
        if g.startswith("jit"):
            t = info.get("warm_total_s", info.get("warm_first_call_s"))
            out.append(f"| {impl}: warm start < 1 s (import + first call, cache populated) | {t:.2f} s | "
                       f"{'yes' if t < 1 else 'no'} |")  # fmt: skip
    return out + [""]


def _peers(times):
    out = ["| peer (classify only, input pre-normalised) | N | spectra/s | our stage ÷ peer time | "
           "our survey ÷ peer time |", "|---|---:|---:|---:|---:|"]  # fmt: skip
    stage = {n: i.get("numba") for (g, n), i in times.items() if g.startswith(STAGE)}
    survey = {n: i.get("numba") for (g, n), i in times.items() if g.startswith(SURVEY)}
    rows = 0
    for (group, n), impls in sorted(times.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if not group.startswith("peers"):
            continue
        for impl, t in sorted(impls.items()):
            a = f"{stage[n] / t:.2f}" if stage.get(n) else ""
            b = f"{survey[n] / t:.2f}" if survey.get(n) else ""
            out.append(f"| {impl} | {n:,} | {_rate(n / t)} | {a} | {b} |")
            rows += 1
    if not rows:
        out.append("| (no peers installed: pip install -e '.[bench]') | | | | |")
    return out + ["(< 1: we are faster, doing the whole pipeline)", ""]


def _exponent(xs, ts):
    return np.polyfit(np.log(xs), np.log(ts), 1)[0] if len(xs) >= 2 else None


def _system(times, extra):
    out = []
    for prefix in (SURVEY, STAGE, BDM):
        pts = sorted((n, i["numba"]) for (g, n), i in times.items() if g.startswith(prefix) and n and n >= 1e4 and "numba" in i)
        k = _exponent([p[0] for p in pts], [p[1] for p in pts])
        if k is not None:
            out.append(f"Scaling with N ({prefix[:-1]}, numba, N ≥ 10^4): time ∝ N^{k:.2f}")
    bands = sorted((nb, i["numba"]) for (g, nb), i in times.items() if g.startswith("scaling"))
    k = _exponent([b for b, _ in bands], [t for _, t in bands])
    if k is not None:
        out.append(f"Scaling with bands (N = 10^4, {bands[0][0]}–{bands[-1][0]} bands): time ∝ B^{k:.2f}")
    for (g, impl, n), info in sorted(extra.items(), key=lambda kv: str(kv[0])):
        if g.startswith("jit"):
            out.append(f"JIT, {impl} on 1000 spectra in a fresh process: empty cache {info['cold_import_s']:.2f} s import + "
                       f"{info['cold_first_call_s']:.1f} s first call; warm cache {info['warm_import_s']:.2f} s + "
                       f"{info['warm_first_call_s']:.3f} s")  # fmt: skip
        if g.startswith("memory"):
            out.append(f"Peak memory of {impl} (N={n:,}, float32 × {info['n_bands']}): "
                       f"{info['peak_extra_bytes'] / 1e6:.0f} MB over the input ({info['input_bytes'] / 1e6:.0f} MB)")
        if g.startswith("cube"):
            t = times[(g, n)]["numba"]
            out.append(f"Image cube {info['cube']} (BIP) classified per pixel: {t:.2f} s = {_rate(n / t)}")
    return out


def main(argv: list[str]) -> int:
    """`python -m benchmarks.summary [run.json ...]`: later files override earlier ones."""
    paths = [Path(a) for a in argv] or [Path(".benchmarks/latest.json")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"{missing[0]}: no benchmark results; run `make bench` first", file=sys.stderr)
        return 1
    print(summarise(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
